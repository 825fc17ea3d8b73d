"""A run that executes the model's programs (a ``code`` reward, HumanEval's own verifier) prints at its start which
sandbox layers this machine gives them (``treecredit.sandbox.describe_layers``); other runs print nothing of it."""

import json
from types import SimpleNamespace

import pytest

from treecredit.sandbox import describe_layers
from treecredit.training.config import TrainConfig
from treecredit.training.startup import sandbox_layers_line, start_run


def code_rows(tmp_path) -> str:
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"def add{i}(a, b):\n", "entry_point": f"add{i}",
                                        "test": "def check(f):\n    assert f(1, 2) == 3\n"}) + "\n" for i in range(4)))
    return str(path)


def started(config) -> list[str]:
    lines: list[str] = []
    start_run(config, resume=False, overwrite=False, log=lines.append)
    return lines


def test_a_code_reward_run_prints_the_sandbox_layers_at_its_start(tmp_path):
    config = TrainConfig(dataset=code_rows(tmp_path), reward=["code:workers=1@0.5"], out=str(tmp_path / "code"),
                         progress=False, tensorboard=False, warm_start_steps=0)  # rows without solutions
    lines = started(config)
    assert describe_layers() in lines and describe_layers().startswith("sandbox layers: OS limits")
    assert any(word in describe_layers() for word in ("seccomp", "namespaces"))


def test_a_run_that_runs_no_program_prints_no_sandbox_line(tmp_path):
    lines = started(TrainConfig(out=str(tmp_path / "arith"), progress=False, tensorboard=False))
    assert not any(line.startswith("sandbox layers") for line in lines)


@pytest.mark.parametrize("task, reward, shown", [
    ("humaneval", [], True), ("humaneval", ["task"], True), ("humaneval", ["math"], False),
    ("arithmetic", ["code"], True), ("arithmetic", ["math", "my_module:score"], False), ("countdown", [], False),
])
def test_which_runs_print_it(task, reward, shown):
    config = SimpleNamespace(task=task, reward=reward, dataset="", env="")
    assert sandbox_layers_line(config) == (describe_layers() if shown else "")
    assert sandbox_layers_line(SimpleNamespace(task=task, reward=reward, dataset="", env="gridworld")) == ""
