"""An answer that is not one number (``(1, 2)``, ``\\sqrt{2}``) is not judged by ``numeric``: its row gets None
whatever the other rows of the call, with one note (a batch call raised for the whole batch, so one such row lost
every row's reward and each row was then logged apart), and a dataset with such answers is said once before any
work with their count and first row numbers (refused when none is one number)."""

import json
import logging

import pytest

from treecredit.rewards import RewardSet, numeric, numeric_reward


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch):
    monkeypatch.setattr(numeric, "_noted", [False])  # numeric's note: once per process
    monkeypatch.setattr(numeric, "_checked", set())
    monkeypatch.delenv(numeric._NOTED_ENV, raising=False)


def notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "treecredit.rewards"]


def test_a_batch_judges_the_rows_it_can_as_each_row_alone(caplog):
    answers = ["1", "(1, 2)", "3", "\\sqrt{2}", "Paris", None]
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        batch = numeric_reward(None, ["1", "1", "4", "2", "1", "1"], answer=answers)
        alone = [numeric_reward(None, [c], answer=[a])[0] for c, a in zip(["1", "1", "4", "2", "1", "1"], answers)]
    assert batch == alone == [1.0, None, 0.0, None, None, None]
    (said,) = notes(caplog)  # one note for the process, not one per row or per call
    assert said.startswith("reward: numeric reads one number from each answer, but the answer '(1, 2)' holds 2 "
                           "numbers (1, 2): comparing one part of it would score wrong answers 1; the 2 of the 6 "
                           "completions of this call with such an answer get None (not judged"), said
    assert said.endswith("Fix: write that answer as one number (9, -0.5, 1/2, \\frac{1}{2}, 2 1/2, 1,000, 50%), or "
                         "use --reward math, which compares expressions, tuples and sets.")


def test_in_training_a_row_with_such_an_answer_is_skipped_without_a_line_per_row(caplog):
    rewards = RewardSet(["numeric"])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        for _ in range(3):
            assert rewards(["q"] * 4, ["1", "2", "1", "2"], answer=["1", "(1, 2)", "1", "(1, 2)"]) == [1.0, None] * 2
    said = notes(caplog)
    assert len(said) == 2 and not any("raised" in line for line in said), said  # numeric's note, RewardSet's None
    assert rewards.failed == 6


def write(tmp_path, answers: list, name: str = "d.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": a}) + "\n" for i, a in enumerate(answers)))
    return str(path)


def test_a_dataset_with_a_few_such_answers_is_said_once_before_any_work(tmp_path, caplog):
    from treecredit.tasks.dataset import DatasetTask

    answers = ["1", "(1, 2)", "3", "4", "2^{10}", "Paris", "7", "8", "9", "10"]
    path = write(tmp_path, answers)
    with pytest.warns(UserWarning) as warned:
        task = DatasetTask(path=path, rewards=["numeric"], held_out=0)
    (said,) = [str(w.message) for w in warned if "numeric" in str(w.message)]
    assert said.startswith(f"reward: 2 of the 10 answers of {path!r} (column 'answer'; rows 2, 5, counting from 1 in "
                           "file order) are not one number, so numeric gives those rows no reward (None: a completion "
                           "without one is skipped and counted in reward_failed); the first: numeric reads one number "
                           "from each answer, but the answer '(1, 2)' holds 2 numbers (1, 2)"), said
    import warnings

    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        warnings.simplefilter("error")
        DatasetTask(path=path, rewards=["numeric"], held_out=0)  # the same dataset again (a compare's arms): said
        problems = task._train
        scores = task.rewards_of(problems, [p.answer for p in problems])
    assert [s is None for s in scores] == [a in ("(1, 2)", "2^{10}", "Paris") for a in answers]
    assert not [line for line in notes(caplog) if "numeric reads" in line]  # said before work, not again


def test_a_dataset_whose_answers_are_all_such_is_refused_before_any_work(tmp_path):
    from treecredit.tasks.dataset import DatasetTask

    path = write(tmp_path, ["(1, 2)", "Paris", "2^{10}", "(3, 4)"])
    with pytest.raises(ValueError, match=r"^reward: numeric reads one number from each answer, but the answer "
                                         r"'\(1, 2\)' holds 2 numbers \(1, 2\): comparing one part of it would score "
                                         r"wrong answers 1 \(as do all 3 answers of .* that hold a number, in column "
                                         r"'answer': rows 1, 3, 4, counting from 1 in file order\)\. Fix: write that "
                                         r"answer as one number"):
        DatasetTask(path=path, rewards=["numeric"], held_out=0)
    DatasetTask(path=path, rewards=["math"], held_out=0)  # math compares them


def failing(prompts, completions, **_):
    if len(completions) > 1:
        raise ValueError("the service takes one completion")
    if completions[0] == "bad":
        raise RuntimeError("judge down")
    return [1.0]


def test_a_fallback_is_said_before_the_rows_that_raised_alone(caplog):
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert RewardSet([failing])(["q"] * 3, ["ok", "bad", "ok"]) == [1.0, None, 1.0]
    said = notes(caplog)
    assert len(said) == 2 and "at once" in said[0] and "judge down" in said[1], said


def test_the_probe_before_work_does_not_refuse_a_dataset_that_its_check_let_through(tmp_path):
    """The dataset check warned (4 answers of 10 are one number); the probe's two rows must not refuse it when both
    rows it draws hold such answers: whether a run starts must not depend on the rows drawn."""
    from treecredit.tasks.dataset import DatasetTask
    from treecredit.training.reward_probe import check_rewards

    path = write(tmp_path, ["5"] * 4 + ["(1, 2)"] * 6)
    with pytest.warns(UserWarning, match="6 of the 10 answers"):
        task = DatasetTask(path=path, rewards=["numeric"], held_out=0)
    import numpy as np

    drawn = [p.answer for p in task.generate(np.random.default_rng(0), 2)]
    assert drawn == ["(1, 2)", "(1, 2)"]  # the rows the probe draws: both unreadable
    with pytest.warns(UserWarning, match="returned None"):
        assert check_rewards(task) == [None, None]


def test_a_dataset_check_silences_the_note_for_its_own_answers_only(tmp_path, caplog):
    from treecredit.tasks.dataset import DatasetTask

    with pytest.warns(UserWarning, match="2 of the 4 answers"):
        DatasetTask(path=write(tmp_path, ["1", "(1, 2)", "3", "(3, 4)"]), rewards=["numeric"], held_out=0)
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert numeric_reward(None, ["1", "1"], answer=["(1, 2)", "1"]) == [None, 1.0]  # said before any work
        assert not notes(caplog)
        assert numeric_reward(None, ["1"], answer=["\\sqrt{2}"]) == [None]  # another dataset's: said (was silent)
    (said,) = notes(caplog)
    assert "the answer '\\\\sqrt{2}' holds an expression" in said, said
