"""Part 2 of ``benchmarks/bench_update.py``: a training step with ``--sampler tree`` against an i.i.d. step.

One job: a training step (sampling, advantages, update) with ``--sampler tree`` at the default branching
(fixed, N=2, D=2) ÷ an i.i.d. step with the same number of leaves (target ≤ 0.6), on the warm-started small
GPT and on a tiny ``transformers`` Llama with a character tokenizer (random, or warm-started on the worked
solutions with ``--llama-warm-start``), on the trainer's arithmetic task or one with long worked solutions
(``--step-operators 4,6``), with each phase's time, the generated tokens, the decoding steps, the tokens the
update computes, and the ideal bounds (time proportional to tokens). The arms alternate within each round; the
ratios printed are medians over rounds of the ratio within a round.

Run it through ``bench_update.py`` (its command line, ``--parts 2``): that script sets :data:`clock` and the
torch threads, and prints the first line (threads, clock, load average). The small helpers both parts use
(:func:`config`, :func:`tiny_llama`, :func:`local_tokenizer`) live here.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

import treecredit
from treecredit.training.config import TrainConfig
from treecredit.training.loop import ppo_update
from treecredit.training.startup import adamw

clock = time.perf_counter
"""The clock of the phases' times (``bench_update.py --clock cpu`` sets ``time.process_time``)."""


def config(**kw) -> TrainConfig:
    """The trainer's config with ``kw``, without progress bars or TensorBoard."""
    return TrainConfig(progress=False, tensorboard=False, **kw)


def tiny_llama(vocab: int, hidden: int, layers: int):
    """A random ``transformers`` Llama (4 heads, MLP 4 × ``hidden``), seeded with ``torch.manual_seed(0)``."""
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden,
                                   num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                                   max_position_embeddings=256, pad_token_id=0, eos_token_id=2)
    return transformers.AutoModelForCausalLM.from_config(cfg)


def local_tokenizer():
    """The tests' in-memory character tokenizer (``tests/hf_tiny.py``; ``bench_update.py`` puts it on the path)."""
    from hf_tiny import local_tokenizer as made

    return made()


def update_tokens(rollout, cfg: TrainConfig) -> int:
    """Tokens the update computes (packed nodes, or padded row tokens), summed over one epoch's minibatches."""
    from treecredit.models.packing import packed_inputs
    from treecredit.training.loop import minibatch_rows

    total = 0
    for rows in minibatch_rows(rollout.group_ids, cfg.minibatches, cfg.minibatch_split, torch.Generator()):
        prompts = [rollout.prompt_ids[i] for i in rows.tolist()]
        if cfg.update_layout == "packed":
            total += packed_inputs(prompts, rollout.response_ids[rows], 0, groups=rollout.group_ids[rows],
                                   response_mask=rollout.response_mask[rows]).nodes
        else:
            width = int(rollout.response_mask[rows].any(0).nonzero().max()) + 1
            total += len(rows) * (max(map(len, prompts)) + width)
    return total


def training_step(policy, task, problems, cfg: TrainConfig, sampler, seed: int) -> dict:
    """One step as the trainer takes it: sample, advantages, PPO update; times of the phases (sampling split into
    the policy's decoding steps, ``policy.step``, and the rest of the call: prefill, draws, the stream's joins and
    copies, the tree's bookkeeping, packing the rollout), and the sampler's decoding steps (``KVCacheBackend.steps``:
    one token drawn for every row of the batch) and the longest response (a stream without delays takes as many
    steps; the fixed tree's extra steps are its top-up refills, whose siblings start from their fork point only once
    the chain they replace has ended: docs/performance.md [2j])."""
    from treecredit.sampling.kv_backend import KVCacheBackend

    optimizer = adamw(policy.module.parameters(), lr=1e-6)
    generator = torch.Generator().manual_seed(seed)
    backend = KVCacheBackend(policy)
    model = [0.0]
    step = policy.step  # timed through an instance attribute for this call only (the backend calls policy.step)

    def timed_step(state, tokens):
        began = clock()
        out = step(state, tokens)
        model[0] += clock() - began
        return out

    policy.step = timed_step
    start = clock()
    try:
        rollout = sampler.sample(policy, task, problems, cfg.group_size, generator, backend=backend)
    finally:
        del policy.step
    backend.release()
    sampled = clock()
    adv = treecredit.compute_advantages("grpo", **rollout.estimator_inputs())
    estimated = clock()
    ppo_update(policy, None, optimizer, rollout, torch.as_tensor(adv), cfg, generator)
    done = clock()
    return {"total": done - start, "sample": sampled - start, "model steps": model[0],
            "sampling rest": sampled - start - model[0], "advantages": estimated - sampled, "update": done - estimated,
            "generated": rollout.generated_tokens, "leaves": rollout.shape[0],
            "update tokens": update_tokens(rollout, cfg), "decode steps": backend.steps,
            "longest": int(rollout.response_mask.sum(1).max()),
            "reward": float(rollout.rewards.float().mean())}


STEP_ARMS = {"iid rows": ("iid", "rows", "auto"), "iid packed": ("iid", "packed", "auto"),
             "tree packed": ("tree", "packed", "auto"), "tree packed, rounds": ("tree", "packed", "auto"),
             "iid packed, row split": ("iid", "packed", "rows"), "tree packed, row split": ("tree", "packed", "rows"),
             "tree packed, fallback 8": ("tree", "packed", "auto")}
"""Arms of the step benchmark: sampler, update layout, minibatch split (the trainer's defaults: packed, and
``minibatch_split="auto"``, i.e. minibatches of whole groups whenever a batch holds at least 2 groups);
"row split": minibatches of shuffled rows (the trainer's default before 2026-11-30); "rounds": the tree
sampler with ``schedule="rounds"`` (no continuous batching, as before it); "fallback 8": the fixed tree that
also forks a chain after 8 tokens without a step end (``--branching-option fallback_every=8``, not the default)."""
ARM_SETS = {"all": [a for a in STEP_ARMS if a != "tree packed, fallback 8"],
            "defaults": ["iid packed", "tree packed", "tree packed, rounds"],
            "fallback": ["iid packed", "tree packed", "tree packed, fallback 8"]}
"""``--step-arms``: which arms run ("defaults": the trainer's defaults only, for the larger sizes)."""


def step_report(name: str, policy, task, repeats: int, prompts: int, max_new_tokens: int,
                arms: list[str] | None = None) -> None:
    from treecredit.sampling import make_sampler

    arms = arms or ARM_SETS["all"]
    problems = task.generate(np.random.default_rng(1), prompts)
    rounds = []
    for repeat in range(repeats + 1):
        out = {}
        for arm in arms:
            sampler_name, layout, split = STEP_ARMS[arm]
            cfg = config(sampler=sampler_name, update_layout=layout, max_new_tokens=max_new_tokens,
                         prompts_per_step=prompts, minibatch_split=split)
            sampler = make_sampler(sampler_name, temperature=1.0, max_new_tokens=max_new_tokens,
                                   **cfg.tree_sampler_options())
            if arm.endswith("rounds"):
                sampler.schedule = "rounds"
            if arm.endswith("fallback 8"):
                sampler.strategy.fallback_every = 8
            out[arm] = training_step(policy, task, problems, cfg, sampler, seed=repeat)
        if repeat:  # the first round warms up
            rounds.append(out)
    print(f"\n[2] training step, {name}: {prompts} prompts × 8 leaves, max {max_new_tokens} new tokens "
          f"(medians of {repeats} rounds)")
    for arm in arms:
        m = {k: statistics.median(r[arm][k] for r in rounds) for k in rounds[0][arm]}
        print(f"    {arm:20s} step {m['total']:.3f}s = sample {m['sample']:.3f}s (model steps {m['model steps']:.3f}s, "
              f"the rest {m['sampling rest']:.3f}s) + advantages {m['advantages']:.3f}s "
              f"+ update {m['update']:.3f}s; generated {m['generated']:.0f} tokens for {m['leaves']:.0f} leaves "
              f"in {m['decode steps']:.0f} decoding steps (longest response {m['longest']:.0f} tokens), "
              f"update computes {m['update tokens']:.0f} tokens; "
              f"mean reward {m['reward']:.2f}")

    def ratio(num: str, den: str, phase: str = "total") -> float:
        return statistics.median(r[num][phase] / r[den][phase] for r in rounds)

    def bound(num: str, den: str) -> str:
        """Ideal bounds of num / den if time were proportional to tokens: generated tokens (sampling), tokens
        the update computes (update), and the step's (each phase of ``den``'s step scaled by its bound)."""
        tokens = {k: statistics.median(r[num][k] / r[den][k] for r in rounds) for k in ("generated", "update tokens")}
        step = statistics.median((r[den]["sample"] * r[num]["generated"] / r[den]["generated"]
                                  + r[den]["update"] * r[num]["update tokens"] / r[den]["update tokens"])
                                 / r[den]["total"] for r in rounds)
        steps = statistics.median(r[num]["decode steps"] / r[den]["decode steps"] for r in rounds)
        return (f"ideal bounds: step {step:.2f}, sampling {tokens['generated']:.2f}, update "
                f"{tokens['update tokens']:.2f}; decoding steps {steps:.2f}×")

    print(f"    tree / iid (trainer defaults: packed, minibatches of whole groups) = "
          f"{ratio('tree packed', 'iid packed'):.2f} "
          f"(target ≤ 0.6; sampling {ratio('tree packed', 'iid packed', 'sample'):.2f}: its model steps "
          f"{ratio('tree packed', 'iid packed', 'model steps'):.2f}, the rest of its call "
          f"{ratio('tree packed', 'iid packed', 'sampling rest'):.2f}; update "
          f"{ratio('tree packed', 'iid packed', 'update'):.2f}; {bound('tree packed', 'iid packed')})")
    if "tree packed, rounds" in arms:
        print(f"    tree in rounds / iid (trainer defaults, the tree sampler without continuous batching) = "
              f"{ratio('tree packed, rounds', 'iid packed'):.2f} (sampling "
              f"{ratio('tree packed, rounds', 'iid packed', 'sample'):.2f}); tree / tree in rounds = "
              f"{ratio('tree packed', 'tree packed, rounds'):.2f} (sampling "
              f"{ratio('tree packed', 'tree packed, rounds', 'sample'):.2f})")
    if "tree packed, fallback 8" in arms:
        print(f"    tree with fallback_every=8 / iid = {ratio('tree packed, fallback 8', 'iid packed'):.2f} (sampling "
              f"{ratio('tree packed, fallback 8', 'iid packed', 'sample'):.2f}, update "
              f"{ratio('tree packed, fallback 8', 'iid packed', 'update'):.2f}; "
              f"{bound('tree packed, fallback 8', 'iid packed')})")
    if "tree packed, row split" in arms:
        print(f"    tree / iid (packed, minibatches of shuffled rows) = "
              f"{ratio('tree packed, row split', 'iid packed, row split'):.2f} "
              f"(sampling {ratio('tree packed, row split', 'iid packed, row split', 'sample'):.2f}, update "
              f"{ratio('tree packed, row split', 'iid packed, row split', 'update'):.2f}; "
              f"{bound('tree packed, row split', 'iid packed, row split')}); "
              f"tree packed / iid rows (before packing) = {ratio('tree packed', 'iid rows'):.2f}")


def step_reports(defaults: TrainConfig, repeats: int, counts: list[int], lengths: list[int], arms: list[str],
                 models: list[str], operators: tuple[int, int] | None = None, llama_warm_start: int = 0) -> None:
    """Part 2 for each prompt count × length and model. ``operators``: (min, max) operators of the arithmetic
    task (None: the trainer's default task, 2 operators, ~7-token answers; more operators give long worked
    solutions, one rewrite per step, the first ones the longest). ``llama_warm_start``: supervised steps of the
    tiny Llama on the task's worked solutions before the steps (0: random weights, as before)."""
    from treecredit.models import HFPolicy
    from treecredit.tasks import ArithmeticTask
    from treecredit.training.warmstart import hf_warm_started, warm_started_policy

    task = ArithmeticTask() if operators is None else ArithmeticTask(min_operators=operators[0],
                                                                     max_operators=operators[1])
    about = "" if operators is None else f", arithmetic with {operators[0]}–{operators[1]} operators"
    quiet = lambda *a: None  # noqa: E731
    policy = warm_started_policy(task, model_config={"n_layer": defaults.n_layer, "n_head": defaults.n_head,
                                                     "n_embd": defaults.n_embd},
                                 steps=defaults.warm_start_steps, batch_size=defaults.warm_start_batch,
                                 lr=defaults.warm_start_lr, seed=0, log=quiet)
    tok = local_tokenizer()
    llama = HFPolicy(tiny_llama(len(tok), 64, 2), tok)
    llama_name = "transformers Llama (random, 2 layers × 64, character tokenizer)"
    if llama_warm_start and "llama" in models:
        # the small GPT's warm-start settings (batch, learning rate), cached like a `train --hf-warm-start-steps` run
        hf_warm_started(llama, task, model_identity={"benchmark": "bench_update tiny_llama(vocab, 64, 2)",
                                                     "vocab": len(tok), "seed": 0},
                        steps=llama_warm_start, batch_size=defaults.warm_start_batch, lr=defaults.warm_start_lr,
                        seed=0, log=quiet)
        llama_name = (f"transformers Llama (2 layers × 64, character tokenizer, {llama_warm_start} supervised "
                      "steps on the worked solutions)")
    for prompts in counts:
        for tokens in lengths:
            if "gpt" in models:
                step_report(f"small GPT, warm-started as by `treecredit train`{about}", policy, task, repeats,
                            prompts, tokens, arms)
            if "llama" in models:
                step_report(llama_name + about, llama, task, repeats, prompts, tokens, arms)


if __name__ == "__main__":  # run directly it printed nothing and exited 0 (trial 35): say how it runs
    import sys

    print("bench_step.py is part 2 of benchmarks/bench_update.py, which sets its clock and torch threads; run\n"
          "  python benchmarks/bench_update.py --parts 2 [--quick] [--repeats 5] [--clock wall|cpu]\n"
          "(python benchmarks/bench_update.py --help lists every option)", file=sys.stderr)
    sys.exit(2)
