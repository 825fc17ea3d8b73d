"""``--cutoff any|sound`` on a task without a step checker is refused before work (trial38 finding 3: ``--cutoff any``
on a dataset without ``step_checker`` pruned nothing without a word, and ``--cutoff sound``'s note, which recommends
``--cutoff any``, reached the screen but not log.txt)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from treecredit.sampling.cutoff import check_cutoff_task, cutoff_active
from treecredit.tasks.dataset import DatasetTask
from treecredit.training.loop import train
from treecredit.training.preflight import check_run

torch.set_num_threads(1)
TREE = {"sampler": "tree", "branching_options": {"children": 2, "depth": 3}}


@pytest.fixture
def sums(tmp_path, monkeypatch):
    """A 12-row dataset of worked sums, and a step checker module for it (``my_checks:check``)."""
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"question": f"{i}+1=", "answer": str(i + 1), "solution": f"{i}+1={i + 1}"})
                            + "\n" for i in range(12)))
    (tmp_path / "my_checks.py").write_text("def check(prompt, steps, **columns):\n    return [True for _ in steps]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(path)


def _dataset(tiny_config, sums, *, cutoff, **options):
    return tiny_config(dataset=sums, reward=["math"], cutoff=cutoff, task_options={
        "prompt_column": "question", "solution_column": "solution", **options}, **TREE)


@pytest.mark.parametrize("mode", ["any", "sound"])
def test_cutoff_without_a_step_checker_is_refused_before_work(tiny_config, sums, mode):
    config = _dataset(tiny_config, sums, cutoff=mode)
    with pytest.raises(ValueError, match=rf"^cutoff: --cutoff {mode} prunes .*has no step checker.*"
                                         r"Fix: add --task-option step_checker=module:function, or drop --cutoff"):
        train(config, log=lambda *a: None)
    assert not (Path(config.out) / "metrics.jsonl").exists()
    assert not Path(config.cache_dir).exists() or not any(Path(config.cache_dir).iterdir())  # no warm start ran


def test_cutoff_with_a_step_checker_is_accepted(tiny_config, sums):
    check_run(_dataset(tiny_config, sums, cutoff="any", step_checker="my_checks:check"))
    task = DatasetTask(path=sums, prompt_column="question", step_checker="my_checks:check")
    assert cutoff_active("any", task) and not cutoff_active("sound", task) and not cutoff_active("off", task)


def test_cutoff_is_inactive_without_a_step_checker(sums):
    task = DatasetTask(path=sums, prompt_column="question")
    assert not cutoff_active("any", task) and not cutoff_active("sound", task)
    other = SimpleNamespace(name="rg", has_step_checker=False)
    with pytest.raises(ValueError, match=r"task 'rg' judges final answers only.*Fix: drop --cutoff"):
        check_cutoff_task("any", other)
    check_cutoff_task("off", other)  # off: nothing to say


def test_builtin_tasks_with_a_step_checker_keep_cutoff(tiny_config):
    said = []
    check_run(tiny_config(cutoff="any", **TREE), log=said.append)  # arithmetic
    check_run(tiny_config(cutoff="sound", task="countdown", task_options={}, **TREE), log=said.append)
    assert said == []
    check_run(tiny_config(cutoff="sound", **TREE), log=said.append)  # arithmetic: a wrong step is not fatal
    assert len(said) == 1 and "prunes nothing on this task" in said[0]


def test_the_note_of_a_no_op_cutoff_reaches_log_txt(tiny_config, warm_start_cache):
    config = tiny_config(cutoff="sound", steps=1, eval_problems=4, prompts_per_step=2, group_size=8,
                         cache_dir=warm_start_cache, **TREE)
    shown = []
    train(config, log=shown.append)
    assert any("--cutoff sound prunes nothing" in str(line) for line in shown)
    assert "--cutoff sound prunes nothing" in (Path(config.out) / "log.txt").read_text()
