"""Operations on :class:`DecodeState` that the built-in backend needs beyond ``Policy.select``.

- :func:`concat_states`: rows of several states in one batch (caches of different widths are left-padded
  with masked columns);
- :func:`gather_states`: chosen rows of several states in one batch (one copy where the layers can
  ``stack``);
- :func:`append_kept_rows`: rows of other states cut to a prefix (a fork's rows) added to a state in place,
  in its buffer's spare rows, where the cache's layers allow it (the small GPT's, a ``transformers``
  cache's :class:`~treecredit.models.hf_cache.GrowingLayer`), without copying the state's rows: each added
  row is copied once, from its source;
- :func:`append_own_rows`: copies of a state's own rows added to it in place, whole (a fork's siblings);
- :func:`truncate_state`: each row keeps only its first m real tokens (later columns are masked, not
  removed), so a kept state continues from an earlier position of its context;
- :func:`drop_unused_columns`: leading columns that every row masks are cut off (a continuous batch
  whose rows joined at different times);
- :func:`snapshot`: the state as it is now, copying no keys or values (a ``transformers`` cache is
  updated in place by the next forward; its layers are shallow-copied).

A policy may provide ``concat_states(states)`` itself; a cache whose layers have a ``stack(parts,
width)`` constructor (the small GPT's :class:`~treecredit.models.kv_buffer.GrowingKV`) or a ``stacked`` method
(``transformers`` layers, :class:`~treecredit.models.hf_cache.GrowingLayer`) is concatenated by it, once,
into a buffer with spare room and rows; otherwise the two cache layouts of the built-in adapters are
handled: a list of per-layer ``(k, v)`` tensors ``(B, H, L, D)`` (small GPT) and a
``transformers`` cache whose ``layers`` hold ``keys`` / ``values`` ``(B, H, L, D)``.
"""

from __future__ import annotations

from treecredit.sampling.kv_layout import (
    _joint,
    _joint_method,
    _layers,
    _offers_rows,
    _rebuild,
    _stack,
    _stack_all,
    _with_layers,
)
from treecredit.sampling.policy import DecodeState


def concat_states(policy, states: list[DecodeState]) -> DecodeState:
    """One state holding the rows of ``states`` in order; narrower caches are left-padded (masked)."""
    import torch

    if len(states) == 1:
        return states[0]
    if hasattr(policy, "concat_states"):
        return policy.concat_states(states)
    width = max(int(s.key_valid.shape[1]) for s in states)
    valid, next_pos = _joined_rows([(s, None) for s in states], width)
    first = states[0].cache
    per_state = [_layers(s.cache) for s in states]
    if _offers_rows(first):  # one copy, with spare room and rows
        cache = _stack_all(first, [(of, s.cache, 0, int(s.key_valid.shape[1]), None)
                                   for of, s in zip(per_state, states)], width)
        if cache is None:
            cache = [_stack(first, i, [layer[i] for layer in per_state], width) for i in range(len(per_state[0]))]
        return DecodeState(_with_layers(first, cache), valid, next_pos)
    layers = []
    for i in range(len(per_state[0])):
        ks, vs = [], []
        for layer in per_state:
            k, v = layer[i]
            pad = width - k.shape[2]
            ks.append(torch.nn.functional.pad(k, (0, 0, pad, 0)) if pad else k)
            vs.append(torch.nn.functional.pad(v, (0, 0, pad, 0)) if pad else v)
        layers.append((torch.cat(ks), torch.cat(vs)))
    return DecodeState(_rebuild(states[0].cache, layers), valid, next_pos)


def gather_states(policy, parts: list, total_rows: int = 0, max_row_growth: int | None = None) -> DecodeState:
    """One state holding, in order, the rows ``index`` of each ``(state, index)`` or ``(state, index, keep)``
    of ``parts`` (``index`` ``(K,)`` long, or None for all rows; ``keep`` ``(K,)`` long ≥ 1: each chosen row
    keeps only its first ``keep`` real tokens, as by :func:`truncate_state`): :func:`concat_states` of
    ``Policy.select`` (and :func:`truncate_state`), with one copy where the cache's layers have ``stack``,
    which also leaves out the leading columns that no chosen row attends to (and a cut part's trailing ones)
    and makes spare rows for ``total_rows`` rows in all where that is more than ``stack`` makes by itself (the hint
    counted up to ``max_row_growth`` buffer rows per chosen row where given, else up to the cache layer's own bound)."""
    import torch

    first = parts[0][0].cache
    if not _offers_rows(first) or len(parts) == 1 and parts[0][1] is None and len(parts[0]) == 2:
        return concat_states(policy, [_selected(policy, *part) for part in parts])
    rows = _parts_rows(parts)  # (valid (K, W), next_pos (K,), W): W the part's columns
    width = max(w for _, _, w in rows)
    valid = torch.cat([torch.nn.functional.pad(v, (width - w, 0), value=False) for v, _, w in rows])
    next_pos = torch.cat([pos for _, pos, _ in rows])
    used = valid.any(0)
    skip = int(torch.nonzero(used).min()) if bool(used.any()) else 0  # leading columns no chosen row attends to
    cuts = [max(0, skip - (width - w)) for _, _, w in rows]  # dropped, not copied
    per_part = [_layers(part[0].cache) for part in parts]
    joint = _stack_all(first, [(of, part[0].cache, cut, w, part[1]) for part, of, (_, _, w), cut in
                               zip(parts, per_part, rows, cuts)], width - skip, total_rows, max_row_growth)
    if joint is not None:  # one joint buffer for all layers
        return DecodeState(_with_layers(first, joint), valid[:, skip:], next_pos)
    cache = [_stack(first, layer, [(k[:, :, cut:w], v[:, :, cut:w]) + (() if part[1] is None else (part[1],))
                                   for part, of, (_, _, w), cut in zip(parts, per_part, rows, cuts)
                                   for k, v in [of[layer]]], width - skip, total_rows, max_row_growth)
             for layer in range(len(per_part[0]))]
    return DecodeState(_with_layers(first, cache), valid[:, skip:], next_pos)


def _selected(policy, state: DecodeState, index, keep=None) -> DecodeState:
    """The rows ``index`` (None: all) of ``state``, cut to ``keep`` real tokens each where given."""
    chosen = state if index is None else policy.select(state, index)
    return chosen if keep is None else truncate_state(chosen, keep)


def _part_rows(state: DecodeState, index, keep=None):
    """``(key_valid (K, W), next_pos (K,), W)`` of the rows ``index`` of ``state`` (None: all), cut to ``keep``
    real tokens each where given; W: the state's columns, or, cut, through the last column a row keeps."""
    import torch

    valid = state.key_valid if index is None else state.key_valid.index_select(0, index)
    if keep is None:
        return valid, state.next_pos if index is None else state.next_pos.index_select(0, index), int(valid.shape[1])
    keep = torch.as_tensor(keep, dtype=torch.long)
    valid = valid & (valid.long().cumsum(1) <= keep[:, None])
    used = valid.any(0)
    last = int(torch.nonzero(used).max()) + 1 if bool(used.any()) else 1
    return valid[:, :last], keep.clone(), last


def _parts_rows(parts: list) -> list:
    """:func:`_part_rows` of each part, the cut parts' masks cut together: one cumulative count, one comparison and
    one search of the last column kept for all of them instead of each part's own (a fork's rows joining from
    several kept states: ≈ 7 cut parts a gather in an adaptive tree, ≈ 12 tensor operations each;
    docs/performance.md [2z]). The same masks and positions."""
    import torch

    cut = [i for i, part in enumerate(parts) if len(part) > 2 and part[2] is not None]
    if len(cut) < 2:
        return [_part_rows(*part) for part in parts]
    out: list = [None] * len(parts)
    for i, part in enumerate(parts):
        if i not in cut:
            out[i] = _part_rows(*part)
    chosen = [parts[i][0].key_valid if parts[i][1] is None else parts[i][0].key_valid.index_select(0, parts[i][1])
              for i in cut]
    wide = max(int(v.shape[1]) for v in chosen)
    valid = torch.cat([torch.nn.functional.pad(v, (0, wide - int(v.shape[1])), value=False) for v in chosen])
    keep = torch.cat([torch.as_tensor(parts[i][2], dtype=torch.long) for i in cut])
    valid = valid & (valid.long().cumsum(1) <= keep[:, None])  # as truncate_state, every cut part at once
    # each row's last column kept, plus one (0: none): a part's columns run through the last any of its rows keeps
    ends = (valid * torch.arange(1, wide + 1)).amax(1).tolist() if wide else [0] * int(valid.shape[0])
    row = 0
    for i, v in zip(cut, chosen):
        count = int(v.shape[0])
        last = max(ends[row:row + count], default=0) or 1
        out[i] = (valid[row:row + count, :last], keep[row:row + count], last)
        row += count
    return out


def has_spare_rows(state: DecodeState, k: int) -> bool:
    """Whether :func:`append_kept_rows` can add ``k`` rows to ``state`` in place (the columns aside); with ``k`` 0,
    whether its cache takes rows in place at all (copies of it get spare rows: :func:`gather_states`)."""
    cache = state.cache
    if isinstance(cache, (list, tuple)):
        return bool(cache) and hasattr(cache[0], "spare_rows") and cache[0].spare_rows() >= k
    return _offers_rows(cache) and (k == 0 or min(layer.spare_rows() for layer in cache.layers) >= k)


def append_kept_rows(state: DecodeState, sources: list, keep) -> DecodeState | None:
    """``state`` with the rows ``sources`` after its own, each cut to its first ``keep`` real tokens, written in
    place into spare rows of ``state``'s buffers (``state`` stays valid as it is), each row copied once, straight
    from its source (no merged state in between). The added rows are those of the select → concat →
    truncate path (:func:`concat_states`, :func:`truncate_state`) without their leading columns that no added
    row attends to, right-aligned under ``state``'s columns (masked zero columns in front): the same keys,
    values, mask and positions. ``sources``: ``(DecodeState, row)`` per added row (rows of one state are
    merged in order of first appearance, as by the select-and-concat it replaces); ``keep (K,)`` long ≥ 1:
    real tokens each row keeps. None where the cache cannot (its layers have no ``append_copies``, too few
    spare rows, not the latest state of its buffers) or the kept rows are wider than ``state``: the caller
    copies instead. A ``transformers`` cache (:class:`~treecredit.models.hf_cache.GrowingLayer`) comes back as a
    shallow copy whose layers own the buffers from then on (``state``'s regrow if stepped again)."""
    import torch

    cache, k = state.cache, len(sources)
    if isinstance(cache, (list, tuple)):
        targets = list(cache)
        if not (targets and hasattr(targets[0], "append_copies")):
            return None
    elif has_spare_rows(state, k):  # every layer checked first: a grown layer takes over its buffer
        targets = list(cache.layers)
    else:
        return None
    groups: dict = {}  # id(state) → (state, [row], [position among the added rows])
    for position, (source, row) in enumerate(sources):
        group = groups.get(id(source))
        if group is None:
            groups[id(source)] = group = (source, [], [])
        group[1].append(row)
        group[2].append(position)
    members = list(groups.values())
    width = max(int(s.key_valid.shape[1]) for s, _, _ in members)
    order = [position for _, _, positions in members for position in positions]
    in_order = order == list(range(k))  # rows of one state in a run each, in order: no reordering
    # one tensor for every group's rows and positions (their slices are views): a tensor per list costs more
    flat = torch.tensor([row for _, rows, _ in members for row in rows] + order, dtype=torch.long)
    valid = torch.cat([torch.nn.functional.pad(s.key_valid.index_select(0, flat[o:o + len(rows)]),
                                               (width - int(s.key_valid.shape[1]), 0), value=False)
                       for (s, rows, _), o in zip(members, _offsets(members))])  # merged order, left-padded
    keep = torch.as_tensor(keep, dtype=torch.long)
    valid = valid & (valid.long().cumsum(1) <= (keep if in_order else keep[flat[k:]])[:, None])  # as truncate_state
    used = torch.nonzero(valid.any(0))
    if not used.numel():
        return None
    first, last = int(used[0]), int(used[-1]) + 1
    n = int(state.key_valid.shape[1])
    if last - first > n:
        return None
    layers, copies = [], []
    for (s, rows, _), o in zip(members, _offsets(members)):  # source column c goes to column c + shift + n − last
        shift = width - int(s.key_valid.shape[1])
        lo = max(first, shift)
        copies.append((s.cache, flat[o:o + len(rows)], flat[k + o:k + o + len(rows)], lo - shift, n - last + lo))
    added = torch.nn.functional.pad(valid[:, first:last], (n - last + first, 0), value=False)
    if not in_order:
        added = torch.empty((k, n), dtype=torch.bool).index_copy_(0, flat[k:], added)
    valid, next_pos = torch.cat([state.key_valid, added]), torch.cat([state.next_pos, keep])
    append_layers = _joint_method(cache, "append_layers")
    if append_layers is not None:  # one copy per source for all layers, where the buffers are joint
        joint = [(_joint(of), rows, at, start, column) for of, rows, at, start, column in copies]
        if all(source is not None for source, *_ in joint):
            grown_layers = append_layers(targets, k, joint)
            if grown_layers is not None:
                return DecodeState(_with_layers(cache, grown_layers), valid, next_pos)
    copies = [(_layers(of), rows, at, start, column) for of, rows, at, start, column in copies]
    for i, kv in enumerate(targets):
        grown = kv.append_copies(k, [(*of[i], rows, at, start, column) for of, rows, at, start, column in copies])
        if grown is None:  # rows written into earlier layers' spare rows are seen by no state
            return None
        layers.append(grown)
    return DecodeState(_with_layers(cache, layers), valid, next_pos)


def append_own_rows(state: DecodeState, index) -> DecodeState | None:
    """``state`` with copies of its own rows ``index (K,)`` (long) after its rows, whole: every column, each
    copied row's mask and position, written in place into spare rows of ``state``'s buffers (``state`` stays
    valid as it is). The rows of :func:`append_kept_rows` given ``(state, row)`` sources and each row's whole
    context, without its work of merging sources, cutting rows and finding their columns: a fork's siblings
    copied from the row their parent's first child took over (:func:`treecredit.sampling.kv_stream._add_twins`).
    The leading columns that none of the copied rows attends to are zeros, not copied (as there); a masked
    column after the first one a copied row uses is copied as it is instead of as zeros: a masked key adds
    nothing to the attention either way (its weight is exactly 0). None where the cache cannot take them in place (as
    :func:`append_kept_rows`): the caller copies instead."""
    import torch

    k = int(index.shape[0])
    if not has_spare_rows(state, k):
        return None
    cache = state.cache
    targets = list(cache) if isinstance(cache, (list, tuple)) else list(cache.layers)
    if not hasattr(targets[0], "append_copies"):
        return None
    valid = state.key_valid.index_select(0, index)
    used = valid.any(0)
    first = int(used.to(torch.uint8).argmax()) if bool(used.any()) else 0  # leading columns no copied row uses:
    at = torch.arange(k)  # zeros there, not copied
    next_pos = torch.cat([state.next_pos, state.next_pos.index_select(0, index)])
    append_layers = _joint_method(cache, "append_layers")
    source = _joint(cache) if append_layers is not None else None
    if source is not None:  # one copy for all layers, where the buffers are joint
        grown_layers = append_layers(targets, k, [(source, index, at, first, first)])
        if grown_layers is not None:
            return DecodeState(_with_layers(cache, grown_layers), torch.cat([state.key_valid, valid]), next_pos)
    layers = []
    for kv, (keys, values) in zip(targets, _layers(cache)):
        grown = kv.append_copies(k, [(keys, values, index, at, first, first)])
        if grown is None:  # rows written into earlier layers' spare rows are seen by no state
            return None
        layers.append(grown)
    return DecodeState(_with_layers(cache, layers), torch.cat([state.key_valid, valid]), next_pos)


def _offsets(members: list) -> list:
    """Where each ``(state, rows, positions)`` group's rows begin among all groups' rows laid end to end."""
    offsets, o = [], 0
    for _, rows, _ in members:
        offsets.append(o)
        o += len(rows)
    return offsets


def _joined_rows(parts: list, width: int):
    """``(key_valid (K, width), next_pos (K,))`` of the rows ``index`` (None: all) of each ``(state, index)``
    of ``parts``, one after another; narrower masks are left-padded with False (masked columns)."""
    import torch

    valid = torch.cat([torch.nn.functional.pad(s.key_valid if i is None else s.key_valid.index_select(0, i),
                                               (width - s.key_valid.shape[1], 0), value=False) for s, i in parts])
    return valid, torch.cat([s.next_pos if i is None else s.next_pos.index_select(0, i) for s, i in parts])


def truncate_state(state: DecodeState, keep) -> DecodeState:
    """The state after each row's first ``keep[r]`` real tokens (``keep (B,)`` long ≥ 1)."""
    import torch

    keep = torch.as_tensor(keep, dtype=torch.long)
    valid = state.key_valid & (state.key_valid.long().cumsum(1) <= keep[:, None])
    # trailing columns masked in every row are dropped, so later steps do not attend over them
    used = valid.any(0)
    last = int(torch.nonzero(used).max()) + 1 if bool(used.any()) else 1
    cache = state.cache
    if last < valid.shape[1]:
        layers = [(k[:, :, :last], v[:, :, :last]) for k, v in _layers(cache)]
        cache, valid = _rebuild(cache, layers), valid[:, :last]
    return DecodeState(cache, valid, keep.clone())


def snapshot(state: DecodeState) -> DecodeState:
    """``state`` as it is now, valid after ``state`` is stepped again; no key or value is copied.

    The adapters' caches never write over a column they have shown (a growing buffer writes past it; see
    :mod:`treecredit.models.kv_buffer`, :mod:`treecredit.models.hf_cache`), but a ``transformers`` forward
    rebinds the keys and values of its cache's layers, so those layer objects are copied (shallow)."""
    if isinstance(state.cache, (list, tuple)):
        return state
    return DecodeState(_rebuild(state.cache, _layers(state.cache)), state.key_valid, state.next_pos)


def drop_unused_columns(state: DecodeState, share: float = 0.25) -> DecodeState:
    """``state`` without its leading key columns that no row attends to (masked in every row), when they
    are at least ``share`` of its columns (a cut view makes the adapter's next step regrow its buffer)."""
    import torch

    used = state.key_valid.any(0)
    if not bool(used.any()) or bool(used[0]):
        return state
    first = int(torch.nonzero(used).min())
    if first < share * used.shape[0]:
        return state
    layers = [(k[:, :, first:], v[:, :, first:]) for k, v in _layers(state.cache)]
    return DecodeState(_rebuild(state.cache, layers), state.key_valid[:, first:], state.next_pos)
