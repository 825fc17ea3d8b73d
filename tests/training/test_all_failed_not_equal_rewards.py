"""Steps in which every reward failed (a reward function raised) are said by the "every reward failed" warning only,
not also by "every advantage is 0 ... Fix: a larger --group-size", which diagnoses equal rewards (trial38 finding 5)."""

import pytest

from treecredit.training.degenerate_groups import STEPS_IN_A_ROW, DegenerateGroupsWatch

STATE = {"broken": False}


def _flaky(prompts, completions, **_):
    if STATE["broken"]:
        raise RuntimeError("service down")
    return [float(len(c) < 4) for c in completions]


def test_steps_whose_rewards_all_failed_are_not_steps_of_equal_rewards():
    said: list[str] = []
    watch = DegenerateGroupsWatch(said.append, "iid", 8)
    for step in range(1, 2 * STEPS_IN_A_ROW + 1):
        watch.after_step({"step": step, "adv_nonzero_share": 0.0}, all_failed=True)
    assert said == []
    for step in range(2 * STEPS_IN_A_ROW + 1, 3 * STEPS_IN_A_ROW + 1):  # equal rewards after them: said, from there
        watch.after_step({"step": step, "adv_nonzero_share": 0.0})
    assert len(said) == 1 and said[0].startswith(f"warning: steps {2 * STEPS_IN_A_ROW + 1}-{3 * STEPS_IN_A_ROW}: "
                                                 "every advantage is 0")


def test_a_run_whose_reward_breaks_says_so_without_the_group_size_advice(tiny_config, monkeypatch):
    from treecredit.rewards import register_reward
    from treecredit.training import loop

    register_reward("flaky_trial38", _flaky)
    config = tiny_config(reward=["flaky_trial38"], steps=12, warm_start_steps=0, prompts_per_step=2, group_size=2,
                         eval_every=0, eval_problems=4, checkpoint_every=0)
    original = loop.ppo_update
    updates = {"n": 0}

    def update_then_break(*args, **kwargs):  # step 1 is scored; from step 2 on every reward raises
        updates["n"] += 1
        STATE["broken"] = True
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "ppo_update", update_then_break)
    STATE["broken"] = False
    lines: list[str] = []
    try:
        with pytest.raises(ValueError, match="^reward: every reward of 5 steps in a row failed"):
            loop.train(config, log=lambda *parts: lines.append(" ".join(map(str, parts))))
    finally:
        STATE["broken"] = False
    assert any("every reward failed" in line for line in lines)
    assert not any("every advantage is 0" in line for line in lines), lines
