"""An agent run's ``--sampler-option`` values (``TrainConfig.sampler_options``): :class:`~treecredit.agents.
EpisodeSettings` fields (``max_episode_tokens``, ``marker``, ``fork_at``, ...) and the run's own options
(:data:`AGENT_OPTIONS`: the warm start's ``expert_noise``, the small GPT's ``max_len``).

:func:`split_sampler_options` splits them and converts each value to the type of its default, as an env's
``--env-option`` values are (:func:`treecredit.envs.options.converted`, the one conversion): ``max_episode_tokens=
"400"`` → 400, ``max_episode_tokens=1e9`` → 1000000000; a value that does not convert (``abc``, ``10.5`` or
``true`` for an int, ``null``, ``nan``) is refused before any work, naming ``sampler_options``, the flag, the option,
its type and the fix as a flag and in Python. A str option given a number is that number's text (``marker=5`` is the
marker ``"5"``), as a str env option is.
"""

from __future__ import annotations

import inspect

from treecredit._validation import did_you_mean, fail

DEFAULT_EXPERT_NOISE = 0.3
"""The warm start's ε: the share of the scripted expert's actions replaced by a random valid action."""
AGENT_OPTIONS = ("expert_noise", "max_len")
"""Sampler options of an agent run that are no :class:`~treecredit.agents.EpisodeSettings` field."""
NOT_OPTIONS = ("temperature", "top_p", "action_max_tokens")
"""EpisodeSettings fields that train flags set (``--temperature``, ``--top-p``, ``--max-new-tokens``)."""


def _parameters(defaults: dict) -> dict[str, inspect.Parameter]:
    """Keyword-only parameters named as ``defaults``' keys with their values as defaults (what
    :func:`~treecredit.envs.options.converted` converts a value to the type of)."""
    return {name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, default in defaults.items()}


def _agent_parameters() -> dict[str, inspect.Parameter]:
    """:data:`AGENT_OPTIONS` as parameters with the defaults their values are converted to (``max_len``'s 768 is
    the small GPT's default positions, :data:`~treecredit.training.agent_checks.DEFAULT_MAX_LEN`: its type, int,
    is what counts)."""
    from treecredit.training.agent_checks import DEFAULT_MAX_LEN

    return _parameters({"expert_noise": DEFAULT_EXPERT_NOISE, "max_len": DEFAULT_MAX_LEN})


def episode_parameters() -> dict[str, inspect.Parameter]:
    """The :class:`~treecredit.agents.EpisodeSettings` fields a ``--sampler-option`` sets (less :data:`NOT_OPTIONS`),
    as parameters whose defaults are :data:`~treecredit.agents.episodes.EPISODE_DEFAULTS`'."""
    from treecredit.agents.episodes import EPISODE_DEFAULTS

    return _parameters({name: value for name, value in EPISODE_DEFAULTS.items() if name not in NOT_OPTIONS})


def split_sampler_options(options: dict) -> tuple[dict, dict]:
    """``(EpisodeSettings fields, agent options)`` from an agent run's ``sampler_options``, each value converted
    to its default's type (module docstring); an unknown key or a value that does not convert is a
    ``ValueError`` naming ``sampler_options`` and ``--sampler-option``."""
    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs.options import converted
    from treecredit.training.config import option_flag_named
    from treecredit.training.config_values import TypedOptions

    episode, agent = episode_parameters(), _agent_parameters()
    unknown = sorted(set(options) - set(episode) - set(agent))
    if unknown:
        known = sorted([*episode, *agent])
        fail("sampler_options", f"has {unknown}, not options of the agent sampler"
             f"{did_you_mean(unknown[0], known)}", f"use some of {known}")
    python = "sampler_options={{{name!r}: {value}}}"
    with option_flag_named(options, "sampler_options", "--sampler-option", "agent episodes"):
        episode_options = converted(EpisodeSettings, {k: v for k, v in options.items() if k in episode}, episode,
                                    flag="--sampler-option", where="in EpisodeSettings", python=python)
        agent_options = converted(EpisodeSettings, {k: v for k, v in options.items() if k in agent}, agent,
                                  flag="--sampler-option", where="among an agent run's options", python=python)
    typed = getattr(options, "typed", {})  # the texts typed (--sampler-option max_len=1e9), for later errors
    return TypedOptions(episode_options, typed), TypedOptions(agent_options, typed)


def lists_actions(config, agent: dict) -> bool:
    """Whether a run of ``config`` (``agent``: its agent options, :func:`split_sampler_options`) picks from the
    env's ``valid_actions()`` beyond a turn whose expert has no action: only the small GPT's warm start does, at
    ``expert_noise`` > 0 (the share of expert actions replaced by a random valid one). Otherwise the pre-flight
    does not ask ``valid_actions()`` when the expert's action can be played."""
    return config.model == "gpt" and config.warm_start_steps > 0 and agent.get("expert_noise", DEFAULT_EXPERT_NOISE) > 0
