"""A damaged warm-start cache file is named and rebuilt, not a torch zip error naming no file; cache files are
written under a name of their own before the rename (two runs building one warm start at once)."""

import os
from types import SimpleNamespace

import torch

from treecredit.training.warmstart import cached_policy


def _build():
    return SimpleNamespace(module=torch.nn.Linear(3, 2))


def test_a_truncated_cache_file_is_named_and_rebuilt(tmp_path, monkeypatch):
    trained, logged, replaced = [], [], []

    def train(policy, on_step):
        trained.append(1)
        return [0.5]

    cached_policy({"a": 1}, _build, train, tmp_path, logged.append)
    path = next(tmp_path.glob("warmstart-*.pt"))
    path.write_bytes(path.read_bytes()[:100])  # a kill or a full disk while it was written (before: no rename)
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(str(a)), real_replace(a, b))[1])
    cached_policy({"a": 1}, _build, train, tmp_path, logged.append)
    assert len(trained) == 2
    assert any(f"warm start cache {path} is damaged" in line and "training the warm start again" in line
               for line in logged)
    assert torch.load(path, weights_only=True).keys() == {"weight", "bias"}  # rebuilt
    assert replaced and all(f".{os.getpid()}.tmp" in name for name in replaced)
    logged.clear()
    cached_policy({"a": 1}, _build, train, tmp_path, logged.append)
    assert len(trained) == 2 and logged == [f"warm start: loaded {path}"]
