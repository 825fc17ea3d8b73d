"""A dataset whose training rows all repeat held-out prompts is refused before any work, in a dataset's words;
the arithmetic task's fix (operands) never reaches a dataset user."""

import json

import numpy as np
import pytest

from treecredit.cli import main
from treecredit.tasks import DatasetTask, make_task, more_problems_fix
from treecredit.training.loop import draw_problems

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "8", "--steps", "1", "--no-tensorboard", "--no-progress"]


def _write(path, prompts):
    path.write_text("".join(json.dumps({"prompt": p, "answer": "2"}) + "\n" for p in prompts))
    return path


def test_training_rows_that_all_repeat_held_out_prompts_are_refused_before_the_run_folder(tmp_path, capsys,
                                                                                            monkeypatch):
    built = []
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: built.append(a) or 1 / 0)
    data = _write(tmp_path / "dup.jsonl", ["1+1="] * 20)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--dataset", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("held_out: every one of the 18 training rows repeats the prompt of a held-out problem the run evaluates "
            "(1 distinct held-out prompt; 1 in all)") in err
    assert "Fix: give the dataset more rows with distinct prompts" in err and "--task-option held_out" in err
    assert "operand" not in err
    assert built == [] and not out.exists()


def test_a_dataset_with_one_training_prompt_left_passes_the_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: 1 / 0)
    data = _write(tmp_path / "dup.jsonl", ["1+1="] * 19 + ["2+0="])
    held = _write(tmp_path / "held.jsonl", ["1+1="])
    with pytest.raises(ZeroDivisionError):  # past every check, at the model
        main(["train", *TINY, "--dataset", str(data), "--task-option", f"held_out_path={held}",
              "--out", str(tmp_path / "run")])
    # the rows training skips are said before the warm start (trial 22: they were dropped without a note)
    assert ("note: 19 of the 20 training rows repeat the prompt of a held-out problem and are never drawn for "
            "training (nor by the warm start)") in capsys.readouterr().out


def test_drawing_from_a_dataset_whose_rows_are_all_held_out_says_what_fits_a_dataset(tmp_path):
    task = DatasetTask(path=str(_write(tmp_path / "dup.jsonl", ["1+1="] * 20)), rewards=["exact"])
    with pytest.raises(ValueError, match=r"Fix: give the dataset more rows with distinct prompts") as caught:
        draw_problems(task, np.random.default_rng(0), 2, {"1+1="})
    assert "operand" not in str(caught.value)
    assert "operand" in more_problems_fix(make_task("arithmetic"))
