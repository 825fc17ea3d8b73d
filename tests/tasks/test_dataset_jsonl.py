"""Plain JSON Lines files are read without ``datasets`` (tasks/dataset_jsonl.py), to the rows ``datasets`` gives;
any file the reader is not sure of still goes to ``datasets``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from treecredit.tasks.dataset_io import load_rows
from treecredit.tasks.dataset_jsonl import plain_rows

datasets = pytest.importorskip("datasets")

CASES = {  # name: (lines, read without datasets)
    "text": (['{"prompt": "1+1=", "answer": "2"}', '{"prompt": "Gr\\u00f6\\u00dfe \\u2028", "answer": "007"}'], True),
    "ints-bools-floats-nulls": (['{"p": "a", "n": 1, "ok": true, "x": 0.1, "z": null}',
                                 '{"p": "b", "n": 2, "ok": false, "x": 1.0, "z": null}'], True),
    "keys-missing-or-reordered": (['{"p": "a"}', '{"answer": "2", "p": "b"}', "", "  ", '{"p": "c", "extra": "x"}'],
                                  True),
    "crlf": (['{"p": "a", "a": "1"}\r', '{"p": "b", "a": "2"}\r'], True),
    "messages": (['{"prompt": [{"role": "user", "content": "hi"}], "tests": ["x"]}',
                  '{"prompt": [{"content": "yo", "role": "user"}, {"role": "assistant", "content": "ok"}], '
                  '"tests": []}'], True),
    "ints-and-floats": (['{"p": "a", "answer": 1}', '{"p": "b", "answer": 2.5}'], False),  # datasets: 1.0
    "dates": (['{"p": "a", "answer": "2024-01-01"}', '{"p": "b", "answer": "2024-01-02 10:00:00"}'], False),
    "nested": (['{"p": "a", "meta": {"k": 1}}', '{"p": "b", "meta": {"k": 2}}'], False),
    "message-keys-differ": (['{"m": [{"role": "user", "content": "a", "name": "x"}]}',
                             '{"m": [{"role": "user", "content": "b"}]}'], False),
    "text-and-int": (['{"p": "a", "answer": "1"}', '{"p": "b", "answer": 2}'], False),
    "duplicate-key": (['{"p": "a", "p": "b"}'], False),
    "lone-surrogate": (['{"p": "a\\ud83d", "answer": "1"}'], False),  # datasets refuses it
    "lone-surrogate-in-a-message": (['{"m": [{"role": "user", "content": "\\udcff"}]}'], False),
    "lone-surrogate-key": (['{"p\\ud83d": "a"}'], False),
    "surrogate-pair": (['{"p": "smile \\ud83d\\ude00", "answer": "1"}'], True),
}


def _write(tmp_path, name, lines) -> Path:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_a_plain_file_gives_the_rows_datasets_gives_and_any_other_goes_to_datasets(tmp_path, name):
    lines, plain = CASES[name]
    path = _write(tmp_path, name, lines)
    fast = plain_rows(path)
    assert (fast is not None) == plain
    try:
        reference = [dict(row) for row in datasets.load_dataset("json", data_files=str(path), split="train")]
    except Exception:  # noqa: BLE001 — datasets refuses it: load_rows says so, as before
        assert fast is None
        with pytest.raises(ValueError, match=r"^dataset: "):
            load_rows(str(path))
        return
    assert load_rows(str(path)) == reference
    if fast is not None:
        assert repr(fast) == repr(reference)  # the keys' order too


def test_loading_a_plain_jsonl_file_does_not_import_datasets(tmp_path):
    # was: every .jsonl went through datasets.load_dataset, which imports datasets, pandas and pyarrow (seconds)
    path = _write(tmp_path, "d", [json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) for i in range(20)])
    code = ("import sys; from treecredit.tasks.dataset_io import load_rows; rows = load_rows(sys.argv[1]); "
            "print(len(rows), rows[3], 'datasets' in sys.modules, 'pandas' in sys.modules)")
    src = str(Path(__file__).parents[2] / "src")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out[0] == "20" and out[-2:] == ["False", "False"], out
