"""A dataset's held-out fraction rounded from the decimal as written (a last session's note: 0.07 of 100 rows held
out 8, since 0.07 × 100 = 7.000000000000001 in floating point; 0.14 of 50 held out 8), behind ``held_out_rule``
so that a run made before keeps its held-out rows when resumed: rule 2, the default, is the decimal as written;
rule 1, the float product, is the rule of the runs made before (tests/training/test_held_out_rule_resume.py)."""

import json

import numpy as np
import pytest

from treecredit.tasks import DatasetTask
from treecredit.tasks.fixed import held_out_count, split_held_out


def rows_file(tmp_path, n):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
                            for i in range(n)))
    return str(path)


@pytest.mark.parametrize("fraction, rows, exact, before", [
    (0.07, 100, 7, 8), (0.14, 50, 7, 8), (0.55, 100, 55, 56), (0.28, 200, 56, 57),  # products just above a whole
    (0.15, 20, 3, 3), (0.1, 30, 3, 3), (0.1, 10, 1, 1), (0.25, 10, 3, 3), (1 / 3, 3, 1, 1), (0.07, 10, 1, 1),
])
def test_a_fraction_is_rounded_from_the_decimal_as_written(fraction, rows, exact, before):
    items = list(range(rows))
    held, _ = split_held_out(items, held_out_count(fraction, rows, 2), 0, 3)
    old, _ = split_held_out(items, held_out_count(fraction, rows, 1), 0, 3)
    assert (len(held), len(old)) == (exact, before)
    assert set(held) <= set(old)  # the same draw: a count takes the first rows of the fraction's permutation


def test_counts_zero_and_bad_values_go_to_split_held_out_as_they_are():
    assert [held_out_count(v, 10, 2) for v in (0, 0.0, 3, 0.95, "abc")] == [0, 0.0, 3, 0.95, "abc"]
    with pytest.raises(ValueError, match=r"held_out: is 0\.95: 10 held-out of 10, leaving none to train on"):
        split_held_out(list(range(10)), held_out_count(0.95, 10, 2), 0, 3)  # its message names the fraction


def test_the_dataset_task_rounds_by_its_rule_and_a_run_made_before_keeps_its_rows(tmp_path):
    path = rows_file(tmp_path, 100)
    before = DatasetTask(path=path, held_out=0.07, held_out_rule=1)  # every run made before: rule 1
    exact = DatasetTask(path=path, held_out=0.07)  # the default: rule 2
    prompts = [p.prompt for p in before.held_out_problems(np.random.default_rng(0), 100)]
    assert len(prompts) == 8 and len(exact.held_out_problems(None, 100)) == 7
    assert {p.prompt for p in exact.held_out_problems(None, 100)} < set(prompts)
    assert len(exact.train_problems) == 93 and len(before.train_problems) == 92
    resumed = DatasetTask(path=path, held_out=0.07, held_out_rule=1)  # a resume builds the task again, rule 1
    assert [p.prompt for p in resumed.held_out_problems(None, 100)] == prompts


def test_the_rule_is_a_task_option_and_a_bad_one_is_refused_by_name(tmp_path):
    from treecredit.tasks import _build

    path = rows_file(tmp_path, 50)
    task = _build(DatasetTask, {"held_out": 0.14, "held_out_rule": 2}, path=path, rewards=["math"])
    assert len(task.held_out_problems(None, 100)) == 7
    with pytest.raises(ValueError, match=r"^held_out_rule: is 3, must be 1 or 2\. Fix: leave it out"):
        DatasetTask(path=path, held_out_rule=3)


def test_the_rule_is_in_the_warm_start_cache_key_only_where_it_moves_a_row(tmp_path):
    """Where both rules split alike (0.1 of 30: 3 rows) the key stays as it was, so cached warm starts are kept;
    where they do not (0.07 of 100: 7 or 8 rows) the training rows differ, and the held-out prompts in the key
    cover only the evaluated ones, so the rule is in the key."""
    path = rows_file(tmp_path, 30)
    assert "held_out_rule" not in DatasetTask(path=path).cache_identity()
    assert DatasetTask(path=path).cache_identity() == DatasetTask(path=path, held_out_rule=1).cache_identity()
    path = rows_file(tmp_path, 100)
    exact, before = DatasetTask(path=path, held_out=0.07), DatasetTask(path=path, held_out=0.07, held_out_rule=1)
    assert exact.cache_identity()["held_out_rule"] == 2 and "held_out_rule" not in before.cache_identity()


def test_a_numpy_fraction_is_rounded_as_the_float_it_holds_and_a_bad_one_is_refused_by_name(tmp_path):
    assert held_out_count(np.float64(0.07), 100, 2) == 7  # was: Invalid literal for Fraction: 'np.float64(0.07)'
    assert len(DatasetTask(path=rows_file(tmp_path, 100), held_out=np.float64(0.07)).held_out_problems(None, 100)) == 7
    for bad in (np.float64("nan"), float("inf"), "0.07", None):
        with pytest.raises(ValueError, match=r"^held_out: is "):
            DatasetTask(path=rows_file(tmp_path, 100), held_out=bad)


def test_numpy_counts_and_narrow_floats_are_taken(tmp_path):
    # was: np.int64(7) and np.float32(0.07) refused as "must be a number"
    assert held_out_count(np.float32(0.07), 100, 2) == 7  # its own decimal, not 0.07000000029802322
    path = rows_file(tmp_path, 100)
    for value in (np.int64(7), np.float32(0.07)):
        assert len(DatasetTask(path=path, held_out=value).held_out_problems(None, 100)) == 7


def test_a_bad_rule_gets_one_refusal_from_the_task_and_the_run_config(tmp_path):
    from treecredit.training.config import TrainConfig

    said = []
    for make in (lambda: held_out_count(0.1, 10, 3), lambda: TrainConfig(dataset=rows_file(tmp_path, 10),
                                                                          held_out_rule=3)):
        with pytest.raises(ValueError) as refused:
            make()
        said.append(str(refused.value))
    assert said[0] == said[1] and said[0].startswith("held_out_rule: is 3, must be 1 or 2. Fix: leave it out")
