"""Monte Carlo values for vine: K rollouts per step end, read only at non-final step ends."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from tree_helpers import sample_tree, tiny_gpt

from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


@dataclass
class ParityTask(ArithmeticTask):
    """Reward 1 when the response has an even length: a reward every continuation can change."""

    def reward(self, problem, response):
        return float(len(response) % 2 == 0)


def _greedy_reward(policy, task, problem, prefix_ids, cap):
    ids = list(prefix_ids)
    stop = {policy.eos_id, policy.encode(task.end)[0]}
    with torch.no_grad():
        logits, state = policy.prefill([policy.encode_prompt(problem.prompt) + ids])
        while len(ids) < cap:
            token = logits.argmax(-1)
            ids.append(int(token))
            if int(token) in stop:
                break
            logits, state = policy.step(state, token)
    text = policy.decode(ids)
    if ids[-1] == policy.eos_id and task.end not in text:
        text += task.end
    return task.reward(problem, text)


def test_greedy_mc_value_is_the_reward_of_the_greedy_continuation():
    policy = tiny_gpt(torch.float32, seed=4)
    task = ParityTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 4)
    with pytest.warns(UserWarning, match="^temperature: is 0"):  # the leaves are one response; the values are wanted
        r = sample_tree(policy, task, problems, temperature=0.0, mc_rollouts=1, max_new_tokens=20,
                        branching_options={"every": 3})
    checked = 0
    for row in range(r.shape[0]):
        n = int(r.response_mask[row].sum())
        for t in range(r.shape[1]):
            if r.step_ends[row, t] and t < n - 1:
                prefix = r.response_ids[row, :t + 1].tolist()
                want = _greedy_reward(policy, task, problems[int(r.group_ids[row])], prefix, 20)
                assert float(r.mc_values[row, t]) == want
                checked += 1
            else:
                assert r.mc_values[row, t] == 0
    assert checked > 0


def test_mc_values_average_k_rollouts_and_count_their_tokens():
    policy = tiny_gpt(torch.float32, seed=4)
    task = ParityTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    r = sample_tree(policy, task, problems, mc_rollouts=4, max_new_tokens=20, branching_options={"every": 3})
    values = r.mc_values[r.step_ends]
    assert torch.equal(values * 4, (values * 4).round()) and (values >= 0).all() and (values <= 1).all()
    assert r.extras["mc_tokens"] > 0
    assert "mc_values" in r.available_options()
    plain = sample_tree(policy, task, problems, mc_rollouts=0, max_new_tokens=20, branching_options={"every": 3})
    assert torch.equal(plain.response_ids, r.response_ids)  # MC rollouts draw after the tree: same tree
    assert r.generated_tokens == plain.generated_tokens + r.extras["mc_tokens"]
