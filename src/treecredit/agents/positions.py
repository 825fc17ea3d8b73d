"""Whether episode rows fit a policy's positions, for direct callers of :func:`~treecredit.agents.play` and
:func:`~treecredit.agents.pack_episodes` (a training run checks its instances before it plays them:
:mod:`treecredit.training.agent_room`).

Past its positions a model does not say so: the small GPT clamps positions past ``max_len`` - 1, a Llama's
rotary positions run on into garbage, GPT-2's position table raises; so both refuse such rows before any work,
with a ``ValueError`` naming the argument and the fix.
"""

from __future__ import annotations

from treecredit._validation import fail


def policy_positions(policy) -> int | None:
    """The positions ``policy``'s model holds: the small GPT's ``max_len``, a Hugging Face model's
    ``max_position_embeddings`` (or ``n_positions``); None when neither is known (nothing is checked)."""
    module = getattr(policy, "module", None)
    cfg = getattr(module, "cfg", None)
    value = getattr(cfg, "max_len", None)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    config = getattr(module, "config", None)
    if config is None:
        return None
    from treecredit.models.hf_load import model_positions

    try:
        return model_positions(config)
    except Exception:  # noqa: BLE001 - a config without a text part: no limit known
        return None


def _positions(policy, limit: int) -> str:
    """``policy``'s positions in words: ``64 positions (GPTPolicy max_len)``."""
    module = getattr(policy, "module", None)
    field = "max_len" if getattr(module, "cfg", None) is not None else "max_position_embeddings"
    return f"{limit} positions ({type(policy).__name__} {field})"


def episode_need(prompt_tokens: int, settings) -> int:
    """The positions an episode row of a ``prompt_tokens`` prompt may take: the prompt plus
    ``max_episode_tokens`` (``play`` adds an observation only when the next action still fits in it), or plus
    ``action_max_tokens`` when that is more (the first action is sampled whatever ``max_episode_tokens`` is)."""
    return prompt_tokens + max(settings.max_episode_tokens, settings.action_max_tokens)


def check_play_room(policy, settings, prompts: dict[int, list[int]]) -> None:
    """Refuse, before decoding, episodes whose rows could pass ``policy``'s positions: ``prompts`` maps an instance
    seed to its prompt's ids (first observation and turn prefix). Raises ``ValueError`` naming ``settings`` (its
    ``max_episode_tokens``, or ``action_max_tokens`` when the first action alone does not fit) and the largest
    value that fits, or the instance whose first observation fills the positions."""
    limit = policy_positions(policy)
    if limit is None or not prompts:
        return
    seed = max(prompts, key=lambda s: len(prompts[s]))
    longest = len(prompts[seed])
    need = episode_need(longest, settings)
    if need <= limit:
        return
    fits = limit - longest
    plus = (f"an action of up to action_max_tokens={settings.action_max_tokens}"
            if settings.action_max_tokens > settings.max_episode_tokens
            else f"max_episode_tokens={settings.max_episode_tokens}")
    head = (f"instance {seed}'s first observation with turn_prefix is {longest} tokens, which plus {plus} needs {need}"
            f" positions, more than the policy's {_positions(policy, limit)}: past them the model would read wrong "
            "positions without a word")
    if fits < 1:
        fail("seeds", head, f"leave out instance {seed} (or others with first observations of {limit} tokens or "
             "more), or use a policy with more positions")
    if fits < settings.action_max_tokens:
        fail("settings", head, f"pass EpisodeSettings(action_max_tokens={fits}, max_episode_tokens={fits}) or less, "
             "or a policy with more positions")
    fail("settings", head, f"pass EpisodeSettings(max_episode_tokens={fits}) or less (the largest that fits), or a "
         "policy with more positions")


def check_packed_rows(policy, episodes: list) -> None:
    """Refuse, before packing, an episode whose row (prompt ids plus its tokens) is longer than ``policy``'s
    positions; raises ``ValueError`` naming ``episodes``, the first such episode and the fix."""
    limit = policy_positions(policy)
    if limit is None:
        return
    for index, ep in enumerate(episodes):
        row = len(ep.prompt_ids) + len(ep.tokens)
        if row > limit:
            long = sum(len(e.prompt_ids) + len(e.tokens) > limit for e in episodes)
            fail("episodes", f"episode {index} (instance {ep.seed}) has a row of {row} tokens ({len(ep.prompt_ids)} "
                 f"of prompt, {len(ep.tokens)} of actions and observations), more than the policy's "
                 f"{_positions(policy, limit)}; {long} of "
                 f"{len(episodes)} episodes are that long: training on them would read wrong positions",
                 "play them with EpisodeSettings(max_episode_tokens=...) small enough that each first observation "
                 "plus it fits the positions (play refuses episodes that would not), leave those episodes out, or "
                 "use a policy with more positions")
