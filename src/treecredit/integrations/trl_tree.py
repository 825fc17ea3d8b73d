"""Tree rollouts for TRL: treecredit's tree sampler grows the completions of TRL's generation batch.

TRL lays a generation batch out as consecutive groups of ``G = num_generations`` rows that repeat one
prompt, split over processes. Here each group becomes one sampled tree with G leaves, so a tree's leaves
are exactly one TRL group wherever its rows live:

1. every process's prompt ids are gathered (``accelerate.utils.gather_object``), in process order;
2. groups are dealt to processes round-robin; each grows the trees of its groups with
   :class:`treecredit.sampling.TreeSampler` on the (unwrapped) training model;
3. the completions and their ``tree_nodes`` rows are gathered again; each process keeps its own rows.

A tree that ends with fewer than G leaves (a chain stopped before it forked) is topped up with
independent chains of the same prompt (each one node of its own, hanging from the root), so TRL always
gets G completions per prompt. Node ids are made unique across processes.

Prompts arrive as token ids, rewards come from TRL's reward functions afterwards, so the sampler sees a
task that only knows the step delimiter (:class:`PromptIdsTask`) and a policy that maps a prompt key to
its ids (:class:`PromptIdsPolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from treecredit._validation import fail

NEVER = "\x00treecredit:no-end-marker\x00"
"""The task's end marker: a text no tokenizer writes, so only the eos ids stop a chain."""

NODE_STRIDE = 1 << 32
"""Tree-node ids of process k are offset by k · NODE_STRIDE (unique across processes)."""


@dataclass
class PromptIdsTask:
    """The task view the tree sampler needs when prompts are token ids and the host scores rewards.

    ``delimiter`` closes a step (where fixed branching forks); the end marker never matches. Problems are
    prompt indices; ``reward`` is 0 (TRL's reward functions score the completions afterwards).
    """

    delimiter: str

    end: str = NEVER

    def format_prompt(self, problem: int) -> str:
        return str(problem)

    def reward(self, problem: int, text: str) -> float:
        return 0.0


class PromptIdsPolicy:
    """A treecredit policy whose prompts are given as ids: ``encode_prompt(str(i))`` → ``prompts[i]``."""

    def __init__(self, policy, prompts: list[list[int]]):
        self._policy = policy
        self._prompts = prompts

    def encode_prompt(self, key: str) -> list[int]:
        return list(self._prompts[int(key)])

    def encode(self, text: str) -> list[int]:
        return [] if text == NEVER else self._policy.encode(text)

    def __getattr__(self, name: str) -> Any:  # decode, eos_id, pad_id, module, prefill, step, ...
        return getattr(self._policy, name)


def grow_group_trees(policy, sampler, prompts: list[list[int]], group_size: int, delimiter: str,
                     seed: int) -> list[tuple[list[int], list[int]]]:
    """``group_size`` rows per prompt: ``(completion ids, tree-node id per token)``, prompt by prompt.

    Node ids are unique within this call (≥ 0). ``sampler``: a :class:`~treecredit.sampling.TreeSampler`.
    """
    import torch

    from treecredit.sampling import IIDSampler

    task = PromptIdsTask(delimiter)
    ids_policy = PromptIdsPolicy(policy, prompts)
    generator = torch.Generator().manual_seed(seed)
    rollout = sampler.sample(ids_policy, task, list(range(len(prompts))), group_size, generator)
    rows: list[list[tuple[list[int], list[int]]]] = [[] for _ in prompts]
    lengths = rollout.response_mask.sum(-1).tolist()
    for row, group in enumerate(rollout.group_ids.tolist()):
        n = int(lengths[row])
        rows[group].append((rollout.response_ids[row, :n].tolist(), rollout.tree_nodes[row, :n].tolist()))
    next_node = int(rollout.tree_nodes.max()) + 1 if rollout.tree_nodes.numel() else 0
    short = [g for g, leaves in enumerate(rows) if len(leaves) < group_size]
    if short:  # top up with independent chains: each one node hanging from the root
        iid = IIDSampler(temperature=sampler.temperature, top_p=sampler.top_p, max_new_tokens=sampler.max_new_tokens)
        need = max(group_size - len(rows[g]) for g in short)
        extra = iid.sample(ids_policy, task, short, need, generator)
        lengths = extra.response_mask.sum(-1).tolist()
        for row, group in enumerate(extra.group_ids.tolist()):
            g = short[group]
            if len(rows[g]) < group_size:
                n = int(lengths[row])
                rows[g].append((extra.response_ids[row, :n].tolist(), [next_node] * n))
                next_node += 1
    return [leaf for leaves in rows for leaf in leaves]


def distributed_tree_rollouts(accelerator, policy, sampler, prompt_ids: list[list[int]], group_size: int,
                              delimiter: str, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """This process's ``(completion_ids, tree_nodes)`` rows for TRL's rows ``prompt_ids`` (see module doc).

    Raises:
        ValueError: when the gathered rows are not consecutive groups of ``group_size`` equal prompts.
    """
    from accelerate.utils import gather_object

    world, rank = accelerator.num_processes, accelerator.process_index
    all_prompts = gather_object([list(p) for p in prompt_ids]) if world > 1 else [list(p) for p in prompt_ids]
    if len(all_prompts) % group_size:
        fail("num_generations", f"{group_size} does not divide the {len(all_prompts)} rows of the generation batch",
             "use TRL's sampler, which repeats every prompt num_generations times in a row")
    groups = [all_prompts[i:i + group_size] for i in range(0, len(all_prompts), group_size)]
    if any(any(p != g[0] for p in g) for g in groups):
        fail("sampler", "a group of num_generations consecutive rows holds different prompts, so it cannot be one "
             "tree", "use TRL's default RepeatSampler (consecutive repeats of each prompt)")
    mine = list(range(rank, len(groups), world))
    grown = grow_group_trees(policy, sampler, [groups[g][0] for g in mine], group_size, delimiter, seed + rank) \
        if mine else []
    offset = rank * NODE_STRIDE
    local = [(g, [(ids, [n + offset for n in nodes]) for ids, nodes in grown[i * group_size:(i + 1) * group_size]])
             for i, g in enumerate(mine)]
    everything = gather_object(local) if world > 1 else local
    by_group = dict(everything)
    rows = [leaf for g in range(len(groups)) for leaf in by_group[g]]
    start = rank * len(prompt_ids)  # TRL gives every process the same number of rows
    kept = rows[start:start + len(prompt_ids)]
    return [ids for ids, _ in kept], [nodes for _, nodes in kept]
