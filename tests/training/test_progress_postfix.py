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
