"""A warm start cached under one torch thread count and asked for under another is trained again (the cache key
holds the count: the weights depend on it), and is now preceded by a note naming both counts, the cached file and
the fix (``torch.set_num_threads(N)``; ``--threads N``); until 2026-12-03 a script that loaded a warm start without
``torch.set_num_threads(1)`` retrained it for minutes in silence."""

import pytest
import torch

from treecredit.training.warmstart import cached_policy


class _Policy:
    def __init__(self):
        torch.manual_seed(0)
        self.module = torch.nn.Linear(2, 2)


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _warm_start(cache, lines, trained):
    def train(policy, on_step):
        trained.append(torch.get_num_threads())
        return [1.0]

    return cached_policy({"task": "t", "seed": 0}, _Policy, train, cache, lines.append, training="1 supervised step",
                         steps=1)


def test_a_cache_under_another_thread_count_is_named_with_the_fix(tmp_path, threads):
    lines: list = []
    trained: list = []
    threads(1)
    _warm_start(tmp_path, lines, trained)
    one = next(tmp_path.glob("warmstart-*.pt"))
    assert lines[0] == f"warm start: 1 supervised step (cached afterwards at {one})"  # as before: no count named
    lines.clear()
    _warm_start(tmp_path, lines, trained)
    assert lines == [f"warm start: loaded {one}"] and trained == [1]
    threads(2)
    lines.clear()
    _warm_start(tmp_path, lines, trained)
    notes = [line for line in lines if "note:" in line]
    assert notes == [f"warm start: note: this process runs 2 torch threads, and no cache of this warm start was "
                     f"built under 2; one built under 1 is at {one} (the cache key holds the thread count: float "
                     f"sums run in another order, so the weights differ), so it is trained again now. To load that "
                     f"one instead, call torch.set_num_threads(1) before the warm start (treecredit train and "
                     f"compare: --threads 1)"], lines
    two = next(p for p in tmp_path.glob("warmstart-*.pt") if p != one)
    assert lines[1] == f"warm start: 1 supervised step under 2 torch threads (cached afterwards at {two})"
    assert trained == [1, 2]
    lines.clear()
    _warm_start(tmp_path, lines, trained)  # now cached under 2 as well: loaded, nothing to note
    assert lines == [f"warm start: loaded {two}"]
    threads(3)
    lines.clear()
    _warm_start(tmp_path, lines, trained)
    assert [line.split(" is at ")[1].split(" (")[0] for line in lines if "note:" in line] == [str(one), str(two)]
