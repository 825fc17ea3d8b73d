"""TRL's trainer keywords under ``treecredit train`` (rewards/trainer_keywords.py): a reward function that takes
``trainer_state``, ``log_metric`` or ``log_extra`` gets them, as under TRL's GRPOTrainer, and what it logs lands
in the run's ``metrics.jsonl`` and ``reward_extra.jsonl``; a function that takes none of them is called as before."""

import json
import math

import pytest

from treecredit.cli import main
from treecredit.rewards import RewardSet
from treecredit.rewards.load import register_reward
from treecredit.rewards.trainer_keywords import RunState, TrainerKeywords, accepted
from treecredit.training.metrics import read_metrics

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "2", "--eval-every", "2", "--no-tensorboard",
        "--no-progress"]
STATES: list[tuple] = []


def _shaped(prompts, completions, trainer_state, log_metric, log_extra, **kwargs):
    STATES.append((trainer_state.global_step, trainer_state.max_steps, trainer_state.epoch))
    lengths = [len(c) for c in completions]
    log_metric("length", sum(lengths) / len(lengths))
    log_extra("length", lengths)
    return [1.0 if n < 3 else 0.0 for n in lengths]


def test_a_reward_taking_trls_trainer_keywords_gets_them_and_its_logs_land_in_the_run(tmp_path):
    # was: refused before any work ("treecredit does not pass trainer_state here"), though TRL passes all three
    register_reward("trl_shaped", _shaped)
    STATES.clear()
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--reward", "trl_shaped", "--out", str(out)]) == 0
    assert {(step, most) for step, most, _ in STATES} >= {(0, 2), (1, 2)}  # steps completed when scored
    assert all(epoch is None for *_, epoch in STATES)  # a generated task: no set to go through
    records = read_metrics(out / "metrics.jsonl")
    extras = [json.loads(line) for line in (out / "reward_extra.jsonl").read_text().splitlines()]
    for record in records:  # both train steps and both evaluations (steps 0 and 2)
        logged = [e for e in extras if e["step"] == record["step"] and e["kind"] == record["kind"]]
        assert logged, f"no log_extra line for {record['kind']} step {record['step']}"
        lengths = [n for e in logged for n in e["values"]]
        assert record["reward_metric/length"] == pytest.approx(
            sum(sum(e["values"]) / len(e["values"]) for e in logged) / len(logged)), record
        assert all(e["column"] == "length" and [len(c) for c in e["completions"]] == e["values"] for e in logged)
        assert math.isfinite(record["reward_metric/length"]) and lengths
    assert {r["kind"] for r in records} == {"train", "eval"} and len(records) == 4


def _takes_state(prompts, completions, trainer_state, **kwargs):
    return [float(trainer_state.global_step)] * len(completions)


def _takes_nothing(prompts, completions, answer):  # no **kwargs: called with exactly what it names
    return [0.5] * len(completions)


def test_a_reward_set_passes_the_keywords_each_function_takes_and_a_probe_logs_nothing():
    rewards = RewardSet([_takes_state, _takes_nothing, _logs])
    run = rewards.trainer_keywords = TrainerKeywords(max_steps=10, pool_size=8, prompts_per_step=2)
    run.begin(3)
    assert run.state == RunState(global_step=3, max_steps=10, epoch=0.75)
    assert rewards(["p", "q"], ["a", "bb"], answer=["1", "2"]) == [3.5 + 2, 3.5 + 2]
    assert run.take_metrics() == {"reward_metric/calls": 2.0} and run.take_metrics() == {}
    with rewards.probing(2, solutions=True):
        rewards(["p", "q"], ["a", "bb"], answer=["1", "2"])
    assert run.take_metrics() == {}  # the probe before any work logs nothing
    assert RewardSet([_takes_state])(["p"], ["a"]) == [None]  # no run attached: not passed (and named, as before)


def _logs(prompts, completions, log_metric, **kwargs):
    log_metric("calls", len(completions))
    return [2.0] * len(completions)


def test_the_logging_callbacks_refuse_what_they_cannot_log():
    run = TrainerKeywords()
    with pytest.raises(ValueError, match=r"^log_metric: got nan for 'x', not a finite number"):
        run.log_metric("x", float("nan"))
    with pytest.raises(ValueError, match=r"^log_metric: got the name ''"):
        run.log_metric("", 1.0)
    with pytest.raises(ValueError, match=r"^log_extra: got str values for 'c'"):
        run.log_extra("c", "text")
    assert accepted(_takes_nothing, run.keywords()) == {}
    assert set(accepted(_shaped, run.keywords())) == {"trainer_state", "log_metric", "log_extra"}


def test_the_checks_before_a_compare_arm_probe_with_the_keywords_too(tiny_config):
    # check_run without a task (treecredit compare's arms) makes its own: it gets the run's keywords as well,
    # so an arm is not refused for what its run would pass
    from treecredit.training.preflight import check_run

    register_reward("trl_state", _takes_state)
    check_run(tiny_config(reward=["trl_state"], steps=2, warm_start_steps=0))


def test_log_extra_refuses_values_of_the_wrong_length():
    # trial36 13: log_extra("short", [1]) in a call scoring 2 completions wrote a list of the wrong length
    run = TrainerKeywords()
    run.completions = ["a", "b"]
    with pytest.raises(ValueError, match=r"^log_extra: values has 1 item\(s\) for 'short', but the call scores 2 "):
        run.log_extra("short", [1])
    with pytest.raises(ValueError, match=r"pass 2 values"):
        run.log_extra("long", [1, 2, 3])
    run.log_extra("right", [1, 2])
    assert run._extras[-1]["values"] == [1, 2]
