"""The trainer's update in the packed layout gives the row layout's numbers (one i.i.d. and one tree step)."""

import pytest

from treecredit.training.loop import train


@pytest.mark.parametrize("sampler", ["iid", "tree"])
def test_packed_and_row_updates_agree_in_training(tiny_config, tmp_path, sampler):
    runs = {}
    for layout in ("rows", "packed"):
        cfg = tiny_config(steps=2, eval_every=10, eval_problems=4, minibatches=3, sampler=sampler, warm_start_steps=20,
                          update_layout=layout, out=str(tmp_path / layout))
        runs[layout] = [r for r in train(cfg, log=lambda *a: None) if r["kind"] == "train"]
    for a, b in zip(runs["rows"], runs["packed"]):
        assert a["generated_tokens"] == b["generated_tokens"]
        for key in ("loss", "ratio_mean", "clip_frac", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_update_layout_is_validated(tiny_config):
    with pytest.raises(ValueError, match="update_layout"):
        tiny_config(update_layout="trie")
