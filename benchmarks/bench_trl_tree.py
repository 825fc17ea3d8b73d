"""TRL with tree rollouts vs TRL i.i.d.: same tiny model, same leaves per prompt; tokens generated, wall time.

Run: ``python benchmarks/bench_trl_tree.py [--steps S] [--generations G] [--length L] [--vllm | --vllm-server]``. Two
``TreeCreditGRPOTrainer`` runs on CPU side by side in one process, same random Llama (4 layers, hidden
128, character tokenizer built here, nothing downloaded), same prompts and seed:

- ``sampler="iid"``: TRL's own transformers generation (``model.generate``), G completions per prompt;
- ``sampler="tree"``: one tree per prompt with G leaves (fixed branching: G/2 roots, each forking in two
  after ``--fork-after`` tokens), grown by treecredit's tree sampler on the same model.

With ``--vllm`` both runs generate on TRL's colocated vLLM engine (``use_vllm=True,
vllm_mode="colocate"``; the model is saved to a temporary folder for vLLM to load): i.i.d. through TRL's
own vLLM generation, the tree through :class:`~treecredit.sampling.vllm_backend.VLLMBackend` on that
engine; each engine generates once before its run is timed (warm-up). On CPU set
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (set here unless set) and, on a shared machine,
``VLLM_CPU_OMP_THREADS_BIND=nobind``.

With ``--vllm-server`` both runs generate on TRL's vLLM server (``vllm_mode="server"``), started once for
the saved model (:func:`treecredit.sampling.vllm_server_launch.trl_vllm_server`, TRL's ``vllm-serve``
command) and shared by the runs (prefix cache reset before each): i.i.d. through TRL's own server
generation (one ``n = G`` request per prompt), the tree through
:class:`~treecredit.sampling.vllm_server.VLLMServerBackend`. Without a GPU, TRL's weight sync (NCCL)
cannot run: it is patched out and both samplers generate from the initial weights (said in the output).

Printed per run: completions, tokens in completions, tokens generated (a shared segment once: for the
tree, distinct (node, position) pairs of ``tree_nodes``), generation wall time (summed over steps) and
whole-training wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time

import torch

from tiny_hf import char_tokenizer


def save_model(model, tokenizer) -> str:
    """The model and tokenizer in a temporary folder, for vLLM to load."""
    path = tempfile.mkdtemp(prefix="bench_trl_tree_model_")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_model():
    """The benchmark's random 4-layer Llama and its character tokenizer (seeded: the same every call)."""
    import transformers

    torch.manual_seed(0)
    tokenizer = char_tokenizer("abcdefgh+=0123456789 ", ("<pad>", "<eos>", "<unk>"), pad_token="<pad>",
                               eos_token="<eos>", unk_token="<unk>")
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                                      num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                                      max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    return transformers.LlamaForCausalLM(config), tokenizer


def run(sampler: str, args, server_url: str | None = None, server_model: str | None = None) -> dict:
    import datasets
    import transformers
    from trl import GRPOConfig

    from treecredit.integrations.trl import TreeCreditGRPOTrainer

    stats = {"generate_s": 0.0, "generated": 0, "completion_tokens": 0, "completions": 0}

    class Timed(TreeCreditGRPOTrainer):
        def _generate_single_turn(self, prompt_ids, *rest, **kwargs):
            started = time.perf_counter()
            ids, logprobs = super()._generate_single_turn(prompt_ids, *rest, **kwargs)
            stats["generate_s"] += time.perf_counter() - started
            stats["completions"] += len(ids)
            stats["completion_tokens"] += sum(len(x) for x in ids)
            if self._tree_nodes is not None:
                stats["generated"] += len({(n, t) for row in self._tree_nodes for t, n in enumerate(row)})
            else:
                stats["generated"] += sum(len(x) for x in ids)
            return ids, logprobs

    model, tokenizer = tiny_model()
    engine: dict = {}
    if args.vllm:  # vLLM loads the model from model.name_or_path
        path = save_model(model, tokenizer)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        engine = {"use_vllm": True, "vllm_mode": "colocate", "vllm_max_model_length": 64 + args.length}
    elif server_url is not None:  # the server holds the same weights (saved by main)
        model = transformers.AutoModelForCausalLM.from_pretrained(server_model, dtype=torch.float32)
        engine = {"use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": server_url}
    prompts = ["1+2=", "ab", "3+4=", "ba", "5+6=", "cd", "7+8=", "dc"] * 4
    grpo = GRPOConfig(output_dir="/tmp/bench_trl_tree", use_cpu=True, bf16=False,
                      per_device_train_batch_size=args.generations * args.prompts, num_generations=args.generations,
                      max_completion_length=args.length, max_steps=args.steps, learning_rate=1e-4, beta=0.0,
                      report_to="none", save_strategy="no", seed=0, temperature=1.0, dataloader_num_workers=0,
                      logging_steps=1000, **engine)
    tree = {"sampler": "tree", "branching": "fixed",
            "branching_options": {"children": 2, "depth": 1, "every": args.fork_after}} if sampler == "tree" else {}
    trainer = Timed(model=model, reward_funcs=lambda completion_ids, **kw: [float(len(c)) for c in completion_ids],
                    args=grpo, train_dataset=datasets.Dataset.from_dict({"prompt": prompts}),
                    processing_class=tokenizer, estimator="tempo", **tree)
    if args.vllm:  # warm the engine (and process-wide kernel caches) before timing, for either sampler
        from vllm import SamplingParams

        warm = [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts[:4]]
        trainer.vllm_generation.llm.generate(warm, SamplingParams(n=4, max_tokens=args.length), use_tqdm=False)
    if server_url is not None:  # an empty prefix cache and a warm server for either sampler
        client = trainer.vllm_generation.vllm_client
        client.reset_prefix_cache()
        client.generate([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[:4]], n=4,
                        max_tokens=args.length)
    started = time.perf_counter()
    trainer.train()
    stats["train_s"] = time.perf_counter() - started
    return stats


def start_server(args, stack: contextlib.ExitStack) -> dict:
    """Start TRL's server for the benchmark's model (stopped when ``stack`` closes); without a GPU, patch
    TRL's NCCL weight sync out. Returns ``run``'s server arguments."""
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration

    from treecredit.sampling.vllm_server_launch import trl_vllm_server

    path = save_model(*tiny_model())
    if not torch.cuda.is_available():
        print("no GPU: TRL's weight sync (NCCL) patched out; both samplers generate from the initial weights")
        stack.enter_context(_patched(VLLMClient, "init_communicator", lambda self, device=0: None))
        stack.enter_context(_patched(VLLMGeneration, "sync_weights", lambda self: None))
    # vllm-cpu: a seeded request prefilled in chunks crashes the engine; one step's budget holds a round
    url = stack.enter_context(trl_vllm_server(path, os.path.join(path, "server.log"), max_model_len=64 + args.length,
                                              extra_args=["--max-num-batched-tokens", "65536"]))
    return {"server_url": url, "server_model": path}


@contextlib.contextmanager
def _patched(owner, name: str, value):
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step")
    parser.add_argument("--generations", type=int, default=8, help="G, leaves per prompt")
    parser.add_argument("--length", type=int, default=48, help="max completion tokens")
    parser.add_argument("--fork-after", type=int, default=16)
    parser.add_argument("--vllm", action="store_true", help="generate on TRL's colocated vLLM engine")
    parser.add_argument("--vllm-server", action="store_true", help="generate on TRL's vLLM server (started here)")
    parser.add_argument("--order", default="iid,tree", help="run order, e.g. tree,iid")
    args = parser.parse_args()
    if args.vllm:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    torch.set_num_threads(1)
    with contextlib.ExitStack() as stack:
        server = start_server(args, stack) if args.vllm_server else {}
        results = {name: run(name, args, **server) for name in args.order.split(",")}
    mode = "vLLM colocate" if args.vllm else "vLLM server" if args.vllm_server else "transformers"
    print(f"TRL GRPO, 4-layer random Llama, CPU 1 thread, {mode}; "
          f"{args.steps} steps x {args.prompts} prompts x "
          f"G={args.generations}, max {args.length} tokens; tree: {args.generations // 2} roots x 2 after "
          f"{args.fork_after} tokens")
    print(f"{'sampler':8} {'completions':>11} {'tokens':>7} {'generated':>9} {'generate s':>10} {'train s':>8}")
    for name, s in results.items():
        print(f"{name:8} {s['completions']:11d} {s['completion_tokens']:7d} {s['generated']:9d} "
              f"{s['generate_s']:10.2f} {s['train_s']:8.2f}")
    i, t = results["iid"], results["tree"]
    print(f"tree / iid: generated tokens {t['generated'] / i['generated']:.3f}, "
          f"generation wall {t['generate_s'] / i['generate_s']:.3f}, training wall {t['train_s'] / i['train_s']:.3f}")


if __name__ == "__main__":
    main()
