"""The tree sampler: per prompt, one tree of responses that share their prefixes, generated once.

Same interface and output as :class:`IIDSampler`, ``sample(policy, task, problems, group_size,
generator) -> RolloutBatch``, with one row per leaf (group_size leaves per prompt at most) and in
addition ``tree_nodes`` (the sampled tree, for the tree estimators), ``step_ends`` and, with
``mc_rollouts > 0``, ``mc_values`` (for ``vine``). ``generated_tokens`` counts each shared segment once
(plus the Monte Carlo rollouts), so it is below ``response_mask.sum()`` whenever the tree branches.

Pieces: :mod:`branching` decides where to fork, :mod:`rounds` grows the trees in rounds of segment
requests to a generation backend (:mod:`backend`; the built-in :class:`KVCacheBackend` by default, any
backend with ``backend=``), :mod:`cutoff` prunes wrong steps, :mod:`vine_values` adds Monte Carlo values,
:mod:`replay` reuses stored subtrees with importance weights, :mod:`tree_pack` builds the batch.
``extras["rounds"]`` counts the ``generate`` calls the tree took (one per round, across all prompts; one
``stream`` call with the built-in backend's continuous batching), ``extras["decode_steps"]`` the
backend's decoding steps where it counts them. A chain ends at a stop id or at a task's stop string
(``Task.stop_strings_for``, e.g. the end of a HumanEval function), as an i.i.d. row does.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from treecredit._validation import FixError, Remedy, check_choice, fail
from treecredit.sampling.branching import BRANCHINGS, make_branching
from treecredit.sampling.cutoff import MODES, cutoff_active
from treecredit.sampling.draws import seed_from
from treecredit.sampling.iid import check_decoding_options, stop_ids_for
from treecredit.sampling.registry import register_sampler
from treecredit.sampling.rollout import RolloutBatch
from treecredit.sampling.rounds import GrowContext, SegmentGrower
from treecredit.sampling.schedule import StreamGrower, group_sizes
from treecredit.sampling.speculate import SpeculativeGrower
from treecredit.sampling.tree_pack import pack_forest
from treecredit.sampling.tree_table import SampledForest
from treecredit.tasks.base import response_stop_strings

_SPECULATIVE_REMEDIES = (
    Remedy("schedule='auto'", "--sampler-option schedule=auto", (("schedule", "auto"),)),
    Remedy("branching='entropy'", "--branching entropy", (("branching", "entropy"),)))
"""What mends ``schedule='speculative'`` with a branching that cannot forecast: another schedule or branching."""


@register_sampler("tree")
@dataclass
class TreeSampler:
    """Tree-shaped sampling of ``group_size`` leaves per problem.

    Args:
        temperature, top_p, max_new_tokens: as in :class:`IIDSampler` (the cap is per root-to-leaf path).
        branching: 'fixed', 'entropy' or 'adaptive' (see :mod:`treecredit.sampling.branching`), or a
            strategy object with ``grow_trees``.
        branching_options: options of the named strategy (e.g. ``{"children": 2, "depth": 2}``).
        cutoff: 'off'; 'sound' (prune a branch at a wrong step only on tasks where a wrong step is fatal,
            so values stay unbiased); 'any' (prune at every wrong step; biased where not fatal).
        mc_rollouts: K > 0 adds ``mc_values`` from K rollouts per step end (for ``vine``); 0 = none.
        replay_leaves: 0 = off; r > 0 reuses up to r stored leaves per problem seen before (off-policy
            subtree replay, :mod:`treecredit.sampling.replay`); the strategy then grows group_size − r.
        replay_max_weight: truncation 1 + c of the replay importance weights (≥ 1).
        schedule: 'stream' grows the trees in one continuous batch on a backend that can (the built-in
            one: ``stream``), in rounds on others; 'rounds' always uses rounds. Same trees either way
            (:mod:`treecredit.sampling.schedule`); 'rounds' is for comparison. 'speculative' (entropy and
            adaptive branching): the stream, with each group's next forking round started before its chains have
            ended, at the tokens it would pick so far (:mod:`treecredit.sampling.speculate`): the same
            trees in fewer decoding steps, some tokens wasted (counted in ``generated_tokens``); on a backend
            without speculation, as 'stream'. 'auto' (the default): 'speculative' where the strategy's
            ``auto_speculation_leaves`` is at least the leaves the call grows (entropy: 128, adaptive: any
            without a token budget; measured in docs/performance.md [2o]), else 'stream'.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    branching: Any = "fixed"
    branching_options: dict = field(default_factory=dict)
    cutoff: str = "off"
    mc_rollouts: int = 0
    replay_leaves: int = 0
    replay_max_weight: float = 2.0
    schedule: str = "auto"

    def __post_init__(self) -> None:
        check_decoding_options(self.temperature, self.top_p, self.max_new_tokens)
        check_choice(self.cutoff, MODES, "cutoff")
        check_choice(self.schedule, ("auto", "stream", "rounds", "speculative"), "schedule")
        if not isinstance(self.mc_rollouts, int) or self.mc_rollouts < 0:
            fail("mc_rollouts", f"is {self.mc_rollouts!r}, must be an integer ≥ 0", "pass mc_rollouts=0 or K ≥ 1")
        if not isinstance(self.replay_leaves, int) or self.replay_leaves < 0:
            fail("replay_leaves", f"is {self.replay_leaves!r}, must be an integer ≥ 0", "pass 0 (off) or r ≥ 1")
        check_max_weight(self.replay_max_weight)
        self.replay = None
        if self.replay_leaves:
            from treecredit.sampling.replay import SubtreeReplay

            self.replay = SubtreeReplay(reuse_leaves=self.replay_leaves, max_weight=self.replay_max_weight)
        if isinstance(self.branching, str):
            if self.branching not in BRANCHINGS:
                fail("branching", f"unknown strategy {self.branching!r}", f"use one of {sorted(BRANCHINGS)}")
            self.strategy = make_branching(self.branching, **self.branching_options)
        elif hasattr(self.branching, "grow_trees"):
            self.strategy = self.branching
        else:
            fail("branching", f"{self.branching!r} is neither a strategy name nor has grow_trees",
                 f"pass one of {sorted(BRANCHINGS)}")
        if self.schedule == "speculative" and not hasattr(self.strategy, "forecast"):
            raise FixError("schedule", f"is 'speculative', but the {self.branching!r} branching cannot forecast its "
                           "next phase (only entropy and adaptive branching can)", _SPECULATIVE_REMEDIES, joiner=" or ")
        check_greedy_tree(self.temperature, self.branching)

    def check_group_size(self, group_size: int) -> None:
        """Raise the error ``sample`` would raise for ``group_size`` (for early config validation): the first
        visit of a problem grows all ``group_size`` leaves, a revisit with replay ``group_size − replay_leaves``."""
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            fail("group_size", f"is {group_size!r}, must be an integer ≥ 1", "pass group_size ≥ 1")
        if hasattr(self.strategy, "root_width"):
            self.strategy.root_width(group_size)
        chains = getattr(self.strategy, "chains", 1)
        if chains > group_size:
            fail("chains", f"is {chains}, above the {group_size} leaves a group grows", "pass fewer chains")
        if self.replay is not None:
            check_replay_leaves(self.strategy, self.replay_leaves, group_size)

    def branching_limits(self) -> list[str]:
        """The named strategy's own options that keep its trees from branching (fixed ``depth=0``, an adaptive
        ``token_budget``), as ``--branching-option`` text: the cause a warning about trees that
        did not branch should name before any other ([] when none, or for a strategy object)."""
        if not isinstance(self.branching, str):
            return []
        options, limits = self.branching_options, []
        if options.get("depth") == 0:
            limits.append("depth=0 (no level below the root chains forks)")
        if self.branching == "adaptive" and options.get("token_budget"):
            limits.append(f"token_budget={options['token_budget']} (a group stops forking once its chains have "
                          f"generated {options['token_budget']} tokens)")
        return limits

    def sample(self, policy, task, problems: Sequence, group_size: int, generator, backend=None) -> RolloutBatch:
        """A tree of at most ``group_size`` leaves for each problem; rows of a problem are adjacent.

        ``backend``: a :class:`GenerationBackend` to generate with (default: a :class:`KVCacheBackend`
        over ``policy``, made for this call). ``policy`` still encodes prompts and decodes text.
        Python's cyclic garbage collector is paused during the call (:func:`collector_paused`).
        """
        with collector_paused():
            return self._sample(policy, task, problems, group_size, generator, backend)

    def _sample(self, policy, task, problems: Sequence, group_size: int, generator, backend) -> RolloutBatch:
        from treecredit.sampling.kv_backend import KVCacheBackend

        if not problems:
            fail("problems", "is empty: there is no prompt to grow a tree for", "pass at least one problem")
        self.check_group_size(group_size)  # a revisit's G − replay_leaves too: refused now, not at the revisit
        prompt_texts = [task.format_prompt(p) for p in problems]
        prompts = [policy.encode_prompt(text) for text in prompt_texts]
        own = backend is None
        backend = KVCacheBackend(policy) if own else backend
        ctx = self.context(policy, task, problems, seed_from(generator))
        forest = SampledForest()
        try:
            streams = self.schedule != "rounds" and hasattr(backend, "stream") and hasattr(self.strategy, "phases")
            fresh: int | list[int] = group_size
            if self.replay is not None:  # revisited problems grow G − r (r come back replayed), new ones G
                fresh = [group_size - self.replay.replayed_leaves(p) for p in problems]
                # a strategy object's grow_trees takes one count (its documented signature); its phases, one per group
                if len(set(fresh)) == 1 or (not isinstance(self.branching, str) and not streams):
                    fresh = min(fresh)
            speculates = streams and "on_step" in inspect.signature(backend.stream).parameters and (
                self.schedule == "speculative" or self.schedule == "auto" and auto_speculates(
                    self.strategy, sum(group_sizes(fresh, len(problems)))))
            grower = (SpeculativeGrower if speculates else StreamGrower if streams else SegmentGrower)(ctx, backend,
                                                                                                      prompts)
            before = getattr(backend, "prefill_tokens", 0), getattr(backend, "steps", 0)
            if fresh and streams:
                grower.grow(self.strategy, forest, fresh)
            elif fresh:
                self.strategy.grow_trees(grower, forest, fresh)
            rollout = pack_forest(ctx, forest, prompts, prompt_texts, getattr(backend, "prefill_tokens", 0) - before[0])
            rollout.extras["rounds"] = grower.rounds
            rollout.extras["decode_steps"] = getattr(backend, "steps", 0) - before[1]
            if speculates:  # decoded, then cancelled or unused: generated, not kept (a token budget reads kept_tokens)
                rollout.extras["speculative_adopted"] = grower.adopted
                rollout.generated_tokens += grower.wasted_tokens
                rollout.wasted_tokens = grower.wasted_tokens
            if own:  # this call's backend holds only this tree's states: forget them all at once
                backend.release()
            else:
                backend.release([key for key in dict.fromkeys(forest.kept) if key is not None])
            if self.replay is not None:
                rollout = self.replay.merge(policy, task, problems, rollout, backend, ctx.settings())
                rollout.extras.setdefault("replayed_rows", 0)  # logged every step (tree_replayed_rows), 0 too
            rollout.extras["short_groups"] = short_groups(rollout.group_ids, len(problems), group_size)
            limits = self.branching_limits()
            if limits:
                rollout.extras["branching_limits"] = limits
            if self.mc_rollouts:
                rollout.mc_values, spent = monte_carlo_values(ctx, backend, rollout, prompts, self.mc_rollouts)
                rollout.extras["mc_tokens"] = spent
                rollout.generated_tokens += spent
        finally:
            if own:
                backend.release()
        return rollout

    def context(self, policy, task, problems, seed: int = 0) -> GrowContext:
        """The decoding context for ``task`` (cutoff resolved for the task, see :mod:`cutoff`)."""
        return GrowContext(policy, task, problems, self.temperature, self.top_p, self.max_new_tokens,
                           stop_ids_for(policy, task), (task.delimiter, task.end), cutoff_active(self.cutoff, task),
                           seed, getattr(self.strategy, "needs_entropy", True),
                           terminal=response_stop_strings(task, policy),
                           step_ends=getattr(self.strategy, "reads_step_ends", True))

    def state_dict(self) -> dict:
        """What a checkpoint needs to resume sampling exactly: the replay store (None when replay is off)."""
        return {"replay": None if self.replay is None else self.replay.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; a replay store is refused when this sampler has replay off."""
        if not isinstance(state, dict) or "replay" not in state:
            fail("state", "is not a TreeSampler state_dict", "pass what TreeSampler.state_dict() returned")
        if state["replay"] is not None:
            if self.replay is None:
                fail("state", "holds a replay store but this sampler has replay_leaves=0",
                     "build the sampler with the run's replay_leaves")
            self.replay.load_state_dict(state["replay"])


def auto_speculates(strategy, leaves: int) -> bool:
    """Whether ``schedule="auto"`` speculates for ``strategy`` in a call that grows ``leaves`` leaves: it can
    forecast and its ``auto_speculation_leaves`` (absent: 0) is at least ``leaves``."""
    return hasattr(strategy, "forecast") and leaves <= getattr(strategy, "auto_speculation_leaves", 0)


def check_greedy_tree(temperature: float, branching: Any) -> None:
    """At ``temperature`` 0 every child of a fork draws the same greedy token, so all the leaves of a tree are
    one response: refused for entropy and adaptive branching (their forks would only cost decoding steps),
    a warning for fixed branching and strategy objects (a greedy fixed tree is a deterministic check, and
    with ``mc_rollouts`` it gives greedy Monte Carlo values). ``treecredit train`` refuses temperature 0."""
    if temperature != 0:
        return
    name = branching if isinstance(branching, str) else type(branching).__name__
    problem = (f"is 0 (greedy) with {name!r} branching: every child of a fork draws the same token, so all the "
               "leaves of a tree are the same response")
    fix = "pass temperature > 0 to sample the branches, e.g. temperature=1.0"
    if name in ("entropy", "adaptive"):
        fail("temperature", problem, fix)
    warnings.warn(f"temperature: {problem}. Fix: {fix}.", UserWarning, stacklevel=4)


def check_max_weight(value) -> None:
    """``replay_max_weight``: the truncation 1 + c of the replay importance weights, a finite number ≥ 1."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
        fail("replay_max_weight", f"is {value!r}, must be a finite number ≥ 1 (the truncation 1 + c, c ≥ 0, of the "
             "replayed leaves' importance weights)", "pass --replay-max-weight (replay_max_weight) 1 + c, e.g. 2.0")


def check_replay_leaves(strategy, reuse: int, group_size: int) -> None:
    """Replay of ``reuse`` leaves against ``group_size``: a revisited problem grows ``group_size − reuse`` new
    leaves, which must suit ``strategy`` (fixed: a multiple of children**depth; at least its chains), and the
    replayed subtree (one root chain's leaves) holds at most children**depth leaves under fixed branching."""
    fresh = group_size - reuse
    per_root = strategy.children ** strategy.depth if hasattr(strategy, "root_width") else None
    fits = [r for r in range(1, group_size) if per_root is None or ((group_size - r) % per_root == 0 and r <= per_root)]
    chains = getattr(strategy, "chains", 1)
    fits = [r for r in fits if group_size - r >= chains]
    fix = (f"pass --replay-leaves (replay_leaves) {' or '.join(map(str, fits[:4]))}" if fits else
           "change --group-size or the --branching-option values so that some r fits")
    if reuse >= group_size:
        fail("replay_leaves", f"is {reuse}, not below the group size G = {group_size} (--group-size): a revisited "
             f"problem would grow G − r = {fresh} new leaves", fix)
    if per_root is not None and fresh % per_root:
        fail("replay_leaves", f"is {reuse}: a revisited problem grows G − r = {group_size} − {reuse} = {fresh} new "
             f"leaves, which must be a multiple of children**depth = {per_root}", fix)
    if per_root is not None and reuse > per_root:
        fail("replay_leaves", f"is {reuse}, but the replayed subtree (one root chain) holds at most children**depth "
             f"= {per_root} leaves, so groups would stay short", f"{fix}, or branch more (children/depth)")
    if chains > fresh:
        fail("replay_leaves", f"is {reuse}: a revisited problem grows G − r = {group_size} − {reuse} = {fresh} new "
             f"leaves, fewer than the strategy's {chains} chains", f"{fix}, or pass fewer chains")


def short_groups(group_ids, n_groups: int, group_size: int) -> int:
    """Groups of a batch with fewer than ``group_size`` rows (pruned by the cutoff, or a replayed subtree
    smaller than ``replay_leaves``): logged as ``tree_short_groups``."""
    import torch

    return int((torch.bincount(group_ids, minlength=n_groups) < group_size).sum()) if n_groups else 0


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused inside (restored after; collections then resume as usual).

    A tree call creates tens of thousands of small containers (segments, node lists, requests): at 256
    prompts × 8 leaves they set off over a hundred collections, each a walk over every tracked object of the
    process (a model's too), 0.1 s of a 1.8 s call; an i.i.d. call sets off about twenty. Reference counting
    still frees everything that is not in a cycle at once; cycles wait for the next collection after the call."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def monte_carlo_values(ctx, backend, rollout, prompts, k):
    from treecredit.sampling.vine_values import monte_carlo_values as run

    return run(ctx, backend, rollout, prompts, k)
