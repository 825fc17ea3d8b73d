"""The progress bar's held-out entry: labelled by decoding, and not shown stale under --eval-every 0."""

from types import SimpleNamespace

from treecredit.training import agent_loop, loop

STEP = {"reward": 0.5, "step_accuracy": 0.25, "success": 1.0, "return": 0.9}


def test_the_bar_names_the_decoding_and_hides_a_stale_first_evaluation():
    every_0 = SimpleNamespace(eval_every=0, steps=10)
    every_5 = SimpleNamespace(eval_every=5, steps=10)
    first = {"step": 0, "eval_sampled_pass1": 0.25, "eval_greedy_pass1": 0.5, "eval_success": 0.5}
    final = {**first, "step": 10}
    assert "eval_sampled_pass1" not in loop._postfix(STEP, first, every_0)  # would stand still all run
    assert loop._postfix(STEP, final, every_0)["eval_sampled_pass1"] == "0.25"  # the final one shows
    assert loop._postfix(STEP, first, every_5) == {"reward": "0.50", "step_acc": "0.25", "eval_sampled_pass1": "0.25"}
    greedy_only = {"step": 5, "eval_greedy_pass1": 0.5}
    assert loop._postfix(STEP, greedy_only, every_5)["eval_greedy_pass1"] == "0.50"
    assert "eval_pass1" not in loop._postfix(STEP, greedy_only, every_5)
    assert loop._postfix(STEP, {}, every_5) == {"reward": "0.50", "step_acc": "0.25"}
    assert agent_loop._postfix(STEP, first, every_5)["eval_sampled_success"] == "0.50"
    assert "eval_sampled_success" not in agent_loop._postfix(STEP, first, every_0)
    assert "eval_sampled_success" not in agent_loop._postfix(STEP, {"step": 5, "eval_success": None}, every_5)


def test_under_a_token_budget_the_bar_hides_a_first_evaluation_the_run_will_not_replace():
    # the trial: --steps 200 --eval-every 150 --token-budget 6000 ended at step 62 (~97 tokens a step) with the
    # step-0 eval_sampled_pass1 on the bar the whole run: --steps alone said an evaluation falls at step 150
    from treecredit.training.progress import expected_steps

    config = SimpleNamespace(eval_every=150, steps=200, token_budget=6000)
    first = {"step": 0, "eval_sampled_pass1": 0.0}
    step_10 = {**STEP, "step": 10, "generated_tokens": 970}
    assert expected_steps(config, step_10) == 62
    assert "eval_sampled_pass1" not in loop._postfix(step_10, first, config)
    assert loop._postfix(step_10, {**first, "step": 62}, config)["eval_sampled_pass1"] == "0.00"  # the final one
    roomy = SimpleNamespace(eval_every=150, steps=200, token_budget=60_000)  # ~619 steps: capped by --steps 200
    assert expected_steps(roomy, step_10) == 200 and "eval_sampled_pass1" in loop._postfix(step_10, first, roomy)
    unbounded = SimpleNamespace(eval_every=150, steps=0, token_budget=60_000)
    agent_first = {"step": 0, "eval_success": 0.0}  # agent runs judge by the budget too
    assert "eval_sampled_success" not in agent_loop._postfix(step_10, agent_first, config)
    assert "eval_sampled_success" in agent_loop._postfix(step_10, agent_first, roomy)
    assert expected_steps(unbounded, step_10) == 619 and "eval_sampled_pass1" in loop._postfix(step_10, first,
                                                                                                unbounded)


def test_the_bar_prints_n_a_for_a_missing_reward_or_step_accuracy():
    nothing = {**STEP, "reward": float("nan"), "step_accuracy": float("nan")}
    assert loop._postfix(nothing, {}, SimpleNamespace(eval_every=5, steps=10)) == {"reward": "n/a", "step_acc": "n/a"}
