"""The agent RL loop: play groups of episodes in a text env, credit turns by estimator name, PPO-update.

``treecredit train --env NAME`` runs this instead of the single-turn loop. Per step: draw
``prompts_per_step`` training instances (never a held-out one), play ``group_size`` episodes of each
(:func:`treecredit.agents.play`, KV cache carried across turns), pack them (one row per episode,
observations masked), compute advantages (a turn-level estimator such as ``rtmc``, ``gigpo`` or ``grpo``
spread onto the action tokens, or a token-level one with turn ends as step ends), and run the same PPO
update as the single-turn trainer (:func:`treecredit.training.loop.ppo_update`).

Settings come from ``TrainConfig``: ``env``, ``env_options`` (the env's own, e.g. ``size``, ``max_turns``,
``signature``), ``sampler_options`` (:class:`~treecredit.agents.EpisodeSettings` fields, e.g.
``fork_at``, plus ``expert_noise`` and ``max_len`` of the warm start), ``max_new_tokens`` (the longest
action). The small GPT is warm-started on ε-noisy scripted expert episodes (cached).

Writes ``metrics.jsonl`` (train and eval records), ``config.json``, ``samples.jsonl`` (held-out
episodes at each evaluation) and ``checkpoint.pt`` (the final model and optimiser).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from treecredit._validation import fail

EVAL_SEED = 20_261_130
AGENT_OPTIONS = ("expert_noise", "max_len")


def split_sampler_options(options: dict) -> tuple[dict, dict]:
    """``(EpisodeSettings fields, agent options)`` from ``sampler_options``; unknown keys are an error."""
    from dataclasses import fields

    from treecredit.agents.episodes import EpisodeSettings

    known = {f.name for f in fields(EpisodeSettings)} - {"temperature", "top_p", "action_max_tokens"}
    unknown = sorted(set(options) - known - set(AGENT_OPTIONS))
    if unknown:
        fail("sampler_options", f"has {unknown}, not options of the agent sampler",
             f"use some of {sorted(known | set(AGENT_OPTIONS))}")
    return ({k: v for k, v in options.items() if k in known}, {k: v for k, v in options.items() if k in AGENT_OPTIONS})


def check_agent_config(config) -> None:
    """Validate the agent parts of a ``TrainConfig`` (env, its options, estimator, sampler options)."""
    from treecredit.agents.credit import estimator_level
    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs import make_env

    estimator_level(config.estimator)
    make_env(config.env, **config.env_options)
    episode_options, agent = split_sampler_options(config.sampler_options)
    EpisodeSettings(**episode_options, action_max_tokens=config.max_new_tokens).roots(config.group_size)
    noise = agent.get("expert_noise", 0.3)
    if not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        fail("expert_noise", f"is {noise!r}, must be in [0, 1]", "pass --sampler-option expert_noise=0.3")
    if config.model != "gpt":
        fail("model", "agent training runs the small GPT only for now", "pass --model gpt")


def draw_instances(env, rng, n: int, held_out: set) -> list[int]:
    """``n`` training instance seeds from ``rng`` whose instance is not in ``held_out``."""
    if env.single_instance:  # one map only (cliffwalking): nothing can be held out
        return env.instances(rng, n)
    seeds: list[int] = []
    for _ in range(1000):
        for seed in env.instances(rng, n):
            env.reset(seed)
            if env.instance_key() not in held_out and len(seeds) < n:
                seeds.append(seed)
        if len(seeds) == n:
            return seeds
    fail("eval_problems", "the held-out instances cover every instance of this env, none are left for training",
         "lower --eval-problems or enlarge the env (e.g. a bigger pool or grid)")


def eval_instances(probe, n: int) -> tuple[list[int], set]:
    """The ``n`` held-out instance seeds (fixed by ``EVAL_SEED``) and the set of their ``instance_key``."""
    seeds = probe.instances(np.random.default_rng(EVAL_SEED), n)
    held_out = set()
    for seed in seeds:
        probe.reset(seed)
        held_out.add(probe.instance_key())
    return seeds, held_out


def build_agent_policy(config, env_fn, settings, agent: dict, log):
    """The agent GPT warm-started on noisy expert episodes (cached), or a random one without warm start.

    The warm start draws its instances outside the held-out set (:func:`eval_instances`).
    """
    from treecredit.agents.policy import agent_gpt, cached_warm_start, warm_start_agent

    env = env_fn()
    _, held_out = eval_instances(env, config.eval_problems)
    model = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
             "max_len": int(agent.get("max_len", 768))}

    def build():
        return agent_gpt(seed=config.warm_start_seed, **model)

    if config.warm_start_steps == 0:
        return build()
    noise = float(agent.get("expert_noise", 0.3))
    # the signature mode and the invalid-action penalty never change an expert episode's tokens
    warm_options = {k: v for k, v in config.env_options.items() if k not in ("signature", "invalid_penalty")}
    key = {"kind": "agent", "env": config.env, "env_options": warm_options, "model": model,
           "steps": config.warm_start_steps, "batch": config.warm_start_batch, "lr": config.warm_start_lr,
           "seed": config.warm_start_seed, "noise": noise, "marker": settings.marker,
           "turn_prefix": settings.turn_prefix, "version": 1,
           "held_out_eval": config.eval_problems}

    def instances(rng, n: int) -> list[int]:
        return draw_instances(env, rng, n, held_out)

    def train(policy):
        return warm_start_agent(policy, env_fn, instances, steps=config.warm_start_steps,
                                batch_size=config.warm_start_batch, lr=config.warm_start_lr,
                                seed=config.warm_start_seed, noise=noise, settings=settings)

    return cached_warm_start(key, build, train, config.cache_dir or None, log)


def evaluate_agent(policy, env_fn, seeds, settings, generator) -> tuple[dict, list]:
    """Greedy and sampled success/return on held-out instances (one episode each); returns the sampled episodes."""
    from dataclasses import replace

    from treecredit.agents import episode_metrics, play

    greedy, _ = play(policy, env_fn, seeds, 1, generator, replace(settings, temperature=0.0, fork_at=()))
    sampled, _ = play(policy, env_fn, seeds, 1, generator, replace(settings, fork_at=()))
    return {**episode_metrics(greedy, "eval_greedy_"), **episode_metrics(sampled, "eval_")}, sampled


def train_agent(config, *, log=print) -> list[dict]:
    """Run agent RL with ``config`` (``config.env`` set); return the metric records."""
    import torch

    from treecredit.agents import agent_advantages, episode_metrics, pack_episodes, play, revisit_rate
    from treecredit.agents.credit import step_credit_share
    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs import env_factory
    from treecredit.training.loop import ppo_update
    from treecredit.training.metrics import MetricsWriter, read_metrics

    torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    episode_options, agent = split_sampler_options(config.sampler_options)
    settings = EpisodeSettings(temperature=config.temperature, top_p=config.top_p,
                               action_max_tokens=config.max_new_tokens, **episode_options)
    env_fn = env_factory(config.env, **config.env_options)
    probe = env_fn()
    eval_seeds, held_out = eval_instances(probe, config.eval_problems)
    longest_prompt = max(len(probe.reset(seed) + settings.turn_prefix) for seed in eval_seeds)
    max_len = int(agent.get("max_len", 768))
    if longest_prompt + 1 + settings.max_episode_tokens > max_len:  # positions past max_len would be wrong
        fail("max_len", f"is {max_len}, but a first observation of {longest_prompt} characters plus "
             f"max_episode_tokens={settings.max_episode_tokens} does not fit",
             "pass --sampler-option max_len=N with N larger, or a smaller --sampler-option max_episode_tokens")
    policy = build_agent_policy(config, env_fn, settings, agent, log)
    reference = None
    if config.kl_coef > 0:
        import copy

        reference = copy.deepcopy(policy)
    optimizer = torch.optim.AdamW(policy.module.parameters(), lr=config.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 2])
    writer = MetricsWriter(out, tensorboard=config.tensorboard)
    samples = (out / "samples.jsonl").open("w")
    counters = {"step": 0, "generated_tokens": 0, "trained_tokens": 0}

    def run_eval() -> None:
        record, episodes = evaluate_agent(policy, env_fn, eval_seeds, settings,
                                          torch.Generator().manual_seed(EVAL_SEED + counters["step"]))
        writer.write({"kind": "eval", **counters, **record})
        for ep in episodes[:4]:
            samples.write(json.dumps({"step": counters["step"], "seed": ep.seed, "success": ep.success,
                                      "return": ep.episode_return, "text": ep.text(policy)}) + "\n")
        samples.flush()
        log(f"step {counters['step']}: held-out success {record['eval_success']:.3f} "
            f"(greedy {record['eval_greedy_success']:.3f})")

    run_eval()
    started = time.perf_counter()
    while not _finished(config, counters):
        seeds = draw_instances(probe, rng, config.prompts_per_step, held_out)
        t0 = time.perf_counter()
        episodes, generated = play(policy, env_fn, seeds, config.group_size, generator, settings)
        t1 = time.perf_counter()
        batch = pack_episodes(policy, episodes, seeds, generated)
        advantages, _ = agent_advantages(config.estimator, batch, config.estimator_options)
        t2 = time.perf_counter()
        stats = ppo_update(policy, reference, optimizer, batch.rollout, advantages, config, generator)
        t3 = time.perf_counter()
        counters["step"] += 1
        counters["generated_tokens"] += generated
        counters["trained_tokens"] += int(sum(len(p) for p in batch.rollout.prompt_ids)
                                          + batch.rollout.response_mask.sum()) * config.epochs
        record = {"kind": "train", **counters, **episode_metrics(episodes), "revisit_rate": revisit_rate(batch),
                  "step_credit_share": step_credit_share(batch, advantages.numpy()),
                  "dropped_episodes": config.prompts_per_step * config.group_size - len(episodes),
                  "time_play_s": t1 - t0, "time_credit_s": t2 - t1, "time_update_s": t3 - t2, **stats,
                  "elapsed_s": time.perf_counter() - started}
        writer.write(record)
        if counters["step"] % config.eval_every == 0 or _finished(config, counters):
            run_eval()
    samples.close()
    from treecredit.training.checkpoint import save_checkpoint

    save_checkpoint(out, model=policy.module, optimizer=optimizer, generator=generator,
                    problem_rng=rng, counters=counters)
    writer.close()
    return read_metrics(writer.path)


def _finished(config, counters: dict) -> bool:
    by_steps = config.steps > 0 and counters["step"] >= config.steps
    by_budget = config.token_budget > 0 and counters["generated_tokens"] >= config.token_budget
    return by_steps or by_budget


def report_agent_run(config, records: list[dict]) -> int:
    """Print the held-out success before and after (the ``treecredit train --env`` summary)."""
    evals = [r for r in records if r["kind"] == "eval"]
    if evals:
        first, last = evals[0], evals[-1]
        print(f"held-out success (sampled): {first['eval_success']:.3f} (step {first['step']}) → "
              f"{last['eval_success']:.3f} (step {last['step']}, {last['generated_tokens']} generated tokens); "
              f"greedy {first['eval_greedy_success']:.3f} → {last['eval_greedy_success']:.3f}")
    print(f"metrics: {config.out}/metrics.jsonl, sample episodes: {config.out}/samples.jsonl")
    return 0
