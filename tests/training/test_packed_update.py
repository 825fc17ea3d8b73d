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


def test_minibatches_of_whole_groups():
    import torch

    from treecredit.training.loop import minibatch_rows

    group_ids = torch.tensor([3, 3, 3, 0, 0, 7, 7, 7, 7, 1])  # groups of different sizes (trees that came out short)
    parts = minibatch_rows(group_ids, 3, "groups", torch.Generator().manual_seed(0))
    assert len(parts) == 3 and sorted(torch.cat(parts).tolist()) == list(range(10))
    held = [set(group_ids[p].tolist()) for p in parts]
    assert sorted(len(h) for h in held) == [1, 1, 2] and len(set().union(*held)) == 4  # each group in one part
    again = minibatch_rows(group_ids, 3, "groups", torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(parts, again))  # same seed, same minibatches
    rows = minibatch_rows(group_ids, 3, "rows", torch.Generator().manual_seed(0))
    assert sorted(len(p) for p in rows) == [3, 3, 4]
    assert len(minibatch_rows(torch.tensor([0, 0]), 3, "groups", torch.Generator())) == 1  # empty parts left out


def test_group_minibatches_agree_across_layouts_and_are_validated(tiny_config, tmp_path):
    runs = {}
    for layout in ("rows", "packed"):
        cfg = tiny_config(steps=1, eval_every=10, eval_problems=4, minibatches=2, sampler="tree", warm_start_steps=20,
                          update_layout=layout, minibatch_split="groups", out=str(tmp_path / layout))
        runs[layout] = [r for r in train(cfg, log=lambda *a: None) if r["kind"] == "train"]
    for key in ("loss", "ratio_mean", "clip_frac", "grad_norm"):
        assert runs["rows"][0][key] == pytest.approx(runs["packed"][0][key], rel=1e-4, abs=1e-6), key
    with pytest.raises(ValueError, match="minibatch_split"):
        tiny_config(minibatch_split="prompts")
    with pytest.raises(ValueError, match="minibatches"):
        tiny_config(minibatch_split="groups", prompts_per_step=2, minibatches=3)
