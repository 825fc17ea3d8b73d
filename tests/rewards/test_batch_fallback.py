"""A reward function whose batch call raises is called once per completion; the first time, a warning says so
(on stderr and in the run's log.txt), naming the function and the error, once per run."""

import logging

import pytest

from treecredit.rewards import RewardSet


def one_at_a_time(prompts, completions, **kwargs):
    if len(completions) > 1:
        raise ValueError("the service takes one completion")
    return [1.0]


def flaky(prompts, completions, **kwargs):
    return [1 / 0 if "boom" in c else 0.5 for c in completions]


def fallbacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "at once" in r.getMessage()]


def test_the_fallback_to_one_call_per_completion_is_said_once(caplog):
    rewards = RewardSet([one_at_a_time])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        for _ in range(3):
            assert rewards(["p"] * 4, ["a", "b", "c", "d"]) == [1.0] * 4
    said = fallbacks(caplog)
    assert len(said) == 1, said
    assert said[0].startswith("reward: one_at_a_time raised ValueError: the service takes one completion when "
                              "called with 4 completions at once, so it was called again once per completion "
                              "(5 calls instead of 1")
    assert "it seems to score one completion at a time" in said[0]
    assert rewards.failed == 0 and rewards.errors == []  # a note, not a failure


def test_a_fallback_caused_by_a_failing_completion_says_so(caplog):
    rewards = RewardSet([flaky])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert rewards(["p"] * 2, ["ok", "boom"]) == [0.5, None]
    (said,) = fallbacks(caplog)
    assert "flaky raised ZeroDivisionError" in said and "some completions raised alone too" in said


def test_no_note_for_a_single_completion_or_a_probe(caplog):
    rewards = RewardSet([one_at_a_time])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert rewards(["p"], ["a"]) == [1.0]
        with rewards.probing(2, solutions=True):
            assert rewards(["p"] * 2, ["a", "b"]) == [1.0, 1.0]
        assert fallbacks(caplog) == []
        rewards(["p"] * 2, ["a", "b"])  # the first fallback outside the probe is still said
    assert len(fallbacks(caplog)) == 1


def test_the_note_reaches_the_run_log(tmp_path):
    from treecredit.training.run_log import RunLog

    with RunLog(tmp_path, resume=False) as run_log:
        run_log.begin("start")
        RewardSet([one_at_a_time])(["p"] * 2, ["a", "b"])
    text = (tmp_path / "log.txt").read_text()
    assert "warning: reward: one_at_a_time raised ValueError: the service takes one completion" in text


def extras_written(run, folder) -> list[dict]:
    """The ``log_extra`` lines ``run`` holds, as its :meth:`TrainerKeywords.write_extras` writes them."""
    import json

    run.write_extras(folder, 0, "train")
    path = folder / "reward_extra.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [{k: v for k, v in line.items() if k not in ("step", "kind")} for line in lines]


def test_after_a_fallback_logs_stand_beside_the_right_completions(tmp_path):
    """After a batch call raised and the function was called once per completion, the next function's
    ``log_extra`` stands beside the whole batch, and what the call that raised logged is dropped (until 2026-12-03
    the next function's values stood beside the last completion alone, and the raised call's metric was kept)."""
    import warnings

    from treecredit.rewards.trainer_keywords import TrainerKeywords

    def flaky_logger(prompts, completions, log_metric, log_extra, **kwargs):
        log_metric("calls", 100.0)
        log_extra("seen", [len(completions)] * len(completions))
        if len(completions) > 1 or completions[0] == "bb":
            raise RuntimeError("batch fails")
        return [1.0]

    def lengths(prompts, completions, log_extra, **kwargs):
        log_extra("lengths", [len(c) for c in completions])
        return [0.0] * len(completions)

    rewards = RewardSet([flaky_logger, lengths])
    rewards.trainer_keywords = run = TrainerKeywords(max_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert rewards(["p"] * 3, ["a", "bb", "ccc"]) == [1.0, None, 1.0]
    assert run.mark() == ({"calls": 2}, 3)  # two log_metric values (the two calls that returned), three lines
    assert run.take_metrics() == {"reward_metric/calls": 100.0}
    assert extras_written(run, tmp_path) == [{"column": "seen", "values": [1], "completions": ["a"]},
                           {"column": "seen", "values": [1], "completions": ["ccc"]},
                           {"column": "lengths", "values": [1, 2, 3], "completions": ["a", "bb", "ccc"]}]


def test_a_log_misuse_is_raised_not_retried_per_completion():
    """trial37 3: ``log_extra('col', [1])`` in a call scoring 2 completions raised, the set called the function
    once per completion, each call was accepted, and the single value was logged beside both completions."""
    from treecredit.rewards.trainer_keywords import LogMisuse, TrainerKeywords

    def short(prompts, completions, log_extra, **kwargs):
        log_extra("col", [1])
        return [0.0] * len(completions)

    def metric(prompts, completions, log_metric, **kwargs):
        log_metric("", 1.0)
        return [0.0] * len(completions)

    for fn in (short, metric):
        rewards = RewardSet([fn])
        rewards.trainer_keywords = TrainerKeywords(max_steps=1)
        with pytest.raises(LogMisuse, match=r"^log_(extra|metric): "):
            rewards(["p"] * 2, ["a", "bb"])
        assert rewards.trainer_keywords.mark() == ({}, 0)  # nothing logged


def test_log_extra_refuses_a_dict_or_a_set(tmp_path):
    """trial37 3: a dict of values was logged as its keys."""
    from treecredit.rewards.trainer_keywords import LogMisuse, TrainerKeywords

    run = TrainerKeywords(max_steps=1)
    run.completions = ["a", "bb"]
    for values in ({"a": 1, "b": 2}, {1, 2}):
        with pytest.raises(LogMisuse, match=r"^log_extra: got (dict|set) values for 'col'"):
            run.log_extra("col", values)
    run.log_extra("col", (1, 2))
    assert [line["values"] for line in extras_written(run, tmp_path)] == [[1, 2]]
