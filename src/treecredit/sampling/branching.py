"""Where the tree sampler branches: three strategies behind one interface.

A strategy describes each group's tree as phases, ``phases(ctx, forest, group, group_size)``: a
generator that yields the group's fork points ``[(group, node, k)]`` (k new chains after ``node``; -1:
after the prompt) and the fork rule they grow under, and resumes once all chains of the phase have
ended, reading only its group's part of the forest (:mod:`treecredit.sampling.schedule`). The built-in
backend runs the phases of all groups in one continuous batch, each group moving to its next phase as
soon as its own chains end (:class:`~treecredit.sampling.schedule.StreamGrower`); other backends run
them in rounds across all groups (``grow_trees(grower, forest, group_size)`` =
:func:`~treecredit.sampling.schedule.grow_in_rounds` over the grower's ``grow_points``, one ``generate``
call per round). A fork point continues the KV state kept for its node. A custom strategy may implement
``grow_trees`` alone (it then always runs in rounds). ``needs_entropy`` says whether the strategy reads
per-token entropies, ``reads_step_ends`` (default True) whether it reads the step ends inside segments
that did not stop at one (``forest.step_end_offsets``).

- :class:`FixedBranching` (TreeRPO, arXiv 2506.05183): R root chains; every chain forks into N children
  at its first step end (or after every k tokens), down to D fork levels: R·N^D leaves, R = G / N^D.
- :class:`EntropyBranching` (TreeRL's EPTree, arXiv 2506.11902): M chains; then L rounds, each forking
  the T highest-entropy tokens of the group's tree into N new chains (the token is re-drawn).
- :class:`AdaptiveBranching` (E-TreeRPO): M chains; then rounds that spend the leaf budget over step-end
  fork points in proportion to u(c) = H(c)·σ²(c) (entropy × uncertainty of the point's value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from treecredit._validation import fail
from treecredit.sampling.leaf_scores import candidate_scores, leaf_rewards, unit_rewards, water_fill
from treecredit.sampling.schedule import grow_in_rounds
from treecredit.sampling.tree_table import SampledForest


def _check_count(value: int, name: str, minimum: int, fix: str) -> None:
    if not isinstance(value, int) or value < minimum:
        fail(name, f"is {value!r}, must be an integer ≥ {minimum}", fix)


def locate(forest: SampledForest, node: int, offset: int) -> tuple[int, int]:
    """Where token ``offset`` of a node now lives after splits of this round (tails hang at children[0])."""
    while offset >= len(forest.tokens[node]):
        offset -= len(forest.tokens[node])
        node = forest.children[node][0]
    return node, offset


def open_points(forest: SampledForest, picks: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int]]:
    """Split nodes so each pick ``(group, node, offset, k)`` (fork after token ``offset``; node -1: after the
    prompt) ends a node; returns ``(group, node, k)`` points for :func:`grow_from_prefixes`."""
    points = []
    for group, node, offset, k in sorted(picks, key=lambda p: (p[1], p[2])):
        if node < 0:
            points.append((group, -1, k))
            continue
        node, offset = locate(forest, node, offset)
        points.append((group, forest.split(node, offset), k))
    return points


@dataclass
class FixedBranching:
    """TreeRPO-style fixed tree: R·N^D leaves per prompt.

    Args:
        children: N, children per fork (≥ 2).
        depth: D, fork levels below the root chains (≥ 0; 0 = R independent chains, i.e. i.i.d.).
        every: 0 forks at a chain's first step end (the task's delimiter); k > 0 forks after every k tokens.
        fallback_every: with ``every=0``, k > 0 also forks a chain that has grown k tokens since its fork
            point without a step end (text that rarely writes the delimiter, e.g. an untrained model: without
            it such a tree hardly forks); 0 (default) = off, the tree forks at step ends only.

        top_up: rounds of refilling (0 = off). A chain that stops at fork level ℓ < D (before its fork
            point: the response was shorter than the tree is deep) leaves its group N^(D−ℓ) − 1 leaves
            short; each round re-draws the group's missing leaves as extra siblings (single chains that do
            not fork) at the fork point above such a leaf (the prompt for a root chain), so that groups
            keep group_size leaves. The first round runs chain by chain, as each chain ends
            (:meth:`refill`, while the group's other chains grow); later rounds, which only refill what
            the earlier ones left short, after the group's chains have all ended. A leaf pruned by early
            cutoff is not refilled: its failed step stands for the subtree it would have grown, and
            refilling it would spend the tokens the cutoff saved.

    The root width is R = group_size / N^D (group_size must be a multiple of N^D). Without top-up (or
    when its rounds run out) a group can end with fewer than group_size leaves.
    """

    children: int = 2
    depth: int = 2
    every: int = 0
    top_up: int = 2
    fallback_every: int = 0

    def __post_init__(self) -> None:
        _check_count(self.children, "children", 2, "pass children=2 or more")
        _check_count(self.depth, "depth", 0, "pass depth=2")
        _check_count(self.every, "every", 0, "pass every=0 (fork at step ends) or a token count")
        _check_count(self.top_up, "top_up", 0, "pass top_up=2 (or 0 to keep early-stopped chains as they are)")
        _check_count(self.fallback_every, "fallback_every", 0, "pass fallback_every=0 (off) or a token count")
        if self.every and self.fallback_every:
            fail("fallback_every", f"is {self.fallback_every} with every={self.every}",
                 "pass fallback_every only with every=0 (forking at step ends)")

    def root_width(self, group_size: int) -> int:
        per_root = self.children ** self.depth
        if group_size % per_root:
            fail("group_size", f"is {group_size}, not a multiple of children**depth = {per_root}",
                 f"pass a group_size that is a multiple of {per_root}, or lower depth/children")
        return group_size // per_root

    needs_entropy = False
    reads_step_ends = False
    """The rule looks at step ends only where its chains stop at them (above depth D): the step ends inside
    other segments are not searched while growing (:class:`~treecredit.sampling.rounds.GrowContext`)."""

    def fork_children(self, forest: SampledForest, node: int, at_step_end: bool) -> int:
        """The fork rule: N children at a chain's fork point above depth D, else 0."""
        level = len(forest.path(node)) - 1
        due = len(forest.tokens[node]) >= self.every if self.every else at_step_end or bool(
            self.fallback_every and len(forest.tokens[node]) >= self.fallback_every)
        return self.children if level < self.depth and due else 0

    def max_tokens(self, forest: SampledForest, node: int) -> int | None:
        k = self.every or self.fallback_every
        if k and len(forest.path(node)) - 1 < self.depth:
            return k - len(forest.tokens[node])
        return None

    def stops_at_step_ends(self, forest: SampledForest, node: int) -> bool:
        return not self.every and len(forest.path(node)) - 1 < self.depth

    def refill(self, forest: SampledForest, node: int) -> int:
        """The first top-up round for one chain, at once: ``node``, grown under this rule, has just ended
        (not pruned); the siblings to open beside it, N^(D−ℓ) − 1 at fork level ℓ < D (0 without top-up).

        The same count as the round after the group's chains have ended would give it: before any refill the
        group's missing leaves are exactly the sum of these counts over its early-stopped leaves (pruned ones
        included), so that round's cap (the group's deficit) never binds. Siblings draw with the chain keys
        numbered on at the fork point, so the forest is the one the round after the phase grows."""
        level = len(forest.path(node)) - 1
        return self.children ** (self.depth - level) - 1 if self.top_up and level < self.depth else 0

    def grow_trees(self, grower, forest: SampledForest, group_size: int) -> None:
        grow_in_rounds(self, grower, forest, group_size)

    def phases(self, ctx, forest: SampledForest, group: int, group_size: int):
        """The group's root chains (forking by this rule as they grow, refilled at once where they stop
        early), then its later top-up rounds."""
        yield [(group, -1, self.root_width(group_size))], self
        for round_ in range(self.top_up):
            points: dict = {}
            leaves = forest.leaves(group)
            deficit = group_size - len(leaves)
            skipped = False
            for leaf in leaves:
                if forest.status[leaf] == "cut":  # a pruned leaf stands for its whole (failed) subtree
                    continue
                if round_ == 0 and leaf in forest.topped_up:  # the first round ran as the chain ended
                    skipped = True
                    continue
                level = len(forest.path(leaf)) - 1
                k = min(deficit, self.children ** (self.depth - level) - 1) if level < self.depth else 0
                if k > 0:
                    points[forest.parent_node[leaf]] = points.get(forest.parent_node[leaf], 0) + k
                    deficit -= k
            if not points:
                if skipped:
                    continue
                return
            yield [(group, n, k) for n, k in points.items()], None


@dataclass
class EntropyBranching:
    """EPTree-style entropy forking: M chains, then rounds of T forks × N children.

    Args:
        chains: M, initial independent chains per prompt (≥ 1).
        forks: T, fork points per group and round: the T tokens of highest entropy H(π) in the group's
            tree (a node's first token and tokens of a pruned step excluded; ties by node, offset).
        children: N new chains per fork point; each re-draws the chosen token from the same prefix.
        rounds: L, rounds of forking (0 = as many as the leaf budget allows).

    Leaves: min(group_size, M + L·T·N); the last round gets what is left of the budget.
    """

    chains: int = 2
    forks: int = 1
    children: int = 2
    rounds: int = 0

    def __post_init__(self) -> None:
        _check_count(self.chains, "chains", 1, "pass chains=2")
        _check_count(self.forks, "forks", 1, "pass forks=1")
        _check_count(self.children, "children", 1, "pass children=2")
        _check_count(self.rounds, "rounds", 0, "pass rounds=0 (use the whole budget) or a positive count")

    needs_entropy = True
    reads_step_ends = False
    """Step ends are read only of pruned nodes, whose segments all stopped at step ends (with cutoff every
    segment does): the step ends inside other segments are not searched while growing."""
    auto_speculation_leaves = 128
    """``schedule="auto"`` speculates (:mod:`treecredit.sampling.speculate`) when a call grows at most this many
    leaves: speculation over the stream's time was 0.84–0.96× on the small GPT at 8–64 prompts × 8 leaves and 1.09×
    at 128 and 256, and on the tiny ``transformers`` Llama of bench_update.py 0.93–0.95× at 8–16 prompts but
    1.06–1.08× at 32 and 64 (its step's cost follows its rows sooner): 16 prompts × 8 suits both
    (docs/performance.md [2o])."""

    def grow_trees(self, grower, forest: SampledForest, group_size: int) -> None:
        grow_in_rounds(self, grower, forest, group_size)

    def phases(self, ctx, forest: SampledForest, group: int, group_size: int):
        """The group's M chains, then a phase per forking round."""
        if self.chains > group_size:
            fail("chains", f"is {self.chains}, above group_size={group_size}", "pass chains ≤ group_size")
        yield [(group, -1, self.chains)], None
        left, done = group_size - self.chains, 0
        while left and (self.rounds == 0 or done < self.rounds):
            picks = self.round_picks(self._top_tokens(forest, group), left)
            if not picks:
                return
            left -= sum(k for _, _, k in picks)
            yield open_points(forest, [(group, node, offset, k) for node, offset, k in picks]), None
            done += 1

    def round_picks(self, top: list[tuple[int, int]], left: int) -> list[tuple[int, int, int]]:
        """A round's picks ``[(node, offset, k)]`` (k children re-draw the token after token ``offset`` of
        ``node``) from the group's tokens ``[(node, offset)]`` by entropy, highest first, and the leaves left."""
        picks = []
        for node, offset in top[: self.forks]:
            k = min(self.children, left)
            if k:
                picks.append((node, offset - 1, k))
                left -= k
        return picks

    def forecast(self, forest: SampledForest, group: int, group_size: int, yielded: int):
        """What the group's next phase would pick if its running chains ended now, kept up to date token by
        token (:class:`~treecredit.sampling.forecast.EntropyForecast`), or None when there is no next phase;
        ``yielded``: the phases the group's :meth:`phases` has yielded so far (the schedule
        ``schedule="speculative"`` starts the forecast picks' children before the phase, see
        :mod:`treecredit.sampling.speculate`)."""
        from treecredit.sampling.forecast import EntropyForecast

        opened = sum(1 for n in forest.nodes_of(group) if forest.parent_node[n] < 0
                     or forest.chain[n] != forest.chain[forest.parent_node[n]])
        left, done = group_size - opened, yielded - 1
        if left <= 0 or done < 0 or (self.rounds and done >= self.rounds):
            return None
        return EntropyForecast(self, left, done, self._scored(forest, group))

    @classmethod
    def _top_tokens(cls, forest: SampledForest, group: int) -> list[tuple[int, int]]:
        return [(node, offset) for _, node, offset in cls._scored(forest, group)]

    @staticmethod
    def _scored(forest: SampledForest, group: int) -> list[tuple[float, int, int]]:
        """``[(−entropy, node, offset)]`` of the group's tokens that a fork may re-draw, best first."""
        scored = []
        for node in forest.nodes_of(group):
            last = len(forest.tokens[node]) - 1
            if forest.status[node] == "cut":  # only re-draw up to the first token of the pruned step
                ends = forest.step_end_offsets[node]
                last = min(last, (ends[-2] if len(ends) >= 2 else -1) + 1)
            for offset in range(1, last + 1):
                scored.append((-forest.entropy[node][offset], node, offset))
        scored.sort()
        return scored


@dataclass
class AdaptiveBranching:
    """E-TreeRPO: the branching factor at a step end follows the policy's entropy and the value's uncertainty.

    Candidates c are the prompt and every step end (not the end marker, not a pruned wrong step) of the
    trees so far. With n_c leaves below c, s_c the sum of their rewards (rewards in [0, 1]),

        p_c = (s_c + 1) / (n_c + 2)                (posterior mean of the value under a uniform prior)
        σ²(c) = p_c (1 − p_c) / (n_c + 3)          (posterior variance of that value estimate)
        H(c) = entropy of π at the token after c   (nats)
        u(c) = H(c) · σ²(c)

    A round with budget b = ⌈leaves left / rounds left⌉ gives point c about b·u(c)/Σu new children
    (largest-remainder rounding, at most ``max_children`` per point; what a capped point cannot take is
    spread over the other points with u > 0 by u, see :meth:`allocate`). So an obvious step (H ≈ 0) or a
    settled value (many leaves, all right or all wrong) gets few or no branches, an uncertain one many; a
    point with u = 0 gets none. If Σu = 0, or every point with u > 0 is at the cap, the round's (remaining)
    budget goes to new chains from the prompt (i.i.d. samples). The cap, the rounding and where spare
    leaves go are this implementation's choices.

    Args:
        chains: M initial chains per prompt.
        rounds: rounds after the first (≥ 1).
        max_children: cap on new children per point and round.
        token_budget: stop a group's rounds once it has generated this many tokens (0 = leaves only).
    """

    chains: int = 2
    rounds: int = 3
    max_children: int = 4
    token_budget: int = 0

    def __post_init__(self) -> None:
        _check_count(self.chains, "chains", 1, "pass chains=2")
        _check_count(self.rounds, "rounds", 1, "pass rounds=3")
        _check_count(self.max_children, "max_children", 1, "pass max_children=4")
        _check_count(self.token_budget, "token_budget", 0, "pass token_budget=0 (no token budget)")

    needs_entropy = True
    forecast_at_ends = True
    """The speculative schedule makes the group's :meth:`forecast` again whenever one of its segments ends (it
    reads the forest only, not the tokens of rows still growing)."""

    @property
    def auto_speculation_leaves(self) -> float:
        """``schedule="auto"`` speculates at any size (on the small GPT 0.76× the stream's time at 8 prompts × 8
        leaves, 0.98–1.02× at 16–256, where the batch is rarely thin enough to speculate; on the tiny ``transformers``
        Llama 0.91–0.98× at 8–16 prompts, 0.99–1.04× at 32–64: docs/performance.md [2o]), except with a
        ``token_budget`` (0: it has no forecast)."""
        return 0 if self.token_budget else math.inf

    def grow_trees(self, grower, forest: SampledForest, group_size: int) -> None:
        grow_in_rounds(self, grower, forest, group_size)

    def phases(self, ctx, forest: SampledForest, group: int, group_size: int):
        """The group's M chains, then a phase per allocation round."""
        if self.chains > group_size:
            fail("chains", f"is {self.chains}, above group_size={group_size}", "pass chains ≤ group_size")
        yield [(group, -1, self.chains)], None
        left = group_size - self.chains
        for done in range(self.rounds):
            rewards = unit_rewards(leaf_rewards(ctx, forest, group))
            forest.scored.update({(forest.chain[leaf], forest.end(leaf)): r for leaf, r in rewards.items()})
            if self.token_budget and _group_tokens(forest, group) >= self.token_budget:
                left = 0
            budget = math.ceil(left / (self.rounds - done))
            picks = []
            for (node, offset), k in self.allocate(forest, group, rewards, budget):
                picks.append((group, node, offset, k))
                left -= k
            if not picks:
                return
            yield open_points(forest, picks), None

    def forecast(self, forest: SampledForest, group: int, group_size: int, yielded: int):
        """A guess of the group's remaining rounds from its ended segments
        (:func:`~treecredit.sampling.forecast.adaptive_forecast`), or None; ``yielded``: the phases the group's
        :meth:`phases` has yielded so far (``schedule="speculative"``, :mod:`treecredit.sampling.speculate`; the
        strategy's own picks decide the tree)."""
        from treecredit.sampling.forecast import adaptive_forecast

        return adaptive_forecast(self, forest, group, group_size, yielded)

    def allocate(self, forest, group: int, rewards: dict, budget: int) -> list[tuple[tuple[int, int], int]]:
        """``[((node, offset), k)]``: the round's ``budget`` split over the group's candidate points.

        Points with u > 0 share it in proportion to u, at most ``max_children`` each, by
        :func:`~treecredit.sampling.leaf_scores.water_fill`; leaves that no positive point can take (every one
        at the cap) go to new chains from the prompt, as when Σu = 0. Points with u = 0 (H = 0: the next
        token is certain, a child there repeats its sibling's token) never get children."""
        if budget <= 0:
            return []
        return self.split({point: u for point, u in candidate_scores(forest, group, rewards).items() if u > 0}, budget)

    def split(self, scores: dict, budget: int) -> list[tuple[tuple[int, int], int]]:
        """:meth:`allocate` over the points ``scores`` (those with u > 0) for a ``budget`` ≥ 1."""
        if not scores:
            return [((-1, -1), budget)]
        k = water_fill(scores, budget, self.max_children)
        order = sorted(k, key=lambda c: (-scores.get(c, 0.0), c))
        return [(c, k[c]) for c in order if k[c] > 0]


def _group_tokens(forest: SampledForest, group: int) -> int:
    return sum(len(forest.tokens[n]) for n in forest.nodes_of(group))


BRANCHINGS = {"fixed": FixedBranching, "entropy": EntropyBranching, "adaptive": AdaptiveBranching}


def make_branching(name: str, **options):
    """The branching strategy ``name`` ('fixed', 'entropy', 'adaptive') built with ``options``."""
    if name not in BRANCHINGS:
        fail("branching", f"unknown strategy {name!r}", f"use one of {sorted(BRANCHINGS)}")
    import dataclasses

    accepted = [f.name for f in dataclasses.fields(BRANCHINGS[name])]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        fail("branching_options", f"{name!r} branching has no option(s) {unknown}",
             f"use options of {BRANCHINGS[name].__name__}: {', '.join(accepted)}")
    return BRANCHINGS[name](**options)
