"""Agent benchmarks, measured side by side in one run (no timed tests):

1. Carrying the KV cache across turns vs re-prefilling the whole history before every turn, on the
   same episodes (8 turns, the same sampled action tokens replayed in both modes, the two modes
   interleaved), for the small GPT (two sizes) and a Hugging Face Llama (``HFPolicy``). Target: ≥ 3×.
2. The share of a training step spent on signatures (hashing each turn's state) plus the state graph
   and turn credit (``compute_turn_advantages`` with ``rtmc``, spread onto tokens). Target: < 5 %.

Usage: ``python benchmarks/bench_agents.py [--rows 32] [--repeats 3] [--steps 3] [--no-hf] [--no-share]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from treecredit.agents import EpisodeSettings, agent_advantages, pack_episodes, play
from treecredit.agents.decode import extend_state, freeze_rows, keep_rows
from treecredit.agents.policy import agent_gpt
from treecredit.envs import make_env
from treecredit.envs.base import TextEnv


def split_turns(ep) -> list[tuple[list[int], list[int]]]:
    """Per turn of ``ep``: (action ids, observation ids appended after it)."""
    out, t = [], 0
    for k in range(ep.n_turns):
        action, obs = [], []
        while t < len(ep.tokens) and ep.turn[t] == k:
            action.append(ep.tokens[t])
            t += 1
        while t < len(ep.tokens) and ep.turn[t] == -1:
            obs.append(ep.tokens[t])
            t += 1
        out.append((action, obs))
    return out


def replay(policy, episodes, carried: bool, defer: bool = True) -> tuple[float, float]:
    """Seconds to redo every forward pass of ``episodes``: the actions token by token (as decoding does:
    rows whose action is over wait, their extra key masked), then either the observation appended to the
    carried cache or, before the next turn, the whole history prefilled again. ``defer``: the last column
    of each action is not stepped (as ``play`` does); its token goes in with the observation (carried) or
    the next prefill. Returns ``(total seconds, seconds of the token-by-token action steps)``: the steps
    are the same work in both modes."""
    pieces = [split_turns(ep) for ep in episodes]
    history = [list(ep.prompt_ids) for ep in episodes]
    live = list(range(len(episodes)))
    stepping = 0.0
    start = time.perf_counter()
    with torch.no_grad():
        if carried:
            _, state = policy.prefill(history)
        for k in range(max(len(p) for p in pieces)):
            if not carried:
                _, state = policy.prefill([history[i] for i in live])
            t0 = time.perf_counter()
            width = max(len(pieces[i][k][0]) for i in live)
            for col in range(width - defer):  # the last column is not stepped (play's defer_last), in both modes
                token = torch.as_tensor([pieces[i][k][0][min(col, len(pieces[i][k][0]) - 1)] for i in live])
                before = state
                _, state = policy.step(state, token)
                state = freeze_rows(before, state, torch.as_tensor([col >= len(pieces[i][k][0]) for i in live]))
            stepping += time.perf_counter() - t0
            for i in live:
                history[i] += pieces[i][k][0] + pieces[i][k][1]
            keep = [j for j, i in enumerate(live) if k + 1 < len(pieces[i])]
            if not keep:
                break
            live = [live[j] for j in keep]
            if carried:  # the observation, after the action's last token where it was not stepped
                appended = [pieces[i][k][0][-1:] * (defer and len(pieces[i][k][0]) == width) + pieces[i][k][1]
                            for i in live]
                _, state = extend_state(policy, keep_rows(policy, state, keep), appended)
    return time.perf_counter() - start, stepping


def eight_turn_episodes(rows: int) -> tuple[list, object]:
    """Episodes of exactly 8 turns on an 8×8 grid world, sampled once by a random-init small GPT."""
    policy = agent_gpt(seed=0, max_len=1024, n_layer=2, n_head=2, n_embd=64)
    settings = EpisodeSettings(action_max_tokens=6, max_episode_tokens=900)
    env_fn = lambda: make_env("gridworld", size=8, holes=0.0, max_turns=8)  # noqa: E731
    episodes, _ = play(policy, env_fn, list(range(rows)), 1, torch.Generator().manual_seed(0), settings)
    return [ep for ep in episodes if ep.n_turns == 8], policy


def tiny_hf_llama(vocab_size: int, pad_id: int, eos_id: int, width: int, layers: int):
    """A random-init Llama (``transformers``) over the small GPT's token ids, as an ``HFPolicy`` (no tokenizer
    is needed to replay token ids)."""
    from types import SimpleNamespace

    import transformers

    from treecredit.models import HFPolicy

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=width, intermediate_size=4 * width,
                                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                                      max_position_embeddings=1024, pad_token_id=pad_id, eos_token_id=eos_id)
    model = transformers.LlamaForCausalLM(config).eval()
    tokenizer = SimpleNamespace(eos_token_id=eos_id, pad_token_id=pad_id, chat_template=None)
    return HFPolicy(model, tokenizer, use_chat_template=False)


def bench_kv(episodes: list, policy, name: str, repeats: int, defer: bool = True) -> None:
    """Carried vs re-prefilled, interleaved (carried, re-prefill, carried, ...) so that a change in the
    machine's load hits both modes alike; best of ``repeats`` each."""
    lengths = [len(ep.prompt_ids) + len(ep.tokens) for ep in episodes]
    mode = "" if defer else ", every action token stepped"
    print(f"KV cache across turns: {len(episodes)} episodes of 8 turns ({name}{mode}), "
          f"mean length {np.mean(lengths):.0f} tokens")
    carried, fresh = [], []
    for _ in range(repeats):
        carried.append(replay(policy, episodes, True, defer))
        fresh.append(replay(policy, episodes, False, defer))
    (c, c_steps), (f, f_steps) = min(carried), min(fresh)
    print(f"  carried cache: {c:.3f} s   re-prefill every turn: {f:.3f} s   speed-up {f / c:.2f}x   (target ≥ 3x)")
    print(f"  of which the action tokens decoded one by one (the same work in both modes): {c_steps:.3f} s carried, "
          f"{f_steps:.3f} s re-prefill; the rest: observations appended {c - c_steps:.3f} s vs history "
          f"re-prefilled {f - f_steps:.3f} s = {(f - f_steps) / (c - c_steps):.1f}x")


def bench_credit_share(steps: int, model: dict) -> None:
    """Time signatures (inside play) and the turn credit against a whole training step (play, pack,
    credit, one PPO update)."""
    from treecredit.training.config import TrainConfig
    from treecredit.training.loop import ppo_update

    timer = {"sig": 0.0}
    original = TextEnv.signature

    def timed(self, mode=None):
        t = time.perf_counter()
        try:
            return original(self, mode)
        finally:
            timer["sig"] += time.perf_counter() - t

    TextEnv.signature = timed
    policy = agent_gpt(seed=0, max_len=768, **model)
    config = TrainConfig(max_new_tokens=8, progress=False, minibatches=2)
    optimizer = torch.optim.AdamW(policy.module.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    settings = EpisodeSettings(action_max_tokens=8)
    env_fn = lambda: make_env("gridworld")  # noqa: E731
    total = credit = 0.0
    try:
        for step in range(steps):
            t0 = time.perf_counter()
            episodes, generated = play(policy, env_fn, list(range(8 * step, 8 * step + 8)), 8, generator, settings)
            batch = pack_episodes(policy, episodes, [], generated)
            t1 = time.perf_counter()
            adv, _ = agent_advantages("rtmc", batch)
            t2 = time.perf_counter()
            ppo_update(policy, None, optimizer, batch.rollout, adv, config, generator)
            total += time.perf_counter() - t0
            credit += t2 - t1
    finally:
        TextEnv.signature = original
    share = (timer["sig"] + credit) / total
    print(f"signatures + state graph + turn credit: {timer['sig']:.3f} s + {credit:.3f} s of {total:.2f} s "
          f"over {steps} training steps (64 episodes each) = {100 * share:.2f} %   (target < 5 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-hf", action="store_true", help="skip the Hugging Face policy (needs transformers)")
    parser.add_argument("--no-share", action="store_true", help="skip the credit share of a training step")
    parser.add_argument("--every-token", action="store_true",
                        help="also replay the small GPT stepping every action token (no deferred last step)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    episodes, small = eight_turn_episodes(args.rows)
    bench_kv(episodes, small, "random-init GPT 2 layers × 64", args.repeats)
    if args.every_token:  # the same without play's deferred last step: what that step costs
        bench_kv(episodes, small, "random-init GPT 2 layers × 64", args.repeats, defer=False)
    default = agent_gpt(seed=0, max_len=1024, n_layer=4, n_head=4, n_embd=144)
    bench_kv(episodes, default, "random-init GPT 4 layers × 144 (trainer default)", args.repeats)
    if not args.no_hf:
        hf = tiny_hf_llama(small.vocab_size, small.pad_id, small.eos_id, width=144, layers=4)
        bench_kv(episodes, hf, "random-init Hugging Face Llama 4 layers × 144, HFPolicy", args.repeats)
    if not args.no_share:
        bench_credit_share(args.steps, {"n_layer": 2, "n_head": 2, "n_embd": 64})


if __name__ == "__main__":
    main()
