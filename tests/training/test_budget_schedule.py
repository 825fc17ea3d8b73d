"""A token budget counts the tokens a tree keeps, not those a speculative schedule decoded and discarded: the
default ``schedule="auto"`` speculates for entropy and adaptive branching and grows the plain stream's trees, so a
budgeted run must take the same steps and log the same ``generated_tokens`` under both (its waste enters ``flops``)."""

import json

import pytest

from treecredit.training.loop import train


def _records(out):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "train"]


@pytest.mark.parametrize("branching", ["entropy", "adaptive"])
def test_a_token_budget_reads_the_same_tokens_whatever_the_tree_schedule(tiny_config, tmp_path, branching):
    runs = {}
    for schedule in ("stream", "auto"):
        out = tmp_path / schedule
        train(tiny_config(out=str(out), sampler="tree", branching=branching, sampler_options={"schedule": schedule},
                          warm_start_steps=0, steps=50, token_budget=900, max_new_tokens=12, eval_every=0,
                          checkpoint_every=0), log=lambda *a: None)
        runs[schedule] = _records(out)
    stream, auto = runs["stream"], runs["auto"]
    assert [r["generated_tokens"] for r in auto] == [r["generated_tokens"] for r in stream]
    assert auto[-1]["generated_tokens"] <= 900 and len(auto) >= 2
    # the speculation's waste is logged, and is compute all the same: the flops estimate counts it
    assert sum(r.get("tree_speculative_wasted_tokens", 0) for r in auto) > 0
    assert "tree_speculative_wasted_tokens" not in stream[0]
    assert auto[-1]["flops"] > stream[-1]["flops"]
