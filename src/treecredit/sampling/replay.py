"""Subtree replay: reuse subtrees sampled in earlier iterations, off-policy, with truncated importance weights.

After each call the sampler stores, per problem (keyed by its prompt text), one subtree of the fresh
tree: the leaves under its first root chain (at most ``reuse_leaves`` of them), with their tokens,
rewards, tree structure, and log π_stored of their tokens. When the same problem comes again, that
subtree joins the new group as an extra root subtree and the strategy grows only
``group_size − reuse_leaves`` fresh leaves there. A replayed row i gets the sequence weight

    w_i = min(exp(Σ_t log q_current(y_i,t) − Σ_t log q_stored(y_i,t)), 1 + c)

where q is the distribution actually sampled from: π^(1/τ) restricted to the top-p nucleus and
renormalised, with the sampler's temperature and top-p (π itself at τ = 0). Using π at temperature 1
instead would be wrong whenever τ ≠ 1 or top-p < 1 (at τ = 0.5 such a weight is the square of the
right one's ratio, up to 140× too large in our runs). The weight is ``RolloutBatch.row_weights`` (1.0 on
fresh rows); the row's ``old_logprobs`` are the current policy's at temperature 1 (so the PPO ratio
starts at 1 and w_i carries the behaviour correction). Both sums come from the backend's ``score`` on
the very same stored rows, so when the policy has not changed they are bitwise equal and w_i is exactly 1.

The store survives checkpoints: :meth:`SubtreeReplay.state_dict` / :meth:`load_state_dict`.

Off by default (``TreeSampler(replay_leaves=0)``). Choose r so that group_size − r suits the
strategy (fixed branching needs a multiple of N^D). The trainer applies w_i through
:func:`treecredit.sampling.rollout.weighted_advantages`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from treecredit._validation import check_positive, fail
from treecredit.sampling.rollout import RolloutBatch, step_end_mask

ROW_EXTRAS = ("uniforms", "logprobs_f64", "cut_rows")


@dataclass
class SubtreeReplay:
    """Store and reuse subtrees across sampler calls.

    Args:
        reuse_leaves: most stored leaves joined to a group (≥ 1); the fresh tree grows the rest.
        max_weight: truncation 1 + c of the importance weight (≥ 1).
        capacity: most problems remembered (oldest forgotten first).
    """

    reuse_leaves: int = 2
    max_weight: float = 2.0
    capacity: int = 4096
    store: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.reuse_leaves, int) or self.reuse_leaves < 1:
            fail("reuse_leaves", f"is {self.reuse_leaves!r}, must be an integer ≥ 1", "pass reuse_leaves=2")
        check_positive(self.max_weight, "max_weight")
        if self.max_weight < 1:
            fail("max_weight", f"is {self.max_weight}, below 1", "pass max_weight = 1 + c with c ≥ 0, e.g. 2.0")

    def replayed_leaves(self, problem) -> int:
        """Leaves of ``problem``'s group left to replay: ``reuse_leaves`` if it has a stored subtree, else 0
        (the group size was checked against them by :meth:`TreeSampler.check_group_size`)."""
        return self.reuse_leaves if problem.prompt in self.store else 0

    def merge(self, policy, task, problems, rollout: RolloutBatch, backend, settings) -> RolloutBatch:
        """Join stored subtrees to ``rollout``, weight them, then store this call's fresh subtrees.

        ``backend`` scores sequences under the sampled distribution of ``settings``
        (:class:`SamplingSettings`); it must have ``score`` (the built-in :class:`KVCacheBackend` has).
        """
        if not hasattr(backend, "score"):
            fail("backend", f"{type(backend).__name__} has no score(); subtree replay needs the log-probabilities "
                 "of stored responses under the sampled distribution", "use replay_leaves=0 with this backend")
        scorer = _Scorer(policy, backend, settings)
        joined = [self._replayed(scorer, g, p) for g, p in enumerate(problems) if p.prompt in self.store]
        fresh = rollout
        if joined:
            rollout = _concat(policy, task, rollout, joined)
        for g, problem in enumerate(problems):
            self._remember(scorer, problem.prompt, fresh, g)
        return rollout

    def state_dict(self) -> dict:
        """The store and the options, for a checkpoint (tensors and plain Python values only)."""
        return {"version": 1, "reuse_leaves": self.reuse_leaves, "max_weight": self.max_weight,
                "capacity": self.capacity, "store": [[key, dict(entry)] for key, entry in self.store.items()]}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (oldest entry first, so eviction order survives)."""
        if not isinstance(state, dict) or state.get("version") != 1 or "store" not in state:
            fail("state", "is not a SubtreeReplay state_dict (version 1)",
                 "pass what SubtreeReplay.state_dict() returned")
        if state["reuse_leaves"] != self.reuse_leaves:
            fail("state", f"was saved with reuse_leaves={state['reuse_leaves']}, this store has {self.reuse_leaves}",
                 "resume with the run's replay_leaves")
        self.store = {key: dict(entry) for key, entry in state["store"]}

    def _remember(self, scorer, key: str, rollout: RolloutBatch, group: int) -> None:
        import torch

        rows = torch.nonzero(rollout.group_ids == group).flatten()
        if rows.numel() == 0:
            return
        nodes = rollout.tree_nodes.index_select(0, rows)
        first = nodes[:, 0] == nodes[0, 0]  # the leaves of the first root subtree
        rows = rows[first][: self.reuse_leaves]
        width = int(rollout.response_mask.index_select(0, rows).sum(1).max())
        ids = rollout.response_ids.index_select(0, rows)[:, :width]
        prompts = [rollout.prompt_ids[int(r)] for r in rows]
        entry = {"prompts": prompts, "ids": ids, "mask": rollout.response_mask.index_select(0, rows)[:, :width],
                 "nodes": rollout.tree_nodes.index_select(0, rows)[:, :width],
                 "rewards": rollout.rewards.index_select(0, rows), "prompt_text": rollout.prompt_texts[int(rows[0])],
                 "texts": [rollout.response_texts[int(r)] for r in rows]}
        entry["stored_logp"] = scorer.sums(entry)
        self.store.pop(key, None)
        self.store[key] = entry
        while len(self.store) > self.capacity:
            self.store.pop(next(iter(self.store)))

    def _replayed(self, scorer, group: int, problem) -> dict:
        entry = self.store[problem.prompt]
        log_ratio = scorer.sums(entry) - entry["stored_logp"]
        weights = log_ratio.exp().clamp(max=self.max_weight)
        return {**entry, "group": group, "weights": weights, "current_logp": scorer.base(entry)}


@dataclass
class _Scorer:
    policy: object
    backend: object
    settings: object

    def sums(self, entry: dict):
        """``(k,)`` float64: Σ_t log q(y_t) per stored row under the sampled distribution."""
        lengths = entry["mask"].sum(1).tolist()
        rows = [entry["ids"][i, :n].tolist() for i, n in enumerate(lengths)]
        return self.backend.score(entry["prompts"], rows, self.settings).sum(1)

    def base(self, entry: dict):
        """``(k, T)`` float32: log π(y_t) at temperature 1 under the current policy (for the PPO ratio)."""
        import torch

        with torch.no_grad():
            logp, _ = self.policy.token_logprobs(entry["prompts"], entry["ids"], with_entropy=False)
        return (logp.double() * entry["mask"]).float()


def _concat(policy, task, rollout: RolloutBatch, joined: list[dict]) -> RolloutBatch:
    """``rollout`` with the replayed rows appended to their groups (groups kept adjacent)."""
    import torch

    B, T = rollout.shape
    width = max([T] + [int(e["ids"].shape[1]) for e in joined])

    def pad(x, value):
        return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

    ids, mask, nodes = [pad(rollout.response_ids, policy.pad_id)], [pad(rollout.response_mask, False)], []
    nodes.append(pad(rollout.tree_nodes, -1))
    old, groups = [pad(rollout.old_logprobs, 0.0)], [rollout.group_ids]
    rewards, weights = [rollout.rewards], [torch.ones(B, dtype=torch.float32)]
    prompt_ids, prompt_texts, texts = list(rollout.prompt_ids), list(rollout.prompt_texts), list(rollout.response_texts)
    next_node = int(rollout.tree_nodes.max()) + 1 if rollout.tree_nodes.numel() else 0
    for e in joined:
        k = e["ids"].shape[0]
        ids.append(pad(e["ids"], policy.pad_id))
        mask.append(pad(e["mask"], False))
        renumbered = torch.where(e["nodes"] >= 0, e["nodes"] - e["nodes"][e["nodes"] >= 0].min() + next_node,
                                 e["nodes"])
        next_node = int(renumbered.max()) + 1
        nodes.append(pad(renumbered, -1))
        old.append(pad(e["current_logp"], 0.0))
        groups.append(torch.full((k,), e["group"], dtype=torch.long))
        rewards.append(e["rewards"])
        weights.append(e["weights"].float())
        prompt_ids += e["prompts"]
        prompt_texts += [e["prompt_text"]] * k
        texts += e["texts"]
    group_ids = torch.cat(groups)
    order = torch.sort(group_ids, stable=True).indices
    ids_all, mask_all = torch.cat(ids)[order], torch.cat(mask)[order]
    extras = dict(rollout.extras)
    for name in ROW_EXTRAS:
        if name in extras:
            value = extras[name]
            filler = torch.zeros((ids_all.shape[0] - B,) + tuple(value.shape[1:]), dtype=value.dtype)
            value = pad(value, 0) if value.dim() == 2 else value
            filler = pad(filler, 0) if filler.dim() == 2 else filler
            extras[name] = torch.cat([value, filler])[order]
    extras["leaf_status"] = [(extras.get("leaf_status") or [])[i] if i < B else "replayed" for i in order.tolist()]
    extras["replayed_rows"] = int(ids_all.shape[0] - B)
    index = order.tolist()
    return RolloutBatch(
        response_ids=ids_all, response_mask=mask_all, rewards=torch.cat(rewards)[order], group_ids=group_ids[order],
        old_logprobs=torch.cat(old)[order] * mask_all, prompt_ids=[prompt_ids[i] for i in index],
        prompt_texts=[prompt_texts[i] for i in index], response_texts=[texts[i] for i in index],
        problem_index=group_ids[order].clone(),
        step_ends=step_end_mask(policy, ids_all, mask_all.sum(1), (task.delimiter, task.end)),
        tree_nodes=torch.cat(nodes)[order], generated_tokens=rollout.generated_tokens,
        wasted_tokens=rollout.wasted_tokens, row_weights=torch.cat(weights)[order], extras=extras,
    )
