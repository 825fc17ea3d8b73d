"""Reward functions called TRL's way: ``async def`` ones run to completion, ``completion_ids`` reach them when the
caller has the token ids, and a TRL keyword treecredit does not pass is named as such (before any work); the TRL
path passes every keyword of TRL's call (``TRL_KEYWORDS``)."""

import asyncio
import json

import pytest

from treecredit.rewards import RewardSet
from treecredit.rewards.combine import TRL_KEYWORDS

SEEN: list[dict] = []


async def _async_length(prompts, completions, **kwargs):
    await asyncio.sleep(0)
    return [float(len(c)) for c in completions]


async def _async_raises(prompts, completions, **kwargs):
    await asyncio.sleep(0)
    raise RuntimeError("judge unreachable")


def _uses_ids(prompts, completions, completion_ids, **kwargs):
    SEEN.append({"completion_ids": completion_ids, **kwargs})
    return [-0.1 * len(ids) for ids in completion_ids]


def _curriculum(prompts, completions, trainer_state, **kwargs):
    return [1.0] * len(completions)


def test_an_async_reward_function_is_awaited_and_its_failures_are_counted():
    rewards = RewardSet([_async_length, (_async_raises, 0.5)])
    assert rewards(["p", "q"], ["ab", "abcd"]) == [None, None]  # the raising one fails both completions
    assert rewards.failed == 2 and "_async_raises raised RuntimeError: judge unreachable" in rewards.errors[-1]
    assert RewardSet([_async_length])(["p", "q"], ["ab", "abcd"]) == [2.0, 4.0]


def test_an_async_reward_function_runs_inside_a_running_event_loop():
    async def notebook_cell():  # a notebook runs its cells inside an event loop
        return RewardSet([_async_length])(["p"], ["abc"])

    assert asyncio.run(notebook_cell()) == [3.0]


def _dataset(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(6)))
    return str(path)


def test_completion_ids_reach_the_functions_when_the_token_ids_are_given(tmp_path):
    from treecredit.tasks import DatasetTask
    from treecredit.tasks.base import batch_rewards

    task = DatasetTask(path=_dataset(tmp_path), rewards=[_uses_ids], held_out=2)
    problems = task.held_out_problems(None, 2)
    SEEN.clear()
    assert batch_rewards(task, problems, ["2", "33"], completion_ids=[[5], [6, 6]]) == pytest.approx([-0.1, -0.2])
    assert SEEN[-1]["completion_ids"] == [[5], [6, 6]] and "answer" in SEEN[-1]
    clash = tmp_path / "clash.jsonl"  # a column named like the keyword: the ids win (TRL leaves it out too)
    clash.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1), "completion_ids": "x"}) + "\n"
                             for i in range(6)))
    clashing = DatasetTask(path=str(clash), rewards=[_uses_ids], held_out=2)
    assert clashing.score_batch(clashing.held_out_problems(None, 2), ["2", "3"], completion_ids=[[1], [2]]) \
        == pytest.approx([-0.1, -0.1]) and SEEN[-1]["completion_ids"] == [[1], [2]]
    without = RewardSet([_uses_ids])  # no ids given: the failure says that treecredit did not pass them
    assert without(["p", "q"], ["a", "b"]) == [None, None]
    assert without.errors[-1].endswith("missing 1 required positional argument: 'completion_ids' (treecredit does "
                                       "not pass completion_ids here: it passes completion_ids only where the model "
                                       "sampled the completions (training, evaluation); of TRL's reward keywords it "
                                       "passes prompts, completions and the dataset's columns here)"), without.errors


def test_a_reward_needing_a_trl_keyword_treecredit_does_not_pass_is_refused_naming_it(tmp_path):
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    keyword = "trainer_state"
    task = DatasetTask(path=_dataset(tmp_path), rewards=[_curriculum], held_out=2)
    with pytest.raises(ValueError) as info:
        check_rewards(task)
    message = str(info.value)
    # was: "it never passes trainer_state", stale since treecredit train passes it (rewards.trainer_keywords)
    assert f"missing 1 required positional argument: '{keyword}' (treecredit does not pass {keyword} here: it " \
           f"passes {keyword} only in a run of treecredit train or compare, not to a reward set or task called from " \
           "Python; of TRL's reward keywords it passes prompts, completions and the dataset's columns here), on " \
           "every one of the 2" in message, message
    assert "never passes" not in message
    assert f"Fix: give {keyword} a default ({keyword}=None) and score without it outside a run (treecredit train " \
           "passes it), or fix" in message, message


def test_the_trl_path_passes_every_trl_keyword():
    from treecredit.integrations.trl_tree import score_with_reward_funcs

    seen = {}

    def record(prompts, completions, **kwargs):
        seen.update(kwargs)
        return [1.0] * len(completions)

    class Chars:
        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    score_with_reward_funcs([record], [1.0], Chars(), [{"prompt": "1+1=", "answer": "2"}], ["2"], trainer_state="s")
    assert set(TRL_KEYWORDS) <= set(seen) and seen["completion_ids"] == [[ord("2")]] and seen["answer"] == ["2"]


def test_a_reward_needing_completion_ids_is_not_refused_before_work_and_gets_them_from_both_samplers(tmp_path):
    import torch

    from treecredit.models import GPTPolicy
    from treecredit.sampling.iid import IIDSampler
    from treecredit.sampling.tree import TreeSampler
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    task = DatasetTask(path=_dataset(tmp_path), rewards=[_uses_ids], held_out=2)
    with pytest.warns(UserWarning, match=r"_uses_ids was not tried before any work: it needs completion_ids"):
        assert check_rewards(task) == [None, None]  # worked solutions have no token ids: unchecked, not refused
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=64)
    problems = task.held_out_problems(None, 2)
    for sampler in (IIDSampler(max_new_tokens=6), TreeSampler(max_new_tokens=6)):
        SEEN.clear()
        rollout = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0))
        lengths = rollout.response_mask.sum(1).tolist()
        assert rollout.rewards.tolist() == pytest.approx([-0.1 * n for n in lengths])  # each row's own ids
        ids = [i for call in SEEN for i in call["completion_ids"]]
        assert sorted(map(tuple, ids)) == sorted(tuple(rollout.response_ids[r, :n].tolist())
                                                 for r, n in enumerate(lengths))


def _prompts_only(tmp_path):
    path = tmp_path / "noans.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1="}) + "\n" for i in range(6)))
    return str(path)


def _ids_and_state(prompts, completions, completion_ids, trainer_state, **kwargs):
    return [0.0] * len(completions)


def _log_metric_only(completions, log_metric, **kwargs):
    return [0.0] * len(completions)


def _reads_ids_from_kwargs(prompts, completions, **kwargs):
    return [len(ids) / 10 for ids in kwargs["completion_ids"]]


def _no_return(prompts, completions, **kwargs):
    [1.0 for _ in completions]


@pytest.mark.parametrize("fn, keyword", [(_curriculum, "trainer_state"), (_log_metric_only, "log_metric"),
                                         (_ids_and_state, "trainer_state")])
@pytest.mark.parametrize("answers", [True, False])
def test_a_trl_keyword_only_a_run_passes_is_refused_before_work_with_or_without_worked_solutions(
        tmp_path, fn, keyword, answers):
    """The TypeError does not depend on the completion: a prompt-only dataset (no worked solutions to score) and a
    function that also needs completion_ids (not passed before work) are refused as well, not after the model
    loads with the held-out evaluation's generic "every reward failed"."""
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    path = _dataset(tmp_path) if answers else _prompts_only(tmp_path)
    task = DatasetTask(path=path, rewards=[fn], held_out=2)
    with pytest.raises(ValueError, match=rf"treecredit does not pass .*{keyword}.*Fix: give {keyword} a default "
                                         rf"\({keyword}=None\) and score without it"):
        check_rewards(task)


def test_the_probe_of_a_prompt_only_dataset_says_what_it_scored(tmp_path):
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    task = DatasetTask(path=_prompts_only(tmp_path), rewards=[_no_return], held_out=2)
    with pytest.raises(ValueError, match=r"missing return\?\) \(checked before any work on empty completions of 2 "
                                         r"training problems, which have no worked solutions\)"):
        check_rewards(task)
    with pytest.raises(ValueError, match=r"\(checked on the worked solutions of 2 training problems before any work\)"):
        check_rewards(DatasetTask(path=_dataset(tmp_path), rewards=[_no_return], held_out=2))


def test_a_reward_reading_completion_ids_from_its_kwargs_is_not_tried_before_work_then_gets_them(tmp_path):
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    task = DatasetTask(path=_dataset(tmp_path), rewards=[_reads_ids_from_kwargs], held_out=2)
    with pytest.warns(UserWarning, match=r"_reads_ids_from_kwargs was not tried before any work: it needs "
                                         r"completion_ids"):
        assert check_rewards(task) == [None, None]
    problems = task.held_out_problems(None, 2)
    assert task.score_batch(problems, ["2", "3"], completion_ids=[[1, 2], [3]]) == pytest.approx([0.2, 0.1])
    other = RewardSet([lambda prompts, completions, **kw: [kw["answer"][0]]])  # another missing key: as before
    assert other(["p", "q"], ["a", "b"]) == [None, None] and "KeyError: 'answer'" in other.errors[-1]
    assert "treecredit does not pass" not in other.errors[-1]


def test_a_reward_needing_completion_ids_and_trainer_state_is_told_one_consistent_story(tmp_path):
    # before any work neither is passed; in training completion_ids is: each message says what holds where it ran
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    with pytest.raises(ValueError) as info:
        check_rewards(DatasetTask(path=_dataset(tmp_path), rewards=[_ids_and_state], held_out=2))
    assert "(treecredit does not pass completion_ids and trainer_state here: it passes trainer_state only in a run " \
           "of treecredit train or compare, not to a reward set or task called from Python, and it passes " \
           "completion_ids only where the model sampled the completions (training, evaluation); of TRL's " \
           "reward keywords it passes prompts, completions and the dataset's columns here)" in str(info.value)
    training = RewardSet([_ids_and_state])
    assert training(["p"], ["a"], completion_ids=[[1]]) == [None]
    assert training.errors[-1].endswith("(treecredit does not pass trainer_state here: it passes trainer_state only "
                                        "in a run of treecredit train or compare, not to a reward set or task called "
                                        "from Python; of TRL's reward keywords it passes prompts, completions, "
                                        "completion_ids and the dataset's columns here)"), training.errors


def test_a_reward_needing_completion_ids_on_a_prompt_only_dataset_is_not_told_about_worked_solutions(tmp_path):
    from treecredit.tasks import DatasetTask
    from treecredit.training.preflight import check_rewards

    with pytest.warns(UserWarning) as caught:
        check_rewards(DatasetTask(path=_prompts_only(tmp_path), rewards=[_reads_ids_from_kwargs], held_out=2))
    message = next(str(w.message) for w in caught if "was not tried before any work" in str(w.message))
    assert "the completions scored before any work have none" in message and "worked solution" not in message


def test_the_score_batch_signature_is_read_once_not_per_batch(tmp_path, monkeypatch):
    import inspect

    from treecredit.tasks import DatasetTask
    from treecredit.tasks.base import batch_rewards

    task = DatasetTask(path=_dataset(tmp_path), rewards=[_uses_ids], held_out=2)
    problems = task.held_out_problems(None, 2)
    read = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda fn, *a, **k: read.append(fn) or real(fn, *a, **k))
    for _ in range(3):
        assert batch_rewards(task, problems, ["2", "33"], completion_ids=[[5], [6, 6]]) == pytest.approx([-0.1, -0.2])
    assert sum(getattr(fn, "__func__", None) is DatasetTask.score_batch for fn in read) <= 1, read
