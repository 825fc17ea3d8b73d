"""Multi-turn episodes: a policy plays text environments turn by turn, with one KV cache per episode.

Layout of an episode's tokens (one row of the trainer's batch)::

    prompt:   <first observation> + turn_prefix
    response: <action 0> <marker> <observation 1> turn_prefix <action 1> <marker> ... <action K−1> <marker>

Action tokens (the marker included) are generated and trained (``response_mask`` 1); observation tokens
are appended to the cache and sit in the prefix with ``response_mask`` 0. The final observation is not
appended (nothing is generated after it).

Trees of episodes: ``fork_at`` turns split every live episode into ``fork_children`` copies before that
turn (the decoding state by ``Policy.select``, the env by ``snapshot``/``restore``), so the episodes of
a group share their turns before the fork on purpose. ``group_size`` must equal
``roots × fork_children ** len(fork_at)``.

Bad input: an env that raises in ``reset``, ``step``, a signature (``state_key()``), ``snapshot`` or ``restore``
at any turn, or returns a bad value there (``TextEnv`` checks them), drops that episode (a warning naming the
env class, the method, the instance, the turn and the error; the others go on: the run counts them as
``dropped_episodes`` and stops after a few steps in a row whose every episode was dropped); an episode
whose first observation differs from that of its instance's first episode (a ``reset(seed)`` that is not
deterministic: one prompt per instance is prefilled for all its episodes) is dropped the same way; an action
without the marker is cut at ``action_max_tokens`` and counted (the marker is then put in front of the
next observation, untrained, so the layout stays the same); an episode whose tokens would exceed
``max_episode_tokens`` ends there (``truncated``, counted as ``context_cut``).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from treecredit.agents.decode import decode_actions, extend_state, keep_rows
from treecredit.agents.env_calls import PARSE_HINT as PARSE_HINT
from treecredit.agents.env_calls import DroppedEpisode as DroppedEpisode
from treecredit.agents.env_calls import EnvCallFailed as EnvCallFailed
from treecredit.agents.env_calls import call_or_drop
from treecredit.agents.env_calls import env_call as env_call
from treecredit.agents.env_calls import env_failure as env_failure
from treecredit.agents.env_calls import shown_arg as shown_arg
from treecredit.agents.episode_records import EPISODE_DEFAULTS as EPISODE_DEFAULTS
from treecredit.agents.episode_records import Episode, EpisodeSettings
from treecredit.agents.positions import check_play_room


def encodable(policy, text: str) -> list[int]:
    """Ids of ``text``; characters a fixed-alphabet tokenizer cannot encode become ``?`` (or are dropped)."""
    try:
        return policy.encode(text)
    except ValueError:
        out = []
        for ch in text:
            try:
                out.extend(policy.encode(ch))
            except ValueError:
                try:
                    out.extend(policy.encode("?"))
                except ValueError:
                    pass
        return out


def stop_ids(policy, marker: str) -> list[int]:
    """Every eos id (``policy.eos_ids`` when it has them) plus the marker's id when the marker is one token."""
    ids = encodable(policy, marker)
    return list(getattr(policy, "eos_ids", [policy.eos_id])) + (ids if len(ids) == 1 else [])


def play(policy, make_env: Callable[[], Any], seeds: list[int], group_size: int, generator,
         settings: EpisodeSettings | None = None, *, keep_states: bool = False, log=None) -> tuple[list, int]:
    """Play ``group_size`` episodes of each instance in ``seeds``; returns ``(episodes, generated_tokens)``.

    Episodes of instance ``seeds[g]`` have ``group == g``; dropped episodes (env errors in ``reset``, ``step``,
    a signature, ``snapshot`` or ``restore``, each warned about by ``log``) are left out.
    ``generated_tokens`` counts tokens decoded, a forked prefix once.

    Raises ``ValueError`` (naming ``settings`` or ``seeds`` and the fix) after the resets and before any decoding
    when an instance's first observation plus ``max_episode_tokens`` (or the first action's ``action_max_tokens``)
    would pass the policy's positions (the small GPT's ``max_len``, a Hugging Face model's
    ``max_position_embeddings``: :func:`~treecredit.agents.positions.check_play_room`).
    """
    import torch

    settings = settings or EpisodeSettings()
    roots = settings.roots(group_size)
    warn = log or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=3))
    episodes, envs = [], []
    for group, seed in enumerate(seeds):
        for _ in range(roots):
            env = make_env()
            ep = Episode(group, seed, [], "")
            observation = call_or_drop(ep, env, warn, 0, "reset", seed)
            if not ep.error:
                ep.prompt_text = observation + settings.turn_prefix
                ep.prompt_ids = encodable(policy, ep.prompt_text)
            envs.append(env)
            episodes.append(ep)
    live = [row for row, ep in enumerate(episodes) if not ep.error]
    try:  # rows that could pass the policy's positions: refused before decoding, the envs closed
        check_play_room(policy, settings, {episodes[row].seed: episodes[row].prompt_ids for row in live})
    except ValueError:
        _close(envs)
        raise
    first: dict[int, int] = {}  # group -> its prefill row: one prefill per instance, copied to its episodes
    prompts: dict[int, Episode] = {}  # group -> the episode whose prompt is prefilled
    for row in list(live):
        ep = episodes[row]
        if prompts.setdefault(ep.group, ep).prompt_ids != ep.prompt_ids:  # reset(seed) not deterministic
            _drop_other_prompt(ep, envs[row], prompts[ep.group], settings, warn, row % roots, roots)
            live.remove(row)
            continue
        first.setdefault(ep.group, len(first))
    stops = stop_ids(policy, settings.marker)
    # the last token of an action goes into the cache with the next observation, in one forward, unless the
    # policy appends observations itself (``policy.extend``)
    defer_last = not hasattr(policy, "extend")
    was_training = policy.module.training
    policy.module.eval()
    generated = 0
    try:
        with torch.no_grad():
            if live:
                logits, state = policy.prefill([episodes[next(r for r in live if episodes[r].group == g)].prompt_ids
                                                for g in first])
                rows = torch.as_tensor([first[episodes[row].group] for row in live], dtype=torch.long)
                logits, state = logits.index_select(0, rows), policy.select(state, rows)
            turn = 0
            while live:
                if turn in settings.fork_at:
                    live, logits, state = _fork(policy, make_env, live, logits, state, episodes, envs,
                                                settings.fork_children, warn, turn)
                signed = [r for r, row in enumerate(live) if _record_state(episodes[row], envs[row], keep_states, warn)]
                if not signed:
                    break
                if len(signed) < len(live):  # a signature failed: those episodes are dropped before decoding
                    logits, state = logits[signed], keep_rows(policy, state, signed)
                    live = [live[r] for r in signed]
                tokens, logps, stopped, logits, state, pending = decode_actions(
                    policy, logits, state, stop_ids=stops, marker=settings.marker,
                    max_tokens=settings.action_max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                    generator=generator, defer_last=defer_last)
                keep, appended = [], []
                for r, row in enumerate(live):
                    generated += len(tokens[r])
                    observation = _take_turn(policy, episodes[row], envs[row], tokens[r], logps[r], bool(stopped[r]),
                                             settings, warn)
                    if observation is not None:
                        cut = "" if bool(stopped[r]) else settings.marker  # close a cut action in the prefix
                        ids = encodable(policy, cut + observation + settings.turn_prefix)
                        if len(episodes[row].tokens) + len(ids) + settings.action_max_tokens \
                                > settings.max_episode_tokens:
                            episodes[row].context_cut = episodes[row].truncated = True
                            continue
                        _add_observation(episodes[row], ids)
                        keep.append(r)
                        appended.append(tokens[r][-1:] * bool(pending[r]) + ids)  # the action's last token, if pending
                if not keep:
                    break
                # a row given nothing (an empty observation with turn_prefix="", its action's last token already
                # in the cache) keeps the logits after its history; no forward at all when no row has tokens
                logits, state = extend_state(policy, keep_rows(policy, state, keep), appended,
                                             held=logits.index_select(0, torch.as_tensor(keep, dtype=torch.long)))
                live = [live[r] for r in keep]
                turn += 1
    finally:
        policy.module.train(was_training)
        _close(envs)
    return [ep for ep in episodes if not ep.error], generated


def _close(envs: list) -> None:
    for env in envs:
        if hasattr(env, "close"):
            env.close()


def _drop_other_prompt(ep: Episode, env, shown: Episode, settings: EpisodeSettings, warn, index: int,
                       roots: int) -> None:
    """Drop ``ep`` (episode ``index`` of the ``roots`` of its group), whose first observation differs from that of
    ``shown`` (the group's first episode, whose prompt is prefilled once for all of them): its actions would be
    sampled under a prompt it does not have. The warning says which episode and group, why, and the fix."""
    name = type(env).__name__
    cut = len(settings.turn_prefix)
    mine, theirs = ep.prompt_text[:len(ep.prompt_text) - cut], shown.prompt_text[:len(shown.prompt_text) - cut]
    error = ValueError(
        f"{name}.reset({ep.seed}) returned {mine!r:.80} for this episode but {theirs!r:.80} for the one whose prompt "
        f"the group prefills. Fix: make {name}.reset(seed) deterministic: draw everything random in {name}._reset "
        "from an RNG seeded with `seed` (e.g. `self.rng = random.Random(seed)` or `np.random.default_rng(seed)`, not "
        "the global `random` or an RNG made once in __init__), and do not let the first observation depend on earlier "
        f"resets (counters, state kept from the previous instance); check it by hand: env.reset({ep.seed}) twice must "
        "give the same text")
    ep.error = f"ValueError: {error}"
    warn(DroppedEpisode(
        f"episode {index} of {roots} of group {ep.group} (instance {ep.seed}) dropped at turn 0: its first observation "
        "differs from the prompt prefilled for its group (play prefills one prompt per instance, its first episode's "
        f"that reset, and copies it to the group's {roots} episodes, so this one's actions would be sampled under a "
        f"prompt it does not show; the group trains on the others): the env's {name}.reset({ep.seed}) is not "
        f"deterministic: {error}", error))


def _record_state(ep: Episode, env, keep_states: bool, warn) -> bool:
    """Record the signature (and, with ``keep_states``, the exact key) of the state an action is taken in;
    False when the env failed there (the episode is then dropped)."""
    signature = call_or_drop(ep, env, warn, ep.n_turns, "signature")
    if ep.error:
        return False
    ep.state_sigs.append(signature)
    if keep_states:
        key = call_or_drop(ep, env, warn, ep.n_turns, "state_key")
        if ep.error:
            return False
        ep.states.append(key)
    return True


def _take_turn(policy, ep: Episode, env, tokens, logps, stopped: bool, settings: EpisodeSettings, warn):
    """Record one action, step the env; return the next observation, or None when the episode ended."""
    text = policy.decode(tokens)
    action = text.split(settings.marker)[0] if settings.marker in text else text
    ep.tokens += tokens
    ep.logprobs += logps
    ep.mask += [True] * len(tokens)
    n = ep.n_turns
    ep.turn += [n] * len(tokens)
    ep.cut += not stopped
    signature = call_or_drop(ep, env, warn, n, "action_signature", action)
    ep.actions.append(action)
    if ep.error:
        return None
    ep.action_sigs.append(signature)
    out = call_or_drop(ep, env, warn, n, "step", action)
    if ep.error:
        return None
    observation, reward, done, info = out
    ep.rewards.append(float(reward))
    ep.observations.append(observation)
    ep.invalid += bool(info.get("invalid", False))
    if done:
        ep.success = bool(info.get("success", False))
        ep.truncated = bool(info.get("truncated", False))
        return None
    return observation


def _add_observation(ep: Episode, ids: list[int]) -> None:
    ep.tokens += ids
    ep.logprobs += [0.0] * len(ids)
    ep.mask += [False] * len(ids)
    ep.turn += [-1] * len(ids)


def _fork(policy, make_env, live, logits, state, episodes, envs, children, warn, turn):
    """Split every live episode into ``children`` copies (decoding state, env and records); an episode whose
    ``snapshot()``, or a copy whose ``restore()``, raises is dropped (warned about, left out of the new rows)."""
    import torch

    index, new_live = [], []
    for r, row in enumerate(live):
        snapshot = call_or_drop(episodes[row], envs[row], warn, turn, "snapshot")
        if episodes[row].error:
            continue
        index.append(r)
        new_live.append(row)
        for _ in range(children - 1):
            env = make_env()
            envs.append(env)
            episodes.append(episodes[row].copy())
            call_or_drop(episodes[-1], env, warn, turn, "restore", snapshot)
            if not episodes[-1].error:
                index.append(r)
                new_live.append(len(episodes) - 1)
    rows = torch.as_tensor(index, dtype=torch.long)
    # keep each group's episodes adjacent in the batch: order by (group, row)
    order = sorted(range(len(new_live)), key=lambda i: (episodes[new_live[i]].group, new_live[i]))
    rows = rows[order]
    if not new_live:
        return [], logits, state
    return [new_live[i] for i in order], logits.index_select(0, rows), policy.select(state, rows)
