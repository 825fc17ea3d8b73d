"""Whether an agent env's ``reset(seed)`` is deterministic, checked before any work from resets the run makes
anyway and one more (:func:`treecredit.training.agent_checks.eval_instances`: the first held-out instance and
the second): ``play`` prefills one prompt per instance and
copies it to each of its episodes, and forks (``restore``) replay from ``reset``, so an unseeded draw in ``reset``
would train on prompts the policy never saw (review40 2, 2026-12-03)."""

from __future__ import annotations

from typing import Any

from treecredit._validation import fail


def first_state_key(env) -> Any:
    """``env.state_key()`` right after a reset, for :func:`check_reset_repeats`; None when it raises (left to
    :func:`~treecredit.training.agent_checks.check_signature`, which names it)."""
    try:
        return env.state_key()
    except Exception:  # noqa: BLE001 - named by check_signature
        return None


def _same_key(a: Any, b: Any) -> bool:
    """``state_key()``\\ s ``a`` and ``b`` equal by their canonical form (True when either has none: then
    :func:`~treecredit.training.agent_checks.check_signature` refuses the env)."""
    from treecredit.signatures import state_signature

    try:
        return state_signature(a) == state_signature(b)
    except Exception:  # noqa: BLE001 - no canonical form: check_signature names that
        return True


def check_reset_repeats(env, seed: int, first: str, first_key: Any, again: str) -> None:
    """Refuse an env whose ``reset(seed)`` is not deterministic: ``env``, just reset to instance ``seed`` again
    (first observation ``again``; :func:`~treecredit.training.agent_checks.check_signature`'s reset, so no reset is
    added), must show the first observation ``first`` and ``state_key()`` ``first_key`` of the reset that drew it
    (None: not compared).
    ``play`` prefills one prompt per instance and copies it to each of its episodes, and forks (``restore``)
    replay from ``reset``: an unseeded draw in ``reset`` would train on prompts the policy never saw."""
    name = type(env).__name__
    fix = (f"seed your RNG from `seed` in {name}._reset (e.g. `self.rng = random.Random(seed)`, or "
           "`np.random.default_rng(seed)`), so that the same seed is the same instance, and do not let the first "
           "observation or state_key() depend on earlier resets: counters, state kept from the previous instance")
    if again != first:
        fail(f"{name}.reset", f"returned two different first observations for instance {seed} "
             f"({first!r:.80} and then {again!r:.80})", fix)
    key = first_state_key(env)
    if first_key is not None and key is not None and not _same_key(first_key, key):
        fail(f"{name}.reset", f"left two different states for instance {seed} (state_key() "
             f"{first_key!r:.80} and then {key!r:.80}), with the same first observation", fix)
