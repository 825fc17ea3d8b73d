"""Start-up cost of reading a ``.jsonl`` dataset: the standard-library reader of plain files
(``treecredit.tasks.dataset_jsonl``) against ``datasets.load_dataset`` (what every ``.jsonl`` went through before),
each in fresh Python processes, side by side.

Writes a GSM8K-like file (``--rows`` rows of prompt, answer and a two-message conversation), then times
``load_rows`` in ``--repeats`` fresh interpreters per reader (the import of what the reader needs included, as at
the start of a run) and prints the medians and their ratio::

    nice -n 10 python benchmarks/bench_jsonl_load.py --rows 7473 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CODE = """
import sys, time
started = time.perf_counter()
if sys.argv[2] == "datasets":  # the path before: every .jsonl through datasets
    import treecredit.tasks.dataset_jsonl as reader
    reader.plain_rows = lambda source: None
from treecredit.tasks.dataset_io import load_rows
rows = load_rows(sys.argv[1])
print(time.perf_counter() - started, len(rows), "datasets" in sys.modules)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=7473, help="rows of the file (GSM8K's train split: 7,473)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        with path.open("w") as handle:
            for i in range(args.rows):
                question = f"Natalia sold clips to {i} of her friends in April, and then half as many in May. How many?"
                handle.write(json.dumps({"question": question, "answer": f"#### {i + i // 2}",
                                         "messages": [{"role": "user", "content": question},
                                                      {"role": "assistant", "content": str(i + i // 2)}]}) + "\n")
        size = path.stat().st_size
        times: dict[str, list[float]] = {"stdlib": [], "datasets": []}
        for _ in range(args.repeats):
            for reader in times:  # in turn, so that the machine's load falls on both alike
                out = subprocess.run([sys.executable, "-c", CODE, str(path), reader], capture_output=True, text=True,
                                     check=True).stdout.split()
                times[reader].append(float(out[0]))
                imported = out[2] == "True"
                if imported != (reader == "datasets"):
                    sys.exit(f"{reader}: datasets imported = {imported}; the file is not read the way this compares")
    stdlib, with_datasets = (statistics.median(times[r]) for r in ("stdlib", "datasets"))
    print(f"{args.rows:,} rows, {size / 1e6:.1f} MB; median of {args.repeats} fresh processes, import + load_rows")
    for label, reader, median in (("datasets.load_dataset (before)", "datasets", with_datasets),
                                  ("standard library (now)", "stdlib", stdlib)):
        print(f"  {label:<31} {median:6.2f} s   runs: {', '.join(f'{t:.2f}' for t in times[reader])}")
    print(f"  ratio before / now: {with_datasets / stdlib:.1f}x")

if __name__ == "__main__":
    main()
