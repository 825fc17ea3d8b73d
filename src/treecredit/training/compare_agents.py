"""The agent side of ``treecredit compare --env``: each run's checks, the small GPT's positions (found once per
env setting) and the warm starts shared by arms alike in them, all before any run starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from treecredit.training.config import TrainConfig

if TYPE_CHECKING:
    from treecredit.training.agent_checks import HeldOut


def check_agent_run(config: TrainConfig, *, resume: bool, overwrite: bool, resume_fix: str | None = None) -> None:
    """What ``treecredit train --env`` checks of a run's folder before any work (:func:`check_out`: an earlier
    run is never overwritten, a resumed one keeps its settings); the rest is checked once per arm
    (:func:`check_agent_arm`)."""
    from treecredit.training.preflight import check_out

    check_out(config, resume=resume, overwrite=overwrite, resume_fix=resume_fix)


def check_agent_arm(config: TrainConfig) -> None:
    """What ``treecredit train --env`` checks before any work besides the folder, once for an arm's runs (they
    differ only in seed and folder): TensorBoard and the estimator's options (a dry run). The env and the other
    agent settings were checked when the arm's configs were built (``TrainConfig`` runs
    :func:`~treecredit.training.agent_preflight.check_agent_config`); the episodes' fit in the GPT's positions is
    :func:`agent_positions`', once per env setting."""
    from treecredit.training.dry_run import check_estimator_options
    from treecredit.training.preflight import check_tensorboard

    check_tensorboard(config)
    check_estimator_options(config)


def _positions_key(config: TrainConfig) -> str:
    """What :func:`agent_positions` depends on."""
    return repr((config.model, config.gguf_file, config.chat_template, config.env, sorted(config.env_options.items()),
                 config.eval_problems, sorted(config.sampler_options.items()), config.max_new_tokens))


def _agent_warm_key(config: TrainConfig, max_len: int | None) -> str:
    """What the agent warm start of ``config`` with the GPT's positions ``max_len`` depends on (the settings
    :func:`~treecredit.training.agent_loop.build_agent_policy` keys its cache by, and where it logs): arms alike
    in these share one policy, built (or loaded) once."""
    from treecredit.training.agent_loop import warm_start_env_options

    return repr((max_len, config.model, config.env, warm_start_env_options(config.env, config.env_options),
                 sorted(config.sampler_options.items()), config.eval_problems, config.max_new_tokens, config.n_layer,
                 config.n_head, config.n_embd, config.warm_start_steps, config.warm_start_batch, config.warm_start_lr,
                 config.warm_start_seed, config.cache_dir, config.progress, config.max_len, config.gguf_file,
                 config.chat_template, config.lora_rank, config.hf_warm_start_steps, config.hf_warm_start_batch,
                 config.hf_warm_start_lr))  # the last ones: a Hugging Face model's (build_policy)


class AgentSplit(NamedTuple):
    """What :func:`agent_positions` found for an env setting, handed on to :func:`warm_start_agent`."""

    max_len: int | None
    """The small GPT's positions (None for a Hugging Face model: its own)."""
    held: HeldOut | None
    """The held-out instances drawn and checked."""


def agent_positions(config: TrainConfig) -> AgentSplit:
    """The small GPT's positions for ``config``'s agent runs, with the held-out instances drawn and checked: the
    pre-flight ``train --env`` runs (:func:`~treecredit.training.agent_preflight.agent_setup`: for a Hugging Face
    model its tokenizer and config instead, and ``max_len`` None). Found once per env setting, before the warm
    start (or the model's loading) and before any run folder, and passed on to :func:`warm_start_agent`."""
    from treecredit.envs import make_env
    from treecredit.training.agent_preflight import agent_setup

    setup = agent_setup(config, make_env(config.env, **config.env_options))
    return AgentSplit(setup.max_len, setup.held)


def warm_start_agent(config: TrainConfig, log=print, split: AgentSplit | None = None):
    """The agent policy of ``config``'s runs, warm-started into the cache (as ``train_agent`` builds it);
    ``split``: the GPT's positions and the held-out instances found by :func:`agent_positions` (None: found
    here)."""
    import functools

    from treecredit.envs import make_env
    from treecredit.training.agent_loop import build_agent_policy
    from treecredit.training.agent_preflight import episode_settings

    settings, agent = episode_settings(config)
    max_len, held = split if split is not None else (None, None)
    env_fn = functools.partial(make_env, config.env, **config.env_options)  # checked with the config already
    return build_agent_policy(config, env_fn, settings, agent, log, max_len, eval_split=held)
