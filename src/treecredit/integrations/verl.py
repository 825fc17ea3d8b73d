"""treecredit estimators in verl's advantage-estimator registry, as ``treecredit_<name>``.

Importing this module (with verl installed) registers one verl estimator per token-level treecredit
estimator, e.g. ``algorithm.adv_estimator=treecredit_tempo``. Each converts verl's batch layout and
calls :func:`treecredit.compute_advantages`; nothing else:

    verl                                  treecredit
    token_level_rewards (B, T)      ->    rewards (B,) = Σ_t token_level_rewards[i, t]
    response_mask (B, T)            ->    response_mask (B, T)
    index (B,) = uid of the prompt  ->    group_ids (B,)
    responses (B, T) token ids      ->    response_ids (B, T)
    advantages (B, T)               <-    compute_advantages(...)   (returns = advantages, as verl's GRPO)

Options come from ``algorithm.treecredit_options`` (a dict in verl's config, e.g.
``+algorithm.treecredit_options.delimiter=[198]``) over those bound by :func:`make_adv_estimator`.

Token ids. verl 0.9.1's ``compute_advantage`` passes a custom estimator only ``token_level_rewards``,
``response_mask``, ``index``, ``config`` (and ``reward_baselines`` when present), not the response
token ids that the tree estimators build their tries from. :func:`pass_response_ids` wraps the legacy
trainer's ``compute_advantage`` (``trainer.use_v1=False``) so that the ids in ``data.batch["responses"]``
reach the estimator; verl 0.9.1's v1 trainer fetches only a fixed list of fields for the advantage step
and has no way to hand the ids over. Without ids the estimator raises a ``ValueError`` that says so.
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable

import numpy as np

from treecredit._validation import fail
from treecredit.api import compute_advantages
from treecredit.integrations import is_verl_available
from treecredit.registry import estimators, get_estimator

PREFIX = "treecredit_"
CONFIG_KEY = "treecredit_options"

# The response ids of the batch whose advantages verl is computing, set by `pass_response_ids`' wrapper.
_RESPONSE_IDS: contextvars.ContextVar = contextvars.ContextVar("treecredit_verl_response_ids", default=None)


def verl_advantages(estimator: str, *, token_level_rewards, response_mask, index, responses, **options):
    """verl's layout in, ``(advantages, returns)`` out, both ``(B, T)`` on the rewards' device.

    Args:
        estimator: a token-level treecredit name (``"tempo"``, ``"grpo"``, ...).
        token_level_rewards: ``(B, T)`` float tensor; a response's reward is the sum over its tokens
            (verl puts the score on the last response token, plus any in-reward KL terms).
        response_mask: ``(B, T)`` 0/1 tensor, 1 on the response tokens that are trained.
        index: ``(B,)`` the prompt uid of each response (verl's ``non_tensor_batch["uid"]``).
        responses: ``(B, T)`` int tensor of response token ids (verl's ``batch["responses"]``).
        **options: options of ``estimator``.
    """
    if responses is None:
        fail("responses", "verl did not pass the response token ids, which treecredit estimators need",
             "use verl's legacy trainer (trainer.use_v1=False) and call "
             "treecredit.integrations.verl.pass_response_ids() in the trainer process (see docs/integrations.md)")
    if index is None:
        fail("index", "verl passed no prompt uids (non_tensor_batch['uid'])",
             "keep the uid that verl's RayPPOTrainer adds to every batch")
    rewards = token_level_rewards.sum(dim=-1)  # (B, T) -> (B,)
    advantages = compute_advantages(
        estimator,
        response_ids=responses,
        response_mask=response_mask,
        rewards=rewards,
        group_ids=np.asarray(index),
        **options,
    ).to(token_level_rewards.device)
    return advantages, advantages


def _config_options(config: Any) -> dict:
    """The dict at ``config.treecredit_options`` as plain Python values (empty when absent)."""
    if config is None:
        return {}
    options = config.get(CONFIG_KEY, None) if hasattr(config, "get") else getattr(config, CONFIG_KEY, None)
    if options is None:
        return {}
    if type(options).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        options = OmegaConf.to_container(options, resolve=True)
    if not isinstance(options, dict):
        fail(f"algorithm.{CONFIG_KEY}", f"is a {type(options).__name__}, not a mapping",
             "give a mapping of option names to values, e.g. +algorithm.treecredit_options.tau=0.5")
    return dict(options)


def make_adv_estimator(estimator: str, **options) -> Callable:
    """A function with verl's advantage-estimator signature that runs treecredit ``estimator``.

    ``options`` are bound now (checked against the estimator's options); ``algorithm.treecredit_options``
    in verl's config overrides them per run.
    """
    get_estimator(estimator).check_options(options)

    def adv_fn(token_level_rewards, response_mask, index=None, config=None, responses=None, **_verl_extras):
        ids = responses if responses is not None else _RESPONSE_IDS.get()
        merged = {**options, **_config_options(config)}
        return verl_advantages(estimator, token_level_rewards=token_level_rewards, response_mask=response_mask,
                               index=index, responses=ids, **merged)

    adv_fn.__name__ = f"{PREFIX}{estimator}"
    adv_fn.__doc__ = f"treecredit {estimator!r} as a verl advantage estimator (see treecredit.integrations.verl)."
    adv_fn.treecredit_estimator = estimator
    return adv_fn


def register(names: list[str] | None = None) -> list[str]:
    """Register ``treecredit_<name>`` in verl for each name (default: every token-level estimator).

    Idempotent: a name that already holds a treecredit estimator is left as it is. Returns the verl names.
    """
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    registered = []
    for name in estimators("token") if names is None else names:
        verl_name = f"{PREFIX}{name}"
        held = ADV_ESTIMATOR_REGISTRY.get(verl_name)
        if getattr(held, "treecredit_estimator", None) != name:
            register_adv_est(verl_name)(make_adv_estimator(name))
        registered.append(verl_name)
    return registered


def pass_response_ids() -> None:
    """Make verl's legacy ``compute_advantage`` hand ``data.batch["responses"]`` to treecredit estimators.

    Wraps ``verl.trainer.ppo.ray_trainer.compute_advantage``: the wrapper records the batch's response
    ids for the duration of the call and then runs verl's own function unchanged. Call it once in the
    process that runs the trainer's ``fit`` (verl's TaskRunner). Idempotent.
    """
    from verl.trainer.ppo import ray_trainer

    original = ray_trainer.compute_advantage
    if getattr(original, "treecredit_wrapped", False):
        return

    def compute_advantage(data, *args, **kwargs):
        ids = data.batch["responses"] if "responses" in data.batch.keys() else None
        token = _RESPONSE_IDS.set(ids)
        try:
            return original(data, *args, **kwargs)
        finally:
            _RESPONSE_IDS.reset(token)

    compute_advantage.__doc__ = original.__doc__
    compute_advantage.treecredit_wrapped = True
    ray_trainer.compute_advantage = compute_advantage


if is_verl_available():
    register()
