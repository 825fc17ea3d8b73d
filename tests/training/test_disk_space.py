"""A run whose disk lacks room for its checkpoints is refused before any work (``training.disk_space``), not when
its first checkpoint is written after the warm start and the first steps; a tiny run on a normal disk is not."""

import re
import shutil
from collections import namedtuple

import pytest

from treecredit.training import disk_space
from treecredit.training.disk_space import CHECKPOINTS_ON_DISK, check_free_space, space_needed

Usage = namedtuple("Usage", "total used free")


def free_bytes(monkeypatch, free: int) -> list:
    """``shutil.disk_usage`` as a disk with ``free`` bytes free; returns the folders it was asked about."""
    asked = []
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: asked.append(path) or Usage(2**40, 0, free))
    return asked


def test_a_nearly_full_disk_is_refused_before_the_warm_start(tiny_config, monkeypatch, tmp_path):
    from treecredit.training import loop

    def expensive(*args, **kwargs):
        raise AssertionError("the policy was built (the warm start ran) before the disk was checked")

    monkeypatch.setattr(loop, "build_policy", expensive)
    asked = free_bytes(monkeypatch, 10 * 2**20)
    config = tiny_config()
    need, _ = space_needed(config)
    with pytest.raises(ValueError, match=rf"^out: the disk of {re.escape(config.out)} has 10,485,760 bytes free "
                       rf"\(10\.0 MiB\), and this run needs about {need:,} \(.*\): {CHECKPOINTS_ON_DISK} checkpoints .*"
                       r"Fix: free .* or more on that disk, or pass --out with a folder on a disk with more room"):
        loop.train(config)
    assert asked and not (tmp_path / "run" / "config.json").exists()  # nothing of the run was written


def test_a_tiny_run_passes_on_a_normal_disk_and_its_estimate_is_small(tiny_config, monkeypatch):
    config = tiny_config()
    need, one = space_needed(config)
    assert one < 2**20 and need < 80 * 2**20  # a 2-layer 32-wide GPT: well under a megabyte a checkpoint
    free_bytes(monkeypatch, need)
    check_free_space(config)  # exactly enough: not refused
    free_bytes(monkeypatch, need - 1)
    with pytest.raises(ValueError, match="^out: the disk of"):
        check_free_space(config)


def test_the_estimate_follows_the_models_size(tiny_config):
    small, _ = space_needed(tiny_config())
    default, one = space_needed(tiny_config(n_layer=4, n_head=4, n_embd=144))  # TrainConfig's own small GPT
    assert small < default and 8e6 < one < 16e6  # ~1M float32 weights and two AdamW moments: about 12 MB


def test_a_resume_counts_the_checkpoints_already_in_its_folder(tiny_config, monkeypatch, tmp_path):
    config = tiny_config(n_layer=4, n_head=4, n_embd=144)
    need, one = space_needed(config)
    out = tmp_path / "run"
    out.mkdir()
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        with open(out / name, "wb") as handle:
            handle.truncate(one)  # sparse: its size is what counts
    free_bytes(monkeypatch, need - 2 * one)  # the two kept ones stay where they are: one more is written
    check_free_space(config)
    shutil.rmtree(out)
    with pytest.raises(ValueError, match="^out: the disk of"):
        check_free_space(config)


def test_a_hugging_face_model_is_counted_from_its_files_without_loading_it(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    import torch

    from hf_tiny import local_tokenizer, tiny_llama_config
    from treecredit.training.config import TrainConfig

    folder = tmp_path / "model"
    tok = local_tokenizer()
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok)))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    weights = 4 * sum(p.numel() for p in model.parameters())
    config = TrainConfig(model=str(folder), out=str(tmp_path / "run"), progress=False, tensorboard=False)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", None)  # nothing may load the weights here
    assert disk_space.model_weight_bytes(config) == weights
    assert space_needed(config)[1] == 3 * weights  # weights and AdamW's two moments
    lora = TrainConfig(model=str(folder), lora_rank=2, out=str(tmp_path / "run2"), progress=False, tensorboard=False)
    assert space_needed(lora)[1] == weights  # only the adapters train: their moments are within the margin


@pytest.mark.parametrize("content", [b"not a safetensors file at all", b"\x05\x00\x00\x00\x00\x00\x00\x00{}", b""])
def test_weights_that_cannot_be_counted_are_not_checked(tmp_path, monkeypatch, content):
    from treecredit.training.config import TrainConfig

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(content)  # was: a MemoryError reading a header 'length' of 7e18
    config = TrainConfig(out=str(tmp_path / "run"), progress=False, tensorboard=False)
    config.model = str(folder)  # past TrainConfig's own model checks: only the count is under test
    assert disk_space.model_weight_bytes(config) is None
    free_bytes(monkeypatch, 0)
    check_free_space(config)  # nothing refused for lack of a count
