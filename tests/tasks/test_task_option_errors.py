"""``--task-option`` errors say whose option failed: the task, the dataset, or nobody where the task's message
names the file itself (a trial's held-out file fault was prefixed with the training file's name)."""

import json
import re

import pytest

from treecredit.training.config import TrainConfig

ROWS = [{"question": f"what is {i}+{i}?", "answer": str(2 * i)} for i in range(8)]


def _jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _refusal(tmp_path, **task_options) -> str:
    train = _jsonl(tmp_path / "train.jsonl", ROWS)
    with pytest.raises(ValueError) as refused:
        TrainConfig(dataset=train, task_options={"prompt_column": "question", **task_options}, out=str(tmp_path / "r"))
    return str(refused.value)


def test_a_held_out_file_fault_is_not_prefixed_with_the_training_file(tmp_path):
    held = _jsonl(tmp_path / "held.jsonl", [{"q": "1+1?", "answer": "2"}])
    message = _refusal(tmp_path, held_out_path=held)
    assert message.startswith(f"task_options: --task-option held_out_path={held!r}: held_out_path: held-out file "
                              f"{held!r} has no column 'question'")
    assert "train.jsonl" not in message
    blank = _jsonl(tmp_path / "blank.jsonl", [{"question": None, "answer": "2"}])
    assert re.match(rf"task_options: --task-option prompt_column='question': prompt_column: column 'question' is "
                    rf"null or empty in 1 of the 1 rows of held-out file {re.escape(repr(blank))}",
                    _refusal(tmp_path, held_out_path=blank))
    missing = str(tmp_path / "missing.jsonl")
    assert _refusal(tmp_path, held_out_path=missing).startswith(
        f"task_options: --task-option held_out_path={missing!r}: held_out_path: {missing!r} does not exist")


def test_a_dataset_fault_that_does_not_name_the_file_keeps_the_dataset_as_owner(tmp_path):
    train = str(tmp_path / "train.jsonl")
    assert _refusal(tmp_path, answer_column="nope").startswith(
        f"task_options: --task-option answer_column='nope' (dataset {train!r}): answer_column: column 'nope' is not "
        "in the dataset")


def test_a_task_fault_names_the_task():
    with pytest.raises(ValueError, match=r"^task_options: --task-option n_numbers=1 \(task 'countdown'\): n_numbers"):
        TrainConfig(task="countdown", task_options={"n_numbers": 1})


@pytest.mark.parametrize("held_out, k", [(0.99, 8), (0.9, 8), (8, 8), (12, 12)])
def test_a_held_out_that_leaves_no_training_rows_names_the_largest_count_and_fraction(tmp_path, held_out, k):
    """Was (trial 26): held_out=0.99 was told to pass "a fraction below 1", which it is."""
    message = _refusal(tmp_path, held_out=held_out)
    assert f"held_out: is {held_out}: {k} held-out of 8, leaving none to train on. Fix: pass a count of at most 7 " \
           "(held_out=7) or a fraction of at most 0.87 (held_out=0.87 holds out 7 of the 8); held_out=0.1 is usual." \
           in message, message
    assert "below 1" not in message


def test_the_largest_fraction_named_leaves_training_items():
    from treecredit.tasks.fixed import split_held_out

    for n in range(2, 300):  # the fraction named leaves training items, whatever the float product
        fraction = float(split_fix_fraction(n))
        held, train = split_held_out(list(range(n)), fraction, 0, 3)
        assert train and held


def split_fix_fraction(n: int) -> str:
    from treecredit.tasks.fixed import split_held_out

    try:
        split_held_out(list(range(n)), 1 - 1e-9, 0, 3)
    except ValueError as exc:
        return re.search(r"a fraction of at most ([0-9.]+) ", str(exc)).group(1)
    raise AssertionError("not refused")
