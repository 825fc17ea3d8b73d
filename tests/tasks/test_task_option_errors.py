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
