"""Episodes → the trainer's rows (a ``RolloutBatch``) and the turn arrays of ``compute_turn_advantages``.

One episode is one row. ``token_turn_ids (B, T)`` gives, per action token, the row of its turn in the
turn arrays (−1 on observation tokens and padding), which is what
:func:`treecredit.spread_turn_advantages` reads; ``step_ends (B, T)`` is True on the last token of each
action, so token-level estimators see turn ends as step ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from treecredit._validation import fail
from treecredit.sampling.rollout import RolloutBatch


@dataclass
class AgentBatch:
    """Episodes packed for training.

    Attributes:
        rollout: the ``RolloutBatch``: ``rewards (B,)`` are episode returns (the sum of turn rewards).
        token_turn_ids: ``(B, T)`` long, turn row per action token, −1 elsewhere.
        turns: the keyword arguments of ``compute_turn_advantages`` without the estimator: ``group_ids``,
            ``episode_ids``, ``turn_index``, ``state_sigs``, ``action_sigs``, ``rewards`` (each ``(N,)``).
        episodes: the :class:`~treecredit.agents.episodes.Episode` records, row order.
    """

    rollout: RolloutBatch
    token_turn_ids: object
    turns: dict
    episodes: list

    @property
    def n_turns(self) -> int:
        return int(len(self.turns["rewards"]))


def pack_episodes(policy, episodes: list, seeds: list[int], generated_tokens: int = 0) -> AgentBatch:
    """Pack ``episodes`` (from :func:`treecredit.agents.play`) into an :class:`AgentBatch`.

    ``seeds`` are the instance seeds of the groups (kept in ``rollout.extras``); ``generated_tokens``
    what the sampler decoded (default: the action tokens, right without forks). Raises ``ValueError`` naming
    ``episodes`` for an empty list or an episode whose row (prompt and tokens) is longer than the policy's
    positions (:func:`~treecredit.agents.positions.check_packed_rows`).
    """
    import torch

    from treecredit.agents.positions import check_packed_rows

    if not episodes:
        fail("episodes", "is empty (every episode was dropped)", "check the environment's errors in the log")
    check_packed_rows(policy, episodes)
    B = len(episodes)
    T = max(1, max(len(ep.tokens) for ep in episodes))
    ids = torch.full((B, T), policy.pad_id, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.bool)
    logp = torch.zeros((B, T), dtype=torch.float32)
    turn_ids = torch.full((B, T), -1, dtype=torch.long)
    step_ends = torch.zeros((B, T), dtype=torch.bool)
    group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards = [], [], [], [], [], []
    offset = 0
    for row, ep in enumerate(episodes):
        n = len(ep.tokens)
        ids[row, :n] = torch.as_tensor(ep.tokens, dtype=torch.long)
        mask[row, :n] = torch.as_tensor(ep.mask, dtype=torch.bool)
        logp[row, :n] = torch.as_tensor(ep.logprobs, dtype=torch.float32)
        local = torch.as_tensor(ep.turn, dtype=torch.long)
        turn_ids[row, :n] = torch.where(local >= 0, local + offset, local)
        last = {}
        for t, k in enumerate(ep.turn):
            if k >= 0:
                last[k] = t
        step_ends[row, list(last.values())] = True
        k = ep.n_turns
        group_ids += [ep.group] * k
        episode_ids += [row] * k
        turn_index += list(range(k))
        state_sigs += ep.state_sigs[:k]
        action_sigs += ep.action_sigs[:k]
        rewards += ep.rewards[:k]
        offset += k
    rollout = RolloutBatch(
        response_ids=ids, response_mask=mask,
        rewards=torch.tensor([ep.episode_return for ep in episodes], dtype=torch.float32),
        group_ids=torch.tensor([ep.group for ep in episodes], dtype=torch.long), old_logprobs=logp,
        prompt_ids=[ep.prompt_ids for ep in episodes], prompt_texts=[ep.prompt_text for ep in episodes],
        response_texts=[policy.decode(ep.tokens) for ep in episodes],
        problem_index=torch.tensor([ep.group for ep in episodes], dtype=torch.long),
        step_ends=step_ends, generated_tokens=generated_tokens or int(mask.sum()),
        extras={"instance_seeds": list(seeds)},
    )
    turns = {"group_ids": np.asarray(group_ids, dtype=np.int64), "episode_ids": np.asarray(episode_ids, dtype=np.int64),
             "turn_index": np.asarray(turn_index, dtype=np.int64), "state_sigs": list(state_sigs),
             "action_sigs": list(action_sigs), "rewards": np.asarray(rewards, dtype=np.float64)}
    return AgentBatch(rollout, turn_ids, turns, list(episodes))
