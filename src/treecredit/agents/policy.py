"""The small GPT for text agents and its supervised warm start on scripted expert episodes.

The agent GPT reads and writes printable ASCII (one token per character) and has room for a whole
episode (``max_len`` positions). The warm start imitates an ε-noisy expert: at each turn the env's
scripted expert action, replaced with probability ``noise`` by a uniformly random valid move, and trains
by maximum likelihood on the action tokens only (observations are context). It stops at a middling policy
so that RL has something to do; the result is cached by a hash of its settings.
"""

from __future__ import annotations

import string
from pathlib import Path

from treecredit.agents.batch import pack_episodes
from treecredit.agents.episodes import EnvCallFailed, Episode, EpisodeSettings, encodable, env_call, env_failure
from treecredit.envs.base import check_expert_text, check_valid_actions

AGENT_ALPHABET = "".join(ch for ch in string.printable if ch not in "\t\r\x0b\x0c")


def agent_gpt(*, seed: int, n_layer: int, n_head: int, n_embd: int, max_len: int):
    """A fresh small GPT over :data:`AGENT_ALPHABET` with ``max_len`` positions."""
    from treecredit.models import GPTPolicy
    from treecredit.models.tokenizer import CharTokenizer

    return GPTPolicy.build(CharTokenizer(AGENT_ALPHABET), seed=seed, n_layer=n_layer, n_head=n_head,
                           n_embd=n_embd, max_len=max_len)


def scripted_episode(policy, env, seed: int, group: int, settings: EpisodeSettings, choose) -> Episode:
    """One episode of instance ``seed`` whose actions come from ``choose(env) -> text`` (no model involved).

    Tokens, masks and turn numbers are laid out exactly as :func:`treecredit.agents.play` lays them out.
    An env that raises (or returns a bad value) in ``reset``, ``step``, ``expert_action``, ``valid_actions`` or
    a signature raises ``ValueError`` naming the env class, the method, the instance, the turn and the warm
    start: its scripted episodes are its own expert's, so the run stops (an RL step drops such an episode
    instead). Only the env's own calls are blamed on it (``choose`` gets a view of the env whose method calls
    are watched): an error of the policy (encoding the text) or of ``choose`` itself is raised as it is. What
    ``valid_actions()`` returns is checked where ``choose`` asks for it (a list or tuple of str,
    ``check_valid_actions``), so a bad entry is named as ``valid_actions()``'s, not as the expert's choice.
    """
    turn, action = "reset", None
    try:
        observation = env_call(env, "reset", seed)
        prompt_text = observation + settings.turn_prefix
        ep = Episode(group, seed, encodable(policy, prompt_text), prompt_text)
        watched = _Watched(env)
        while True:
            turn, action = f"turn {ep.n_turns}", None
            watched.where = f"instance {seed}, {turn} of the warm start"
            action = choose(watched)
            check_expert_text(env, action, "the warm start's expert chose", f"instance {seed}, {turn}")
            if _scripted_turn(policy, env, ep, action, settings):
                return ep
    except EnvCallFailed as failed:  # named and re-raised: the warm start cannot go on without the env
        during = f"{turn}, action {action!r}" if action is not None else turn
        raise env_failure(env, failed, "in the warm start", f"a scripted expert episode of instance {seed}, {during}",
                          f"env.reset({seed}), then env.step(...) with its expert_action()") from failed.error


class _Watched:
    """A view of ``env`` for the expert (``choose``): its method calls go through
    :func:`~treecredit.agents.episodes.env_call`, so a failing ``expert_action()`` is the env's, a fault in
    ``choose``'s own code is not; what ``valid_actions()`` returns is checked (``where``: the instance and turn)."""

    def __init__(self, env) -> None:
        self._env, self.where = env, ""

    def __getattr__(self, name: str):
        value = getattr(self._env, name)
        if not callable(value):
            return value
        if name == "valid_actions":
            return lambda: check_valid_actions(self._env, env_call(self._env, name), self.where)
        return lambda *args: env_call(self._env, name, *args)


def _scripted_turn(policy, env, ep: Episode, action: str, settings: EpisodeSettings) -> bool:
    """Add one scripted turn to ``ep`` (its action, then the observation); True when the episode ended: by the
    env, or where :func:`~treecredit.agents.play` ends it (the next observation and action would pass
    ``max_episode_tokens``), so that a warm-start row fits the positions the GPT was sized for (it used to run on:
    TextWorld's expert episodes reached 1,600 characters against 1,280 positions, clamped without a word)."""
    ids = encodable(policy, action + settings.marker)
    ep.state_sigs.append(env_call(env, "signature"))
    ep.action_sigs.append(env_call(env, "action_signature", action))
    n = ep.n_turns
    ep.tokens += ids
    ep.logprobs += [0.0] * len(ids)
    ep.mask += [True] * len(ids)
    ep.turn += [n] * len(ids)
    ep.actions.append(action)
    observation, reward, done, info = env_call(env, "step", action)
    ep.rewards.append(reward)
    ep.observations.append(observation)
    ep.invalid += bool(info.get("invalid"))
    if done:
        ep.success, ep.truncated = bool(info.get("success")), bool(info.get("truncated"))
        return True
    ids = encodable(policy, observation + settings.turn_prefix)
    if len(ep.tokens) + len(ids) + settings.action_max_tokens > settings.max_episode_tokens:
        ep.context_cut = ep.truncated = True  # where play ends an episode: its row fits the model's positions
        return True
    ep.tokens += ids
    ep.logprobs += [0.0] * len(ids)
    ep.mask += [False] * len(ids)
    ep.turn += [-1] * len(ids)
    return False


def noisy_expert(rng, noise: float):
    """``choose(env)``: the env's expert action, or with probability ``noise`` (or when there is no expert
    action) a uniformly random one of ``env.valid_actions()``."""

    def choose(env) -> str:
        expert = env.expert_action()
        if expert is None or rng.random() < noise:
            valid = env.valid_actions()
            if valid:
                return valid[int(rng.integers(len(valid)))]
        return expert or ""

    return choose


def warm_start_agent(policy, make_env, instances, *, steps: int, batch_size: int, lr: float, seed: int,
                     noise: float, settings: EpisodeSettings, on_step=None) -> list[float]:
    """``steps`` AdamW steps of maximum likelihood on ``batch_size`` noisy-expert episodes each;
    ``on_step(loss)`` is called after each step (a progress display)."""
    import numpy as np

    from treecredit.training.warmstart import supervised_stepper

    rng = np.random.default_rng([seed, 11])
    step = supervised_stepper(policy, lr)
    choose = noisy_expert(rng, noise)
    env = make_env()
    losses = []
    for _ in range(steps):
        seeds = instances(rng, batch_size)
        episodes = [scripted_episode(policy, env, s, g, settings, choose) for g, s in enumerate(seeds)]
        batch = pack_episodes(policy, episodes, seeds).rollout
        losses.append(step(batch.prompt_ids, batch.response_ids, batch.response_mask))
        if on_step is not None:
            on_step(losses[-1])
    return losses


def cached_warm_start(settings_key: dict, build, train, cache_dir: str | Path | None, log=print, *,
                      steps: int = 0, progress: bool = False):
    """``build()`` a policy and load it from ``<cache>/agent-warmstart-<hash>.pt``, or ``train(policy, on_step)``
    and save it (progress of its ``steps`` steps as in :func:`treecredit.training.warmstart.cached_policy`)."""
    from treecredit.training.warmstart import cached_policy

    return cached_policy(settings_key, build, train, cache_dir, log, prefix="agent-warmstart",
                         training=f"{steps} supervised steps on expert episodes", steps=steps, progress=progress)
