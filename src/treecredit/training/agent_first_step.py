"""An agent run's one step before any work (:func:`check_first_step`): the env's ``parse_action`` tried on texts
that are not actions (:func:`check_parse_action`), then one step played with the expert's (or the first valid)
action and on to the episode's end with the expert's, so that ``_step``'s return values, and the ``success`` key of
the ``info`` of the step that ends the episode, are checked whatever the warm start. Imported by
:mod:`treecredit.training.agent_checks`, which names them too."""

from __future__ import annotations

import string

import numpy as np

from treecredit._validation import fail, split_fix

SAMPLE_SEED = 20_261_201
_JUNK = np.random.default_rng(SAMPLE_SEED).choice(list(string.printable[:95]), 120)
INVALID_TEXTS = ("", "\n", "xyz", "<>3=", "hello world", "{'a': [1,", "x" + "".join(_JUNK))
"""Texts that are not valid actions, as an untrained policy writes them, on which :func:`check_parse_action`
tries an env's ``parse_action`` before any work (a ``parse_action`` doing ``int(text)`` or ``json.loads(text)``
returns None for '' but raises on the others); the expert action with text after it is tried too."""


def check_first_step(env, seed: int, listed_used: bool = True) -> str:
    """:func:`first_step`'s note ('' when the step was played)."""
    return first_step(env, seed, listed_used)[0]


def first_step(env, seed: int, listed_used: bool = True) -> tuple[str, str | None]:
    """Play one step of instance ``seed`` before any work with the env's ``expert_action()``, else the first of
    its ``valid_actions()``, so that what ``_step`` returns passes ``TextEnv``'s checks (``TextEnv.step``, the
    checks the warm start's episodes go through) whatever the warm start is: without one (a Hugging Face model,
    ``--warm-start-steps 0``) an untrained policy may write no valid action for a long time, and a bad return
    value would then drop episodes only later. ``env`` is at the first state of ``seed`` already (as
    :func:`check_signature` leaves it), so no instance is reset again. A failure stops the run (``ValueError``
    naming the env class, the call and the fix). ``parse_action`` is tried first on texts that are not valid
    actions (:func:`check_parse_action`: :data:`INVALID_TEXTS`, then the action played with text after it)
    and on the action played. When that step does not end the episode, the expert's actions are played on to its
    end (:func:`play_expert_to_end`), so that the last step's ``info['success']`` is checked too.

    Returns ``(note, action)``: ``('', the action played)`` when the step was played, else a note for the run's log
    and None: the env offers neither action (or none
    that its ``parse_action`` accepts), so ``_step`` was not checked. ``listed_used``: something of the run picks
    from ``valid_actions()`` (:func:`~treecredit.agents.options.lists_actions`), so it is checked even when the
    expert's action is played."""
    from treecredit.agents.episodes import EnvCallFailed, env_call, env_failure

    detail = f"one step of instance {seed}"
    check_parse_action(env)
    try:
        action, source = _offered_action(env, seed, listed_used)
        if action is None:
            name = type(env).__name__
            return (f"note: {name}._step's return values were not checked before any work: {name} offers no "
                    "expert_action() or valid_actions() text that its parse_action accepts, so no step could be "
                    "played (a bad return value, or an episode's last step without info['success'], drops episodes "
                    "with a warning once the policy writes a valid action). To check "
                    f"them, give {name} an expert_action() or valid_actions(), or play one step by hand: "
                    f"env.reset({seed}); env.step(<a valid action>)"), None
        check_parse_action(env, (action + " ?",))  # a parse_action that reads the action's words
        detail += f" with its {source} {action!r}"
        env_call(env, "step", action)
        detail = f"instance {seed}'s episode played on with expert_action() after {action!r}"
        played = play_expert_to_end(env)
    except EnvCallFailed as failed:
        raise env_failure(env, failed, "before any work", detail,
                          f"env.reset({seed}), then env.step(...) with a valid action") from failed.error
    note = ""
    if not getattr(env, "done", True) and getattr(env, "success_reported", None) is False and not played:
        name = type(env).__name__
        note = (f"note: {name}'s info['success'] was not checked before any work: the step played did not end the "
                f"episode and {name} has no expert_action() to play on to its end; an episode that ends without "
                "info['success'] stops the run once a checkpoint is saved, with an error that names the fix, "
                "and --resume continues after the env is fixed")
    return note, action


def play_expert_to_end(env) -> int:
    """Play the env's ``expert_action()`` from the state after the first step until the episode ends (at most
    ``max_turns`` turns), so that the step that ends an episode, the one the run reads ``info['success']`` from,
    is checked before any work (``TextEnv.step`` refuses it without the key, or with a value that is not a
    bool). Returns the number of steps played; 0 when the expert has no action (nothing more is checked). Another
    failure of a later step (an env that raises now and then) stops the play, not the run: the run drops
    such episodes with a warning."""
    from treecredit.agents.episodes import EnvCallFailed, env_call
    from treecredit.envs.base import SuccessNotReported

    played = 0
    while not getattr(env, "done", True) and played < getattr(env, "max_turns", 0):
        try:
            expert = env_call(env, "expert_action")
            if not isinstance(expert, str):
                break
            env_call(env, "step", expert)
        except EnvCallFailed as failed:  # only info['success'] is refused here; other failures drop episodes later
            if isinstance(failed.error, SuccessNotReported):
                raise
            break
        played += 1
    return played


def check_parse_action(env, texts: tuple[str, ...] = INVALID_TEXTS) -> None:
    """Refuse an env whose ``parse_action`` raises on one of ``texts``, invalid actions (it must return None: the
    turn is then a no-op with ``invalid_penalty``), naming the env class, the text and the fix; an untrained
    policy writes such text all the time, and each would drop its episode."""
    from treecredit.agents.episodes import EnvCallFailed, env_call, shown_arg

    text = ""
    try:
        for text in texts:
            env_call(env, "parse_action", text)
    except EnvCallFailed as failed:
        name, problem = type(env).__name__, split_fix(str(failed.error))[0]
        fail("env", f"{name}.parse_action({shown_arg(text)}) raised {type(failed.error).__name__}: {problem} "
             "(text that is not a valid action, tried before any work)", f"make {name}.parse_action return None "
             "for text that is not a valid action (the turn is then a no-op with invalid_penalty), never raise")


def _offered_action(env, seed: int, listed_used: bool = True) -> tuple[str | None, str]:
    """``(action text, where it came from)``: the env's ``expert_action()``, else the first of its
    ``valid_actions()``, the first that ``parse_action`` accepts; ``(None, "")`` when none is. An expert action
    that is neither None nor a str is refused (``check_expert_text``, as the warm start refuses it), and so is a
    ``valid_actions()`` that is not a list or tuple of str (``check_valid_actions``, every entry; asked even when
    the expert's action is played if ``listed_used``: the warm start's noisy expert picks from it; else only when
    the expert has no action to play). A method that raises comes back as ``EnvCallFailed``."""
    from treecredit.agents.episodes import env_call
    from treecredit.envs.base import check_expert_text, check_valid_actions

    where = f"instance {seed}, turn 0 (one step played before any work)"
    expert = env_call(env, "expert_action")
    if expert is not None:
        check_expert_text(env, expert, "it chose", where)
        if not listed_used and env_call(env, "parse_action", expert) is not None:
            return expert, "expert_action()"  # nothing of the run picks from valid_actions(): not asked
    listed = check_valid_actions(env, env_call(env, "valid_actions"), where)
    if expert is not None and env_call(env, "parse_action", expert) is not None:
        return expert, "expert_action()"
    if listed and env_call(env, "parse_action", listed[0]) is not None:
        return listed[0], "first valid_actions()"
    return None, ""
