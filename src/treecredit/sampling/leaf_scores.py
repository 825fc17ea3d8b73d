"""What the adaptive strategy reads of a tree: its leaves' texts and rewards, the score u(c) of each fork
point, and how a round's leaf budget is spread over the scores (:class:`~treecredit.sampling.branching.
AdaptiveBranching`, which documents the formulas). ``response_text`` and ``leaf_rewards`` also serve the
rollout's packing and the vine values."""

from __future__ import annotations

import math
import warnings
import weakref

from treecredit.sampling.tree_table import SampledForest


def water_fill(scores: dict, budget: int, cap: int) -> dict:
    """``{point: k}``: ``budget`` leaves spread over ``scores`` (points with u > 0) in proportion to u, at most
    ``cap`` per point. Shares are rounded down, the leaves left over go one by one by largest remainder (ties:
    larger u, then the point), and what a capped point cannot take is shared again over the points below the
    cap (water-filling). Leaves no point can take any more go to the prompt, ``(-1, -1)``, beyond the cap."""
    k = dict.fromkeys(scores, 0)
    spare = budget
    while spare > 0:
        room = [c for c in scores if k[c] < cap]
        if not room:
            break
        total = sum(scores[c] for c in room)
        share = {c: spare * scores[c] / total for c in room}
        given = {c: min(cap - k[c], int(share[c])) for c in room}
        left = spare - sum(given.values())
        for c in sorted(room, key=lambda c: (-(share[c] - int(share[c])), -scores[c], c)):
            if left <= 0:
                break
            if k[c] + given[c] < cap:
                given[c] += 1
                left -= 1
        if left == spare:  # nothing placed: every point with room is at the cap
            break
        for c in room:
            k[c] += given[c]
        spare = left
    if spare > 0:
        k[(-1, -1)] = k.get((-1, -1), 0) + spare
    return k


def unit_rewards(rewards: dict) -> dict:
    """Leaf rewards clipped to [0, 1], the range the value posterior of the adaptive strategy assumes (a
    reward of 2 would give p_c > 1 and a negative variance, so the point would never be picked); warns
    (``UserWarning``, shown once per process by Python's default filter) when it clips. NaN counts as 0
    (an unscored leaf, as wrong)."""
    out = {leaf: 0.0 if math.isnan(r) else min(max(float(r), 0.0), 1.0) for leaf, r in rewards.items()}
    if any(out[leaf] != r for leaf, r in rewards.items() if not math.isnan(r)):
        warnings.warn("branching 'adaptive': leaf rewards outside [0, 1] were clipped to [0, 1], the range its "
                      "value uncertainty assumes; scale the reward to [0, 1] (e.g. success as 1/0) for adaptive "
                      "branching", UserWarning, stacklevel=2)
    return out


def candidate_scores(forest: SampledForest, group: int, rewards: dict) -> dict:
    """u(c) = H(c)·σ²(c) for the prompt ``(-1, -1)`` and each step end ``(node, offset)`` of ``group``."""
    return {point: point_score(entropy, values) for point, (entropy, values) in
            candidate_values(forest, group, rewards).items()}


def candidate_values(forest: SampledForest, group: int, rewards: dict) -> dict:
    """``{point: (H(c), rewards of the leaves below c)}`` for the points :func:`candidate_scores` scores."""
    roots = [n for n in forest.nodes_of(group) if forest.parent_node[n] < 0]
    out = {}
    if roots:
        out[(-1, -1)] = (forest.entropy[roots[0]][0], [rewards[leaf] for r in roots for leaf in forest.leaves_below(r)])
    for node in forest.nodes_of(group):
        ends = list(forest.step_end_offsets[node])
        if forest.status[node] == "cut":
            ends = ends[:-1]
        values = None
        for offset in ends:
            if offset + 1 < len(forest.tokens[node]):
                entropy = forest.entropy[node][offset + 1]
            elif forest.children[node]:
                entropy = forest.entropy[forest.children[node][0]][0]
            else:
                continue
            if values is None:
                values = [rewards[leaf] for leaf in forest.leaves_below(node)]
            out[(node, offset)] = (entropy, values)
    return out


def point_score(entropy: float, values: list[float]) -> float:
    """u = H·σ² of a point with entropy ``entropy`` (nats) and the rewards ``values`` of the leaves below it."""
    n, s = len(values), float(sum(values))
    p = (s + 1.0) / (n + 2.0)
    return max(entropy, 0.0) * p * (1.0 - p) / (n + 3.0)


ENDED = ("stop", "cap")
"""Statuses of a leaf whose tokens are final: it stopped (an end id or terminal string) or reached the token cap.
("cut": pruned, never scored; "open": still growing.)"""


def leaf_rewards(ctx, forest: SampledForest, group: int | None = None) -> dict:
    """``{leaf: reward}`` of every leaf so far (of ``group``, or of all groups): the final verifier's, or the
    failure reward for a pruned leaf; each leaf scored once per forest (:func:`score_leaves`).

    With a ``group`` (adaptive branching at the end of the group's round), the other groups' leaves that have
    ended (:data:`ENDED`) and are not scored yet are scored in the same reward call: every leaf is scored
    once whichever call scores it, so the trees are the same, and the groups whose rounds end together (all of
    them in the ``rounds`` schedule, those whose chains end at one decoding step in the stream) cost one call
    between them instead of one each (3 prompts × 6 leaves in 3 rounds: 4 calls in the rounds schedule, 7-9 in
    the stream ones, with the packing's; until 2026-12-03 10 calls of 1-3 completions in every schedule)."""
    leaves = forest.leaves(group)
    if group is None:
        return dict(zip(leaves, score_leaves(ctx, forest, leaves)))
    return dict(zip(leaves, score_leaves(ctx, forest, leaves + _ended_unscored(forest, group))))


def _ended_unscored(forest: SampledForest, group: int) -> list[int]:
    """The leaves of groups other than ``group`` that have ended (:data:`ENDED`) and whose reward is not kept yet,
    in :meth:`SampledForest.leaves` order: one pass over the statuses instead of a walk of every tree and every
    leaf's response ids per round (an ended leaf's tokens are final: a split makes it inner)."""
    kept = kept_rewards(forest)
    entry = _done_entry(forest, kept)
    done = entry[1]
    groups, children, statuses = forest.group, forest.children, forest.status
    unsettled = _unsettled(forest, entry)
    out = []
    for n in sorted(unsettled):
        status = statuses[n]
        if n in done or status in SETTLED:
            unsettled.discard(n)
        elif status in ENDED and groups[n] != group and not children[n]:
            out.append(n)
    if out:  # a split leaf's tail (a new node) keeps the leaf's key
        keys, _ = _keys(forest, out)
        done.update(leaf for leaf, key in zip(out, keys) if key in kept)
        out = [leaf for leaf, key in zip(out, keys) if key not in kept]
    return sorted(out, key=lambda leaf: _leaf_order(forest, leaf)) if len(out) > 1 else out


def _leaf_order(forest: SampledForest, leaf: int) -> tuple:
    """Sort key of ``leaf`` in :meth:`SampledForest.leaves` order: its group, its root, then the index of each
    node of its path among its parent's children."""
    path = []
    node, parent = leaf, forest.parent_node[leaf]
    while parent >= 0:
        path.append(forest.children[parent].index(node))
        node, parent = parent, forest.parent_node[parent]
    return (forest.group[leaf], node, *reversed(path))


def score_leaves(ctx, forest: SampledForest, leaves: list[int], ids: list[list[int]] | None = None,
                 texts: list[str] | None = None) -> list[float]:
    """Rewards of ``leaves`` (in order): the failure reward for a pruned leaf, else the task's reward of its
    response (``ids``: each leaf's response ids, ``texts``: their :func:`response_text`, made here when not
    given), each leaf scored once per forest.

    The rewards given are kept with ``forest`` (:func:`kept_rewards`), keyed by the leaf's group, chain of
    draws and response ids, so a leaf read again (adaptive branching reads every leaf of a group at every
    round, the rollout's packing reads them all at the end, and a fork inside a leaf makes its tail a new
    node) gets its kept reward, and the task scores only the leaves not scored yet, in one
    :func:`~treecredit.tasks.base.batch_rewards` call (none when there are none). So a reward that answers
    differently when asked again (a sampled judge) keeps its first value for a leaf; twin responses of two
    chains are two leaves, scored apart (one key twice in a call, scored once).
    """
    from treecredit.sampling.cutoff import failure_reward
    from treecredit.tasks.base import batch_rewards

    kept = kept_rewards(forest)
    if ids is None:
        keys, rows = _keys(forest, leaves)
        ids = [rows[i] if i in rows else list(key[2]) for i, key in enumerate(keys)]
    else:
        keys = [(forest.group[leaf], forest.chain[leaf], tuple(row)) for leaf, row in zip(leaves, ids)]
    unscored: dict = {}  # key -> its first row
    for i, (leaf, key) in enumerate(zip(leaves, keys)):
        if forest.status[leaf] != "cut" and key not in kept:
            unscored.setdefault(key, i)
    new = list(unscored.values())
    if new:
        made = [response_text(ctx, ids[i]) if texts is None else texts[i] for i in new]
        values = batch_rewards(ctx.task, [ctx.problems[forest.group[leaves[i]]] for i in new], made,
                               completion_ids=[ids[i] for i in new])
        kept.update(zip((keys[i] for i in new), values))
        _leaf_texts(forest).update(zip((keys[i] for i in new), made))
    done = _scored_ended(forest, kept)
    done.update(leaf for leaf in leaves if forest.status[leaf] in ENDED)
    failure = failure_reward(ctx.task)
    return [failure if forest.status[leaf] == "cut" else kept[key] for leaf, key in zip(leaves, keys)]


def _keys(forest: SampledForest, leaves: list[int]) -> tuple[list[tuple], dict]:
    """``(keys, rows)``: the reward key ``(group, chain, response ids)`` of each of ``leaves``, and ``{i: response
    ids}`` of those whose ids were read here. A node's response ids are those of its path, which a split leaves as
    they are (the head and the tail together), so a key is read again only when the node's own tokens changed in
    number (it grew, or was split)."""
    memo = _leaf_keys(forest)
    keys, rows = [], {}
    for i, leaf in enumerate(leaves):
        n = len(forest.tokens[leaf])
        hit = memo.get(leaf)
        if hit is None or hit[0] != n:
            rows[i] = forest.path_tokens(leaf)
            hit = memo[leaf] = (n, (forest.group[leaf], forest.chain[leaf], tuple(rows[i])))
        keys.append(hit[1])
    return keys, rows


_KEYS: dict[int, dict] = {}
"""``id(forest)`` → ``{node: (its tokens in number, its reward key)}`` (:func:`_keys`); an entry goes with its
forest."""


def _per_forest(table: dict[int, dict], forest: SampledForest) -> dict:
    """``table``'s dict for ``forest``, created empty at the first read and dropped from ``table`` when the forest is
    collected (the tables are keyed by ``id(forest)``)."""
    entry = table.get(id(forest))
    if entry is None:
        entry = table[id(forest)] = {}
        weakref.finalize(forest, table.pop, id(forest), None)
    return entry


def _leaf_keys(forest: SampledForest) -> dict:
    return _per_forest(_KEYS, forest)


_DONE: dict[int, list] = {}
"""``id(forest)`` → ``[kept rewards, nodes, unsettled nodes, nodes seen]``: the ended leaves whose reward those kept
rewards hold, and :func:`_unsettled`'s set and how many nodes it has seen."""


def _scored_ended(forest: SampledForest, kept: dict) -> set:
    """The ended leaves of ``forest`` whose reward ``kept`` holds (a set to add to; a new one for other ``kept``)."""
    return _done_entry(forest, kept)[1]


def _done_entry(forest: SampledForest, kept: dict) -> list:
    entry = _DONE.get(id(forest))
    if entry is None or entry[0] is not kept:
        if entry is None:
            weakref.finalize(forest, _DONE.pop, id(forest), None)
        entry = _DONE[id(forest)] = [kept, set(), set(), 0]
    return entry


SETTLED = ("inner", "cut")
"""Statuses a node never leaves (a forked node stays inner; a pruned one is never scored, and a split of it leaves
its head inner and its tail a new node): :func:`_ended_unscored` stops looking at such nodes."""


def _unsettled(forest: SampledForest, entry: list) -> set:
    """The nodes :func:`_ended_unscored` still looks at (``entry``: :func:`_done_entry`'s, for the kept rewards it
    reads): every node but those already known scored or :data:`SETTLED` when it last looked, and the nodes made
    since (updated in place by its caller). Each call so reads the nodes still open or ended and unscored, not the
    whole table (at 64 prompts × 8 leaves a round of each group read every node of the batch, ≈ 200 passes over the
    table a call; docs/performance.md [2w])."""
    unsettled, seen = entry[2], entry[3]
    if seen < len(forest.status):
        unsettled.update(range(seen, len(forest.status)))
        entry[3] = len(forest.status)
    return unsettled


_KEPT: dict[int, dict] = {}
"""``id(forest)`` → the rewards :func:`score_leaves` gave its leaves; an entry goes with its forest."""


def kept_rewards(forest: SampledForest) -> dict:
    """The rewards kept for ``forest``'s leaves, ``{(group, chain, response ids): reward}`` (created empty at the
    first read; forgotten when the forest is)."""
    return _per_forest(_KEPT, forest)


def leaf_texts(ctx, forest: SampledForest, leaves: list[int], ids: list[list[int]]) -> list[str]:
    """:func:`response_text` of each of ``leaves`` (``ids``: their response ids), the texts :func:`score_leaves` made
    when it scored them reused (the rollout's packing reads every leaf's text; adaptive branching scored most of
    them during its rounds)."""
    made = _leaf_texts(forest)
    if not made:
        return [response_text(ctx, row) for row in ids]
    out = []
    for leaf, row in zip(leaves, ids):
        text = made.get((forest.group[leaf], forest.chain[leaf], tuple(row)))
        out.append(response_text(ctx, row) if text is None else text)
    return out


_TEXTS: dict[int, dict] = {}
"""``id(forest)`` → ``{reward key: response text}`` of the leaves :func:`score_leaves` scored (:func:`leaf_texts`)."""


def _leaf_texts(forest: SampledForest) -> dict:
    return _per_forest(_TEXTS, forest)


def response_text(ctx, ids: list[int]) -> str:
    """Decoded response ``ids`` (a chain that stopped on eos has finished: the end marker is added)."""
    text = ctx.policy.decode(ids)
    if ids and ids[-1] == ctx.policy.eos_id and ctx.task.end not in text:
        text += ctx.task.end
    return text
