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

Prompts arrive as token ids and TRL's reward functions score the finished completions afterwards, so
the sampler sees a task that knows the step delimiter (:class:`PromptIdsTask`) and a policy that maps a
prompt key to its ids (:class:`PromptIdsPolicy`). Adaptive branching scores the leaves of each round to
pick the next fork points; there the task view scores them with TRL's reward functions too
(:func:`~treecredit.integrations.trl_leaf_rewards.score_with_reward_funcs`), given each prompt's dataset row,
as TRL scores the final completions. Each leaf is scored once while its tree grows: the sampler keeps the
rewards of each forest's leaves (:func:`~treecredit.sampling.leaf_scores.score_leaves`), so the later rounds
and the packing of the rollout reuse them.

With TRL's colocated vLLM engine the trees grow through a
:class:`~treecredit.sampling.vllm_backend.VLLMBackend` on that engine (with TRL's vLLM server, a
:class:`~treecredit.sampling.vllm_server.VLLMServerBackend` on TRL's client), wrapped in a
:class:`RecordingBackend` so that every row also gets the log-probabilities of the distribution it was
sampled from (vLLM's processed ones, which TRL's importance-sampling correction compares with the
training model's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from treecredit._validation import fail
from treecredit.integrations.trl_leaf_rewards import leaf_rewards as leaf_rewards
from treecredit.integrations.trl_leaf_rewards import score_with_reward_funcs as score_with_reward_funcs

NEVER = "\x00treecredit:no-end-marker\x00"
"""The task's end marker: a text no tokenizer writes, so only the eos ids stop a chain."""

ScoreFn = Callable[[list[int], list[str], "list[list[int]] | None"], Sequence[float]]
"""``score(prompt indices, texts, completion ids or None) → rewards`` of leaves while the trees grow."""

NODE_STRIDE = 1 << 32
"""Tree-node ids of process k are offset by k · NODE_STRIDE (unique across processes)."""


@dataclass
class PromptIdsTask:
    """The task view the tree sampler needs when prompts are token ids and the host scores rewards.

    ``delimiter`` closes a step (where fixed branching forks); the end marker never matches. Problems are
    prompt indices. ``score(problems, texts, completion_ids)`` gives the rewards of completions during
    sampling (adaptive branching reads them); without it every reward is 0 (fixed and entropy branching never
    read them). It gets the texts as TRL decodes them (without the end marker the sampler adds to a chain
    that stopped on eos) and the sampled ids of each completion (None when the sampler gave none).

    Each leaf is scored once per tree: the sampler keeps the rewards of a forest's leaves
    (:func:`~treecredit.sampling.leaf_scores.score_leaves`) and asks this view only for leaves it has not
    scored yet (adaptive branching reads every leaf of a tree at every round, and the rollout's packing reads
    them all at the end), so this view keeps none of its own. A reward function that gives another value on
    a second call (a sampled judge) keeps its first value for the leaf.
    """

    delimiter: str

    end: str = NEVER
    score: ScoreFn | None = None

    def format_prompt(self, problem: int) -> str:
        return str(problem)

    def reward(self, problem: int, text: str) -> float:
        return self.score_batch([problem], [text])[0]

    def score_batch(self, problems: list[int], texts: list[str],
                    completion_ids: list[list[int]] | None = None) -> list[float]:
        if self.score is None:
            return [0.0] * len(problems)
        texts = [text.removesuffix(self.end) for text in texts]
        ids = None if completion_ids is None else [list(row) for row in completion_ids]
        values = list(self.score(list(problems), texts, ids))
        if len(values) != len(problems):
            fail("score", f"gave {len(values)} rewards for {len(problems)} completions", "return one per completion")
        return [float(v) for v in values]


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


class RecordingBackend:
    """A generation backend that remembers, for every token it generated, the log-probability it was drawn
    with (``Segment.logprobs``: of the distribution sampled from), in a trie over token ids, so that a
    finished row can be looked up whole (:meth:`logprobs`). Everything else is the wrapped backend's."""

    def __init__(self, backend):
        self.backend = backend
        self._root: dict = {}

    def __getattr__(self, name: str) -> Any:  # pad_id, eos_ids, decode, release, score, ...
        return getattr(self.backend, name)

    def generate(self, requests, settings, generator=None):
        out = self.backend.generate(requests, settings, generator)
        for request, segments in zip(requests, out):
            start = self._walk(request.prefix)
            for segment in segments:
                node = start
                for token, logprob in zip(segment.tokens, segment.logprobs):
                    entry = node.setdefault(token, [None, {}])
                    entry[0] = logprob
                    node = entry[1]
        return out

    def _walk(self, ids) -> dict:
        node = self._root
        for token in ids:
            node = node.setdefault(token, [None, {}])[1]
        return node

    def logprobs(self, prompt: list[int], completion: list[int]) -> list[float]:
        """The recorded log-probability of each token of ``completion`` after ``prompt`` (NaN if none)."""
        node: dict | None = self._walk(prompt)
        out = []
        for token in completion:
            entry = node.get(token) if node is not None else None
            out.append(float("nan") if entry is None or entry[0] is None else float(entry[0]))
            node = entry[1] if entry is not None else None
        return out


@contextmanager
def own_precision(model) -> Iterator[Any]:
    """Run ``model`` in its own dtype, without mixed-precision autocast, inside the ``with`` block.

    Accelerate's mixed precision (TRL's ``bf16=True``/``fp16=True``, the default ``bf16``) wraps the prepared
    model's ``forward`` in ``torch.autocast`` (keeping the plain one as ``model._original_forward``). The tree
    sampler prefills through ``forward`` but decodes through the layers directly, so under that wrapper its
    key-value cache would mix float32 and bfloat16 tensors. Here ``forward`` is the plain one and autocast is
    off (an outer autocast included) until the block ends; the wrapper is put back even on error. A model
    that was not prepared with mixed precision is left as it is (autocast is still turned off).

    The sampler then draws from the model's own distribution (float32 weights: float32 logits). TRL never
    reads these probabilities on its transformers path: it recomputes old and current log-probabilities
    with the wrapped ``forward`` (under its autocast), so the loss is computed in one precision throughout.
    """
    import torch

    wrapped = model.__dict__.get("forward")
    original = model.__dict__.get("_original_forward")
    device = next(model.parameters()).device.type
    try:
        if wrapped is not None and original is not None:
            model.forward = original
        with torch.autocast(device_type=device, enabled=False):
            yield model
    finally:
        if wrapped is not None and original is not None:
            model.forward = wrapped


def grow_group_trees(policy, sampler, prompts: list[list[int]], group_size: int, delimiter: str,
                     seed: int, backend=None, score: ScoreFn | None = None,
                     ) -> list[tuple[list[int], list[int], list[float] | None]]:
    """``group_size`` rows per prompt: ``(completion ids, tree-node id per token, sampling log-probabilities
    or None)``, prompt by prompt.

    Node ids are unique within this call (≥ 0). ``sampler``: a :class:`~treecredit.sampling.TreeSampler`.
    ``backend``: a generation backend (default: the built-in one over ``policy``); when it is a
    :class:`RecordingBackend`, each row comes with the log-probabilities it was sampled with. ``score``:
    ``score(prompt indices, texts, completion ids) → rewards`` during sampling (see :class:`PromptIdsTask`).
    """
    import torch

    from treecredit.sampling import IIDSampler
    from treecredit.token_rows import row_lengths

    task = PromptIdsTask(delimiter, score=score)
    ids_policy = PromptIdsPolicy(policy, prompts)
    generator = torch.Generator().manual_seed(seed)
    rollout = sampler.sample(ids_policy, task, list(range(len(prompts))), group_size, generator, backend=backend)
    rows: list[list[tuple[list[int], list[int]]]] = [[] for _ in prompts]
    lengths = row_lengths(rollout.response_mask)
    for row, group in enumerate(rollout.group_ids.tolist()):
        n = int(lengths[row])
        rows[group].append((rollout.response_ids[row, :n].tolist(), rollout.tree_nodes[row, :n].tolist()))
    next_node = int(rollout.tree_nodes.max()) + 1 if rollout.tree_nodes.numel() else 0
    short = [g for g, leaves in enumerate(rows) if len(leaves) < group_size]
    if short:  # top up with independent chains: each one node hanging from the root
        iid = IIDSampler(temperature=sampler.temperature, top_p=sampler.top_p, max_new_tokens=sampler.max_new_tokens)
        need = max(group_size - len(rows[g]) for g in short)
        extra = iid.sample(ids_policy, task, short, need, generator, backend=backend)
        lengths = row_lengths(extra.response_mask)
        for row, group in enumerate(extra.group_ids.tolist()):
            g = short[group]
            if len(rows[g]) < group_size:
                n = int(lengths[row])
                rows[g].append((extra.response_ids[row, :n].tolist(), [next_node] * n))
                next_node += 1
    recorded = isinstance(backend, RecordingBackend)
    return [(ids, nodes, backend.logprobs(prompts[g], ids) if recorded else None)
            for g, leaves in enumerate(rows) for ids, nodes in leaves]


def distributed_tree_rollouts(accelerator, policy, sampler, prompt_ids: list[list[int]], group_size: int,
                              delimiter: str, seed: int, backend=None, rows: list[dict] | None = None,
                              score_rows: Callable[[list[dict], list[str], list[list[int]] | None],
                                                   Sequence[float]] | None = None,
                              ) -> tuple[list[list[int]], list[list[int]], list[list[float] | None]]:
    """This process's ``(completion_ids, tree_nodes, sampling log-probabilities)`` rows for TRL's rows
    ``prompt_ids`` (see module doc; the log-probabilities are None per row unless ``backend`` is a
    :class:`RecordingBackend`).

    ``rows`` (TRL's input rows of this process, one per prompt row) and ``score_rows(rows, texts,
    completion_ids) → rewards`` let the sampler score leaves while it grows (adaptive branching): each group
    is scored with its first row, gathered from whichever process holds it.

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
    score = None
    if score_rows is not None:
        if rows is None or len(rows) != len(prompt_ids):
            fail("rows", "score_rows needs this process's input rows, one per prompt row", "pass TRL's inputs")
        all_rows = gather_object(list(rows)) if world > 1 else list(rows)
        mine_rows = [all_rows[g * group_size] for g in mine]

        def score(problems: list[int], texts: list[str], ids: list[list[int]] | None) -> Sequence[float]:
            return score_rows([mine_rows[p] for p in problems], texts, ids)
    grown = grow_group_trees(policy, sampler, [groups[g][0] for g in mine], group_size, delimiter, seed + rank,
                             backend, score) if mine else []
    offset = rank * NODE_STRIDE
    local = [(g, [(ids, [n + offset for n in nodes], logps)
                  for ids, nodes, logps in grown[i * group_size:(i + 1) * group_size]])
             for i, g in enumerate(mine)]
    everything = gather_object(local) if world > 1 else local
    by_group = dict(everything)
    rows = [leaf for g in range(len(groups)) for leaf in by_group[g]]
    start = rank * len(prompt_ids)  # TRL gives every process the same number of rows
    kept = rows[start:start + len(prompt_ids)]
    return [ids for ids, _, _ in kept], [nodes for _, nodes, _ in kept], [logps for _, _, logps in kept]
