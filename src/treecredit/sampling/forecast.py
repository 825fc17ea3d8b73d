"""Forecasts of a group's remaining forking rounds, for speculative forks (:mod:`treecredit.sampling.speculate`).

A forecast says what a strategy's next phases would pick if the group's running rows ended now; the
strategy makes one (``strategy.forecast(forest, group, group_size, yielded)``) when a phase has started,
and the speculative schedule feeds it every token drawn after (entropy branching), or makes it again as
segments end and as rows still growing draw new candidate points (adaptive branching, :class:`GrowingRows`).
It is only a guess: the strategy's own picks decide the tree.
"""

from __future__ import annotations

import bisect

BINS_PER_NAT = 16
BINS = 16 * BINS_PER_NAT  # entropies above 16 nats share the last bin

PRIOR_TOKENS = 32
"""Pseudo-tokens, each above a pick's entropy with chance 1/2, in the estimate of q(H): few tokens drawn so
far say little, so the first steps of a stream speculate little."""


def standing_chances(picks: list, left: float, hist: list, tail: list) -> dict:
    """signature -> estimated chance that an entropy forecast's pick ``(signature, node, offset, k, entropy,
    round)`` and those of the earlier rounds stand: per round (1 − q(H))^``left``, q(H) the share of the tokens
    drawn so far (``hist``: counts per bin of 1/:data:`BINS_PER_NAT` nats; ``tail``: their sums from each bin up)
    above the pick's entropy, ``left`` the tokens the group's rows are still expected to draw
    (``SpeculativeGrower.confidence``)."""
    total = tail[0] + PRIOR_TOKENS
    stands: dict = {}  # round -> chance that its picks stand, given the earlier rounds'
    for _, _, _, _, entropy, j in picks:
        b = min(int(entropy * BINS_PER_NAT), BINS)
        above = (tail[b + 1] + 0.5 * hist[b] + 0.5 * PRIOR_TOKENS) / total
        stands[j] = min(stands.get(j, 1.0), (1.0 - above) ** left)
    chance = 1.0
    for j in sorted(stands):
        chance *= stands[j]
        stands[j] = chance
    return {pick[0]: stands[pick[5]] for pick in picks}


class EntropyForecast:
    """The remaining forking rounds of an entropy-branching group as far as its tokens so far decide them.

    ``cands``: every token a fork may re-draw, ``(−entropy, node, offset, origin)`` in the order of
    :meth:`EntropyBranching._scored`; ``origin`` is ``()`` for a token of the forest, else the signature of the
    speculation whose child drew it (``node`` then a stand-in id above every node of the forest), which is
    admitted only to the rounds after the round that forecasts that speculation."""

    def __init__(self, strategy, left: int, done: int, scored: list) -> None:
        self.strategy, self.left, self.done = strategy, left, done
        self.keep = 8 * (left + strategy.forks)  # candidates kept: a forecast never looks much further down
        self.cands = [(*item, ()) for item in scored[: self.keep]]
        self.horizon: tuple | None = None  # the last candidate the forecast used, when it filled every round
        self.last: list | None = None  # the picks, until a token may change them

    def add(self, node: int, offset: int, entropy: float, origin: tuple = ()) -> bool:
        """Take token ``offset`` of ``node`` (a node's first token is never re-drawn); whether it may change
        the forecast."""
        if offset < 1:
            return False
        item, cands = (-entropy, node, offset, origin), self.cands
        if len(cands) >= self.keep:
            if item > cands[-1]:
                return False
            cands.pop()
        bisect.insort(cands, item)
        if self.horizon is None or item < self.horizon:
            self.last = None
            return True
        return False

    def purge(self, origins: set) -> None:
        """Forget the tokens of cancelled speculations."""
        if origins:
            self.cands = [c for c in self.cands if c[3] not in origins]
            self.last = None

    def picks(self, sign) -> list[tuple]:
        """``[(signature, node, offset, k, entropy, round)]`` of every remaining round in order: k children
        after token ``offset`` of ``node`` (:meth:`EntropyBranching.round_picks`), the entropy of the token
        they re-draw, the round (1: the next phase); ``sign(node, offset, k)`` gives a pick's signature (its
        chain key, response position and k)."""
        if self.last is not None:
            return self.last
        strategy, left, done = self.strategy, self.left, self.done
        admitted: dict = {}  # signature -> the round that forecasts it
        taken: set = set()
        entropy: dict = {}
        out: list = []
        last = None
        filled, j = True, 0
        while left and (strategy.rounds == 0 or done < strategy.rounds):
            j += 1
            top = []
            for item in self.cands:
                if len(top) == strategy.forks:
                    break
                origin = item[3]
                if (origin and admitted.get(origin, j) >= j) or (item[1], item[2]) in taken:
                    continue
                top.append((item[1], item[2]))
                entropy[(item[1], item[2])] = -item[0]
                last = item if last is None or item > last else last
            picks = strategy.round_picks(top, left)
            if not picks:
                filled = False
                break
            for node, offset, k in picks:
                signature = sign(node, offset, k)
                admitted[signature] = j
                taken.add((node, offset + 1))
                out.append((signature, node, offset, k, entropy[(node, offset + 1)], j))
                left -= k
            done += 1
        self.horizon = last if filled else None
        self.last = out
        return out


ADAPTIVE_HORIZON = 3
"""Rounds ahead that :func:`adaptive_forecast` guesses. From ended segments only, a third round was rarely right (small
GPT, 8 prompts × 8 leaves: the same decoding steps as 2, a third more tokens wasted); with the rows still growing
read too (:class:`GrowingRows`) it starts the last round of the default three early: six seeds of 8 prompts × 8,
178 decoding steps against 181 with 2 (401 and 366 tokens wasted; 195 and 430 from ended segments only, 2 rounds)."""


def adaptive_forecast(strategy, forest, group: int, group_size: int, yielded: int):
    """What adaptive branching's remaining rounds would pick if the group's growing segments ended now, or None.

    Every leaf whose reward the strategy has not scored yet (a segment still growing, or one that ended during
    the phase) is taken as ended where it is, its reward guessed as the majority (0 or 1) of the group's scored
    leaves; each round's picks come from :meth:`AdaptiveBranching.split` over the scores the group's points would
    have, with the children of the rounds forecast before it counted as leaves of that guessed reward below
    their points (no step end of theirs is known, so none is a candidate); a pick ``(-1, -1)``: new chains from
    the prompt. None with a ``token_budget``, no round left, or the group's first chain without a token. ``forest``
    may be a :meth:`GrowingRows.view` (segments still growing appended as if they had ended); points inside
    segments still growing that it does not show cannot be foreseen: where a round picks one, that round's
    speculation is cancelled when the phase starts (its rows wasted) and the round starts then."""
    import math

    from treecredit.sampling.leaf_scores import candidate_values, point_score

    done = yielded - 1
    if strategy.token_budget or done < 0 or done >= strategy.rounds:
        return None
    nodes, parent, chain = forest.nodes_of(group), forest.parent_node, forest.chain
    if not forest.tokens[next(n for n in nodes if parent[n] < 0)]:  # the prompt's entropy is not known yet
        return None
    left = group_size - sum(1 for n in nodes if parent[n] < 0 or chain[n] != chain[parent[n]])
    if left <= 0:
        return None
    rewards, guessed = {}, []
    for leaf in forest.leaves(group):
        reward = forest.scored.get((chain[leaf], forest.end(leaf)))
        if reward is None:
            guessed.append(leaf)
        else:
            rewards[leaf] = reward
    guess = 1.0 if rewards and sum(rewards.values()) >= 0.5 * len(rewards) else 0.0
    rewards.update(dict.fromkeys(guessed, guess))
    values = candidate_values(forest, group, rewards)
    plain = {point: point_score(entropy, below) for point, (entropy, below) in values.items()}  # no forks above
    ancestors: dict = {}
    forks: list = []  # (node, offset, k) of the rounds forecast so far
    out: list = []
    for j, round_ in enumerate(range(done, min(strategy.rounds, done + ADAPTIVE_HORIZON))):
        budget = math.ceil(left / (strategy.rounds - round_))
        if budget <= 0:
            break
        scores = {}
        for point, (entropy, below) in values.items():
            extra = sum(k for node, offset, k in forks if _below(forest, ancestors, point, node, offset)) \
                if forks else 0
            u = point_score(entropy, below + [guess] * extra) if extra else plain[point]
            if u > 0:
                scores[point] = u
        picks = strategy.split(scores, budget)
        for (node, offset), k in picks:
            forks.append((node, offset, k))
            left -= k
            out.append((node, offset, k, j + 1))
    return NextRoundForecast(forest, out) if out else None


def _below(forest, ancestors: dict, point: tuple, node: int, offset: int) -> bool:
    """Whether children forked after token ``offset`` of ``node`` (-1: new chains from the prompt) are leaves
    below the candidate ``point`` ``(node, offset)``: the prompt, a point of the same node at or before the
    fork, or any point of a node above it."""
    if point[0] < 0:
        return True
    if node < 0:
        return False
    if point[0] == node:
        return point[1] <= offset
    if node not in ancestors:
        ancestors[node] = set(forest.path(node))
    return point[0] in ancestors[node]


class NextRoundForecast:
    """A group's remaining rounds as :func:`adaptive_forecast` guessed them from its ended segments. Tokens drawn
    later do not change it (the speculative schedule makes it again as segments end), and its picks start at
    once (``uses_chances`` False: no estimate of the chance that they stand)."""

    uses_chances = False

    def __init__(self, forest, picks: list[tuple[int, int, int, int]]) -> None:
        self._forest = forest
        self._picks = picks  # [(node, offset, k, round)]: k children after token offset of node (-1, -1: the prompt)

    def add(self, node: int, offset: int, entropy: float, origin: tuple = ()) -> bool:
        return False

    def purge(self, origins: set) -> None:
        return None

    def picks(self, sign) -> list[tuple]:
        """``[(signature, node, offset, k, entropy, round)]`` as :meth:`EntropyForecast.picks` (entropy 0); a
        signature here is ``(chain key, response position, k, first)``: ``first`` numbers the children's chain
        keys on after those opened at the point before (in the forest, and by the earlier rounds' picks there)."""
        out, opened = [], {}
        for node, offset, k, round_ in self._picks:
            chain, position, _ = sign(node, offset, k)
            first = self._forest.forks.get((chain, position), 0) + opened.get((chain, position), 0)
            opened[(chain, position)] = opened.get((chain, position), 0) + k
            out.append(((chain, position, k, first), node, offset, k, 0.0, round_))
        return out


class GrowingRows:
    """The segments that rows still decoding have drawn so far, read as if they had ended: what lets adaptive
    branching forecast its next rounds before its running chains end (``SpeculativeGrower.FORECAST_GROWING``).

    Per forest node decoding in the stream it keeps the row (``.segment``: tokens and entropies so far) and the
    step ends found in its tokens as they are drawn (one :class:`~treecredit.sampling.stops.StopMatcher` per row,
    fed the new tokens only: the offsets :meth:`SegmentGrower._absorb` finds when the segment ends, but for a last
    token that stops the chain, which is never a candidate point: no token follows it)."""

    def __init__(self, ctx, forest) -> None:
        self.ctx, self.forest = ctx, forest
        self._rows: dict = {}  # node -> [row, matcher, tokens pushed, step-end offsets in the segment, points]

    def update(self, node: int, row) -> bool:
        """Take the tokens ``row`` (decoding ``node``) drew since the last call; whether the node has a new
        candidate point: a step end whose next token is drawn."""
        from treecredit.sampling.stops import StopMatcher

        entry = self._rows.get(node)
        if entry is None or entry[0] is not row:
            ctx = self.ctx
            entry = [row, StopMatcher(ctx.policy.decode, ctx.marks, self.forest.path_tokens(node), ctx.pieces), 0, [],
                     0]
            self._rows[node] = entry
        tokens, ends, pushed = row.segment.tokens, entry[3], entry[2]
        n = len(tokens)
        if n - pushed == 1:
            if entry[1].push(tokens[pushed]):
                ends.append(pushed)
        elif n > pushed:  # (catching up after a wide batch)
            ends += [pushed + t for t in entry[1].push_all(tokens[pushed:])]
        entry[2] = n
        points = len(ends) - (1 if ends and ends[-1] == n - 1 else 0)
        if points > entry[4]:
            entry[4] = points
            return True
        return False

    def ends(self, node: int, segment) -> list[int] | None:
        """The step-end offsets in ``segment`` (``node``'s, ended: every token drawn) if this followed the row that drew
        it, caught up to its last token (what :meth:`SegmentGrower._absorb` would search again), else None; the node
        is forgotten."""
        entry = self._rows.pop(node, None)
        if entry is None or entry[0].segment is not segment:
            return None
        tokens, pushed = segment.tokens, entry[2]
        if len(tokens) > pushed:
            entry[3] += [pushed + t for t in entry[1].push_all(tokens[pushed:])]
        return list(entry[3])

    MIN_POINTS = 2
    """Candidate points (step ends with the token after them drawn) that every running row of a group must have
    drawn before its forecast reads them (:meth:`ready`): before that a forecast picks the prompt, or an early step
    end that a later one usually displaces. Six seeds of the small GPT's 8 prompts × 8 leaves, decoding steps and
    tokens wasted: 1 point 149 and 1337, 2 points 178 and 401, 3 points about as without growing rows (195, 430)."""

    def ready(self, group: int, running: dict, points: int | None = None) -> bool:
        """Whether every row of ``group`` in ``running`` has ``points`` (default :attr:`MIN_POINTS`) candidate points
        (and it has one)."""
        least = self.MIN_POINTS if points is None else points
        nodes = [n for n in self.forest.nodes_of(group) if n in running]
        return bool(nodes) and all(n in self._rows and self._rows[n][0] is running[n] and
                                   self._rows[n][4] >= least for n in nodes)

    def view(self, group: int, running: dict):
        """The forest with the segments of ``group``'s nodes in ``running`` (node -> row, each as last
        :meth:`update` d) appended to their nodes, their step ends among the node's (a shallow copy: only the token,
        entropy and step-end tables are new), or the forest itself when none of its nodes is running."""
        import copy

        forest = self.forest
        nodes = [n for n in forest.nodes_of(group) if n in running and n in self._rows and
                 self._rows[n][0] is running[n]]
        if not nodes:
            return forest
        view = copy.copy(forest)
        view.tokens, view.entropy = list(forest.tokens), list(forest.entropy)
        view.step_end_offsets = list(forest.step_end_offsets)
        for node in nodes:
            segment, base = running[node].segment, len(forest.tokens[node])
            ends = self._rows[node][3]
            view.tokens[node] = forest.tokens[node] + segment.tokens[: self._rows[node][2]]
            view.entropy[node] = forest.entropy[node] + list(segment.entropies[: self._rows[node][2]])
            view.step_end_offsets[node] = forest.step_end_offsets[node] + [base + t for t in ends]
        return view


class HedgedForecast:
    """The picks of several forecasts of one group's remaining rounds, each once (in the order of ``parts``, then of
    each part's picks): the speculative schedule starts them all, and a phase adopts whichever its request matches
    (``SpeculativeGrower.HEDGE``). Like its parts (:class:`NextRoundForecast`) it reads no token of a growing row and
    its picks start at once."""

    uses_chances = False

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def add(self, node: int, offset: int, entropy: float, origin: tuple = ()) -> bool:
        return False

    def purge(self, origins: set) -> None:
        return None

    def picks(self, sign) -> list[tuple]:
        """The parts' picks (:meth:`NextRoundForecast.picks`) without a signature twice."""
        out, seen = [], set()
        for part in self.parts:
            for pick in part.picks(sign):
                if pick[0] not in seen:
                    seen.add(pick[0])
                    out.append(pick)
        return out
