"""The pre-flight reward probe's warning about worked solutions that all score 0 under ``--reward code``
(:func:`treecredit.training.reward_probe.check_rewards`)."""

from __future__ import annotations

import json
import warnings

import pytest


def _rows(path, solution: bool) -> str:
    with open(path, "w") as f:
        for i in range(8):
            row = {"prompt": f"Write add{i}(a,b).", "test": f"assert add{i}(1,2)==3\n", "entry_point": f"add{i}"}
            if solution:
                row["solution"] = f"def add{i}(a, b):\n    return a - b\n"  # wrong: fails its test
            f.write(json.dumps(row) + "\n")
    return str(path)


def test_no_worked_solutions_means_no_warning_about_worked_solutions(tmp_path):
    # was: "every worked solution (2 probed) scores 0 under --reward code" although the dataset has no solution
    # column: the probe had scored empty completions, which fail every test
    from treecredit.tasks.dataset import DatasetTask
    from treecredit.training.reward_probe import check_rewards

    task = DatasetTask(path=_rows(tmp_path / "d.jsonl", solution=False), rewards=["code"], held_out=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check_rewards(task) == [0.0, 0.0]
    assert not [w for w in caught if "worked solution" in str(w.message)], [str(w.message) for w in caught]


def test_worked_solutions_that_all_fail_are_still_warned_about(tmp_path):
    from treecredit.tasks.dataset import DatasetTask
    from treecredit.training.reward_probe import check_rewards

    task = DatasetTask(path=_rows(tmp_path / "d.jsonl", solution=True), rewards=["code"], held_out=2,
                       solution_column="solution")
    with pytest.warns(UserWarning, match=r"every worked solution \(2 probed\) scores 0 under --reward code"):
        assert check_rewards(task) == [0.0, 0.0]
