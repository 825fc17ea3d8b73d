"""docs/agents.md's Python blocks run, each alone, as a user pasting it would run it (trial38 finding 7: the
"Episodes" block used ``make_env`` without importing it: NameError), and its tiny-model command trains without
cutting every episode short (finding 8: ``--sampler-option max_episode_tokens=200`` cut 100% of gridworld's
episodes; the default 400 fits the model's 512 positions). The block count is pinned, so that a new block is run."""

import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
TINY_MODEL = "from transformers import"  # the block that saves tiny_model (imports transformers: slow)


def _blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_block_count_is_pinned():
    blocks = _blocks()
    assert len(blocks) == 3, "docs/agents.md's python blocks changed: update this test (and run them)"
    assert sum(TINY_MODEL in b for b in blocks) == 1


@pytest.mark.parametrize("number", [n for n, b in enumerate(_blocks()) if TINY_MODEL not in b])
def test_a_block_runs_alone(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_blocks()[number], f"docs/agents.md block {number + 1}", "exec"), {})  # a fresh namespace


@pytest.mark.slow  # imports transformers, builds the model, runs two steps (about a minute)
def test_the_tiny_model_block_and_its_command_train_without_cutting_episodes(tmp_path, monkeypatch):
    from treecredit.cli import main

    monkeypatch.chdir(tmp_path)
    block = next(b for b in _blocks() if TINY_MODEL in b)
    exec(compile(block, "docs/agents.md tiny model", "exec"), {})
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    command = re.search(r"Then `treecredit (train --env gridworld --model tiny_model [^`]*?) \.\.\.`", text).group(1)
    assert "max_episode_tokens" not in command  # the default 400
    assert main([*command.split(), "--out", "run", "--no-progress"]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    shares = [r["context_cut_share"] for r in records if r.get("context_cut_share") is not None]
    assert shares and max(shares) < 0.5, shares
