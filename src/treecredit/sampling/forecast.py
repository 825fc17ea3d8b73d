"""Forecasts of a group's remaining forking rounds, for speculative forks (:mod:`treecredit.sampling.speculate`).

A forecast says what a strategy's next phases would pick if the group's running rows ended now; the
strategy makes one (``strategy.forecast(forest, group, group_size, yielded)``) when a phase has started,
and the speculative schedule feeds it every token drawn after. It is only a guess: the strategy's own
picks decide the tree.
"""

from __future__ import annotations

import bisect


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
