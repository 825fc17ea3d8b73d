"""Shared helpers of the tree sampler tests: tiny policies and an independent from-scratch replay."""

import numpy as np
import torch

from treecredit.models import GPTPolicy
from treecredit.sampling.draws import draw_tokens, token_stats
from treecredit.sampling.tree import TreeSampler


def tiny_gpt(dtype=torch.float64, seed=0):
    policy = GPTPolicy.build(seed=seed, n_layer=2, n_head=2, n_embd=32, max_len=64)
    policy.model.to(dtype)
    return policy


def sample_tree(policy, task, problems, group_size=8, seed=0, **kw):
    kw.setdefault("max_new_tokens", 16)
    return TreeSampler(**kw).sample(policy, task, problems, group_size, torch.Generator().manual_seed(seed))


def replay_row_from_scratch(policy, rollout, row, temperature=1.0, top_p=1.0):
    """Decode row ``row`` alone from its prompt with its recorded uniforms: (tokens, log-probs)."""
    length = int(rollout.response_mask[row].sum())
    uniforms = rollout.extras["uniforms"][row]
    tokens, logps = [], []
    with torch.no_grad():
        logits, state = policy.prefill([rollout.prompt_ids[row]])
        for t in range(length):
            token = draw_tokens(logits, uniforms[t:t + 1], temperature, top_p)
            _, logp, _ = token_stats(logits, token)
            tokens.append(int(token))
            logps.append(float(logp))
            if t + 1 < length:
                logits, state = policy.step(state, token)
    return tokens, logps


def check_tree_nodes(rollout):
    """The tree_nodes contract: paths of contiguous segments; shared ids share group, span, tokens, parent."""
    nodes = rollout.tree_nodes.numpy()
    ids = rollout.response_ids.numpy()
    mask = rollout.response_mask.numpy()
    assert ((nodes >= 0) == mask).all()
    seen = {}
    for row in range(nodes.shape[0]):
        runs = []
        for t in np.flatnonzero(mask[row]):
            if not runs or runs[-1][0] != nodes[row, t]:
                runs.append([nodes[row, t], t, t + 1])
            else:
                runs[-1][2] = t + 1
        assert len({r[0] for r in runs}) == len(runs), "a node id appears in two runs of one row"
        parent = -1
        for node, start, end in runs:
            record = (int(rollout.group_ids[row]), start, end, parent, tuple(ids[row, start:end]))
            assert seen.setdefault(node, record) == record
            parent = node
    return seen


class NeverStops:
    """A policy wrapper whose logits forbid the stop tokens, so every chain runs to the length cap."""

    def __init__(self, policy, banned):
        self.inner, self.banned = policy, list(banned)
        self.pad_id, self.eos_id, self.vocab_size = policy.pad_id, policy.eos_id, policy.vocab_size

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def module(self):
        return self.inner.module

    def _ban(self, out):
        logits, state = out
        logits = logits.clone()
        logits[:, self.banned] = -1e9
        return logits, state

    def prefill(self, prompts):
        return self._ban(self.inner.prefill(prompts))

    def step(self, state, tokens):
        return self._ban(self.inner.step(state, tokens))
