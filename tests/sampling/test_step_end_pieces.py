"""The step-end search inside a tree's segments joins the policy's token texts (the small GPT's characters) and skips
a token whose text holds no stop string's last character: the same positions as decoding every window."""

import numpy as np
import torch
from tree_helpers import tiny_gpt

from treecredit.sampling.rounds import GrowContext
from treecredit.sampling.stops import StopMatcher, policy_pieces, stop_positions
from treecredit.tasks import ArithmeticTask


def test_step_ends_from_the_small_gpts_pieces_equal_those_of_decoding_every_window():
    policy = tiny_gpt(torch.float64)
    pieces = policy_pieces(policy)
    assert pieces is not None
    alphabet = policy.encode("0123456789+-*=;, >:") + [policy.tokenizer.eos_id, policy.tokenizer.pad_id]
    rng = np.random.default_rng(0)
    found = 0
    for strings in (["="], [";"], ["=", "; "], ["1>", "2=1"], ["=="]):
        for _ in range(60):
            start = [int(i) for i in rng.choice(alphabet, int(rng.integers(0, 12)))]
            ids = [int(i) for i in rng.choice(alphabet, int(rng.integers(1, 30)))]
            fast = stop_positions(policy.decode, strings, ids, start, pieces)
            assert fast == stop_positions(policy.decode, strings, ids, start, None), (strings, start, ids)
            found += len(fast)
    assert found > 50


def test_a_matcher_skips_tokens_without_a_last_character_and_the_context_finds_the_pieces_once():
    policy = tiny_gpt(torch.float64)
    matcher = StopMatcher(policy.decode, ["1=", "2>"], (), policy_pieces(policy))
    assert matcher.lasts == frozenset("=>")
    assert [matcher.push(t) for t in policy.encode("1=1-=2>")] == [False, True, False, False, False, False, True]
    task = ArithmeticTask()
    ctx = GrowContext(policy, task, [], 1.0, 1.0, 8, [policy.eos_id], ("=",))
    assert ctx.pieces is ctx.pieces is not None
