"""An agent run's checks before any work: its config (:func:`check_agent_config`, run by ``TrainConfig``), its
episode settings (:func:`episode_settings`) and the one pre-flight of its env and model (:func:`agent_setup`:
the held-out instances drawn and checked, the small GPT's positions or a Hugging Face model's tokenizer and
config), shared by ``treecredit train --env`` (:func:`~treecredit.training.agent_loop.train_agent`) and
``treecredit compare --env`` (:func:`~treecredit.training.compare_agents.agent_positions`)."""

from __future__ import annotations

from typing import NamedTuple

from treecredit._validation import fail
from treecredit.agents.options import split_sampler_options
from treecredit.training.agent_checks import HeldOut, check_room


def _check_token_estimator(name: str) -> None:
    """Refuse a token-level estimator that needs Monte Carlo values (``vine``): agent episodes have none (no
    rollouts from each prefix), and the run would stop at its first step, after the warm start."""
    import treecredit

    spec = treecredit.get_estimator(name)
    if spec.needs("mc_values"):
        fail("estimator", f"{name!r} needs Monte Carlo values of each prefix (mc_values), which agent episodes "
             f"(--env) do not produce", "use a turn-level estimator (--estimator "
             f"{', '.join(treecredit.estimators('turn'))}) or another token-level one, e.g. --estimator tempo")


def check_agent_config(config) -> None:
    """Validate the agent parts of a ``TrainConfig`` (env, its options, estimator, sampler options).

    Also sets three of its values: ``env_options`` converted as the env gets them (``{"length": "5"}`` or ``5.0``
    from Python is recorded in config.json as 5, as ``--env-option length=5`` is); ``module_folders`` gets the
    folder a ``module:Class`` env was imported from (so a resumed run or a ``compare`` worker imports it from any
    folder); and a default ``eval_problems`` is sized for an env with a finite number of instances
    (:func:`~treecredit.training.agent_checks.sized_eval_problems`: a quarter of ``textworld``'s pool)."""
    from treecredit.agents.credit import estimator_level
    from treecredit.agents.forks import check_fork_turns
    from treecredit.agents.options import DEFAULT_EXPERT_NOISE
    from treecredit.envs import env_option_values, make_env, module_folder
    from treecredit.rewards.load import add_module_folders
    from treecredit.training.agent_checks import size_eval_problems
    from treecredit.training.config import option_flag_named

    if estimator_level(config.estimator) == "token":
        _check_token_estimator(config.estimator)
    add_module_folders(config.module_folders)  # a resumed run: where its module:Class env was imported from
    with option_flag_named(config.env_options, "env_options", "--env-option", f"env {config.env!r}"):
        env = make_env(config.env, **config.env_options)
        config.env_options = env_option_values(config.env, config.env_options)  # as the env got them: "5" → 5
    config.module_folders = {**config.module_folders, **module_folder(config.env)}
    size_eval_problems(config, env)
    with option_flag_named(config.sampler_options, "sampler_options", "--sampler-option", "agent episodes"):
        settings, agent = episode_settings(config, decoding=False)  # TrainConfig checks its decoding flags next
        settings.roots(config.group_size)
        check_fork_turns(settings.fork_at, getattr(env, "max_turns", None))
        if "fork_children" in config.sampler_options and not settings.fork_at:
            fail("fork_children", "sets the copies of each fork, but fork_at names no turn, so no episode forks",
                 "add --sampler-option fork_at=[1] (turns before which episodes fork), or drop fork_children")
        noise = agent.get("expert_noise", DEFAULT_EXPERT_NOISE)  # a float: split_sampler_options converted it
        if not 0 <= noise <= 1:
            fail("expert_noise", f"is {noise!r}, must be in [0, 1]", "pass --sampler-option expert_noise=0.3")
        if config.model != "gpt" and "max_len" in agent:
            fail("max_len", "sets the small GPT's positions; a Hugging Face model (--model) has its own "
                 "(max_position_embeddings)", "drop --sampler-option max_len")
    if getattr(config, "hf_warm_start_steps", 0):
        fail("hf_warm_start_steps", "warm-starts a Hugging Face model on a task's worked solutions; agent runs "
             "(--env) have no such warm start for it yet", "drop --hf-warm-start-steps")


def check_hf_agent_model(config, held: HeldOut, settings, probe=None):
    """A Hugging Face ``--model`` of an agent run, checked before the run folder is touched (as a task run's,
    :mod:`treecredit.training.context`), from its tokenizer and config without loading its weights: the tokenizer
    against the model's vocabulary and end of sequence, and the longest held-out first observation (``held``, as
    :func:`eval_instances` drew them, encoded as the episodes encode it) plus ``max_episode_tokens`` against the
    model's positions (:func:`check_room`), the fix naming the largest ``max_episode_tokens`` that fits; and, with
    ``probe`` (the env the checks played one step of), that the tokenizer gives back the action played there
    (:func:`~treecredit.training.agent_tokenizer.check_round_trip`). Returns the model's
    :func:`~treecredit.training.agent_room.hf_room` for the training instances' draws (None when its config names
    no positions)."""
    from treecredit.models.hf_policy import token_counts
    from treecredit.training.config import option_flag_named
    from treecredit.training.context import checked_model_files

    tokenizer, model_config, limit = checked_model_files(config)
    if probe is not None:
        from treecredit.training.agent_tokenizer import check_round_trip

        check_round_trip(tokenizer, config.model, probe, held.action, settings)
    if limit is None:  # its config names no positions: no limit known
        return None
    prompts = [observation + settings.turn_prefix for observation in held.observations.values()]
    longest = max(token_counts(tokenizer, prompts, add_special_tokens=False))  # HFPolicy.encode's ids
    fits = limit - longest  # what check_room accepts: longest + max_episode_tokens <= limit (no start token)
    fix = (f"pass --sampler-option max_episode_tokens={fits} or less (the largest that fits), or a model with "
           "more positions" if fits >= 1 else "pass a model with more positions (the first observation alone "
           "fills them)")
    if 1 <= fits < settings.action_max_tokens:  # the first action alone would not fit
        fix = f"pass --max-new-tokens {fits} or less and --sampler-option max_episode_tokens={fits} or less, or a " \
              "model with more positions"
    with option_flag_named(config.sampler_options, "sampler_options", "--sampler-option", "agent episodes"):
        check_room("max_episode_tokens", limit, longest, settings, "tokens", fix)
    from treecredit.models.hf_load import text_config
    from treecredit.training.agent_room import hf_room

    field = "n_positions" if hasattr(text_config(model_config), "n_positions") else "max_position_embeddings"
    return hf_room(settings, tokenizer, limit, config.model, field)


def episode_settings(config, *, decoding: bool = True):
    """``(settings, agent)``: the :class:`~treecredit.agents.EpisodeSettings` of ``config``'s episodes
    (``--temperature``, ``--top-p``, ``--max-new-tokens`` as ``action_max_tokens``, and the ``--sampler-option``
    fields) and its agent options (:data:`~treecredit.agents.options.AGENT_OPTIONS`, converted), as
    :func:`~treecredit.agents.options.split_sampler_options` splits them. Raises its ``ValueError``\\ s.
    ``decoding=False`` leaves temperature and top-p at their defaults: :func:`check_agent_config` runs before
    ``TrainConfig`` checks those flags, which then refuses them in its own words."""
    from treecredit.agents.episodes import EpisodeSettings

    episode_options, agent = split_sampler_options(config.sampler_options)
    sampling = {"temperature": config.temperature, "top_p": config.top_p} if decoding else {}
    settings = EpisodeSettings(**sampling, action_max_tokens=config.max_new_tokens, **episode_options)
    return settings, agent


class AgentSetup(NamedTuple):
    """What :func:`agent_setup` found for an agent run."""

    settings: object
    """The episodes' :class:`~treecredit.agents.EpisodeSettings` (:func:`episode_settings`)."""
    agent: dict
    """The agent options (``expert_noise``, ``max_len``), converted."""
    held: HeldOut
    """The held-out instances drawn and checked (:func:`~treecredit.training.agent_checks.eval_instances`)."""
    max_len: int | None
    """The small GPT's positions (:func:`~treecredit.training.agent_checks.gpt_positions`); None for a Hugging
    Face model (its own, checked by :func:`check_hf_agent_model`)."""
    room: object = None
    """``room(seed, first observation)`` for the training instances' draws
    (:class:`~treecredit.training.agent_room.Room`: the small GPT's or the Hugging Face model's positions; None
    when the model's config names none)."""


def agent_setup(config, probe) -> AgentSetup:
    """The pre-flight of ``config``'s agent episodes, before the warm start (or the model's loading) and before
    any run folder: the settings (:func:`episode_settings`), the held-out instances drawn from ``probe`` (an env
    made from ``config.env`` and ``config.env_options``; each distinct one reset once, and the env's checks,
    :func:`~treecredit.training.agent_checks.eval_instances`), then the small GPT's positions
    (:func:`~treecredit.training.agent_checks.gpt_positions`, which refuses a ``--sampler-option max_len`` the
    episodes do not fit in) or, for a Hugging Face ``--model``, its tokenizer and config against the held-out first
    observations (:func:`check_hf_agent_model`); last, a run whose every training instance of a seeded sample is
    longer than those positions is refused (:func:`~treecredit.training.agent_room.check_training_room`). Raises
    ``ValueError`` naming the argument and the fix."""
    from treecredit.agents.options import lists_actions
    from treecredit.training.agent_checks import eval_instances, gpt_positions
    from treecredit.training.agent_room import check_training_room, gpt_room

    settings, agent = episode_settings(config)
    held = eval_instances(probe, config.eval_problems, lists_actions(config, agent))
    if config.model != "gpt":  # its tokenizer and config, without its weights
        room = check_hf_agent_model(config, held, settings, probe)
        max_len = None
    else:
        max_len = gpt_positions(held, settings, agent)  # one character, one token
        room = gpt_room(settings, max_len, "max_len" in agent)
    check_training_room(probe, held.keys, room)
    return AgentSetup(settings, agent, held, max_len, room)
