"""Forks that cannot happen: a ``fork_at`` turn no episode reaches leaves its groups smaller than ``group_size``.

:func:`check_fork_turns` refuses, before any work, a fork turn at or past the env's turn limit (``max_turns``);
:func:`unforked_slots` counts, after a step, the group places left empty because episodes ended before a fork
(for an env without a known limit, or episodes that end early), so the run can say so.
"""

from __future__ import annotations

from treecredit._validation import fail


def check_fork_turns(fork_at: tuple, max_turns) -> None:
    """Refuse a ``fork_at`` turn that no episode reaches: with a turn limit K (``max_turns``) the turns are
    0 … K−1, so a fork before turn K or later never happens and every group would come out smaller than
    ``group_size``. An env without a known limit (no int ``max_turns``) is left to :func:`unforked_slots`."""
    if not isinstance(max_turns, int) or isinstance(max_turns, bool):
        return
    late = [t for t in fork_at if t >= max_turns]
    if late:
        fail("fork_at", f"has turn(s) {late}, but the env ends every episode after {max_turns} turns (turns 0 to "
             f"{max_turns - 1}), so no episode forks there and every group would shrink",
             f"pass --sampler-option fork_at=[t] with t at most {max_turns - 1} (the largest turn allowed), or "
             f"raise the env's turn limit (--env-option max_turns=...)")


def unforked_slots(episodes: list, settings) -> int:
    """How many places of the groups stayed empty because episodes ended before a fork turn.

    An episode of ``n`` actions went through the forks at turns below ``n``; each fork it missed would have
    made ``fork_children`` copies of it, so it stands for ``fork_children ** missed`` places and fills one.
    Episodes dropped by env errors are not counted here (they are ``dropped_episodes``)."""
    if not settings.fork_at:
        return 0
    empty = 0
    for ep in episodes:
        missed = sum(1 for t in settings.fork_at if t >= len(ep.actions))
        empty += settings.fork_children ** missed - 1
    return empty
