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


def _header_only(path, rows):
    import json
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [rows, 1000], "data_offsets": [0, 0]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


@pytest.mark.parametrize("index", [False, True])
def test_mistrals_consolidated_copy_beside_the_shards_is_not_counted_twice(tmp_path, index):
    # was: every *.safetensors counted, so a folder with consolidated.safetensors beside its shards gave twice
    # the weights and a run that fits could be refused
    import json
    from types import SimpleNamespace

    _header_only(tmp_path / "model-00001-of-00002.safetensors", 600)
    _header_only(tmp_path / "model-00002-of-00002.safetensors", 400)
    _header_only(tmp_path / "consolidated.safetensors", 1000)
    if index:
        shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": shards}))
    assert [f.name for f in disk_space.weight_files(tmp_path)] == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mistral"}))
    config = SimpleNamespace(model=str(tmp_path), gguf_file=None)
    assert disk_space.model_weight_bytes(config) == disk_space.BYTES_PER_WEIGHT * 1000 * 1000


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


def _sparse(path, size):
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: its size is what counts


def test_a_damaged_checkpoint_a_resume_keeps_is_not_counted_as_room(tiny_config, monkeypatch, tmp_path):
    # was: checkpoint.pt.damaged (set aside by a resume, kept beside the new checkpoints) counted as room the run
    # would reuse, so a disk one checkpoint short passed
    config = tiny_config(n_layer=4, n_head=4, n_embd=144)
    need, one = space_needed(config)
    out = tmp_path / "run"
    out.mkdir()
    for name in ("checkpoint.pt", "checkpoint.prev.pt", "checkpoint.pt.damaged"):
        _sparse(out / name, one)
    free_bytes(monkeypatch, need - 2 * one)  # the two in the rotation stay: one more is written beside them
    check_free_space(config)
    free_bytes(monkeypatch, need - 3 * one)
    with pytest.raises(ValueError, match="^out: the disk of"):
        check_free_space(config)
    check_free_space(config, overwrite=True)  # --overwrite removes the damaged one with the rest


def _compare_base(tmp_path, **overrides):
    from treecredit.training.config import TrainConfig

    return TrainConfig(**{**dict(warm_start_steps=0, out=str(tmp_path / "cmp"), n_layer=4, n_head=4, n_embd=144,
                                 prompts_per_step=4, group_size=8, max_new_tokens=16, estimator="grpo",
                                 tensorboard=False, progress=False), **overrides})


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_comparisons_runs_on_one_disk_are_checked_together(tmp_path, monkeypatch, jobs):
    # was: each run was checked alone, so 6 runs whose checkpoints add up to far more than the disk held passed,
    # and the disk filled after the warm start, runs in
    from treecredit.training.compare import run_comparison

    built = []
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda config, task, log: built.append(task))
    base = _compare_base(tmp_path)
    _, one = space_needed(base)
    checkpoints = 6 * disk_space.KEPT_CHECKPOINTS * one + jobs * one  # each keeps two; `jobs` write a third
    together = checkpoints + disk_space.margin_bytes(checkpoints, runs=6)  # one margin for the disk
    free_bytes(monkeypatch, together - 1)
    runs = re.escape(str(tmp_path / "cmp" / "runs"))
    with pytest.raises(ValueError, match=rf"^out: the disk of {runs} has .* and the 6 runs "
                                         rf"of this comparison there need about {together:,} .* {jobs} at a time "
                                         r"\(--jobs\) write a third.*Fix: free 1 bytes or more on that disk"):
        run_comparison(base, ["grpo", "rloo", "dr_grpo"], [0, 1], 100000, tmp_path / "cmp", jobs=jobs,
                       log=lambda *a: None)
    assert built == [] and not (tmp_path / "cmp").exists()  # before the warm start, nothing written
    free_bytes(monkeypatch, together)
    disk_space.check_runs_free_space([base.replaced(out=str(tmp_path / "cmp" / str(i))) for i in range(6)], jobs)


def test_runs_on_other_disks_are_summed_apart(tmp_path, monkeypatch):
    base = _compare_base(tmp_path)
    need, one = space_needed(base)
    free_bytes(monkeypatch, need)  # room for one run on each disk
    monkeypatch.setattr(disk_space, "disk_of", lambda folder: str(folder))
    disk_space.check_runs_free_space([base.replaced(out=str(tmp_path / str(i))) for i in range(3)], 3)
    monkeypatch.setattr(disk_space, "disk_of", lambda folder: 0)
    with pytest.raises(ValueError, match="the 3 runs of this comparison there"):
        disk_space.check_runs_free_space([base.replaced(out=str(tmp_path / str(i))) for i in range(3)], 3)


def test_a_warm_start_whose_cache_disk_is_full_is_refused_before_it_trains(monkeypatch, tmp_path):
    # was: the cache folder's disk was never checked: the warm start trained, then failed saving its weights
    import torch

    from treecredit.models import GPTPolicy
    from treecredit.tasks import ArithmeticTask
    from treecredit.training import warmstart

    def refused(*args, **kwargs):
        raise AssertionError("the warm start trained before its cache's disk was checked")

    monkeypatch.setattr(warmstart, "train_supervised", refused)
    weights = sum(p.numel() for p in GPTPolicy.build(n_layer=2, n_head=2, n_embd=32).module.state_dict().values())
    need = 4 * weights + disk_space.CACHE_MARGIN_BYTES  # float32
    asked = free_bytes(monkeypatch, need - 1)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=rf"^cache_dir: the disk of the warm-start cache {re.escape(str(cache))} has "
                                         rf"{need - 1:,} bytes free .* need about {need:,} .*Fix: free 1 bytes or "
                                         r"more on that disk, or pass --cache-dir \(or set \$TREECREDIT_CACHE\)"):
        warmstart.warm_started_policy(ArithmeticTask(), model_config={"n_layer": 2, "n_head": 2, "n_embd": 32},
                                      steps=2, batch_size=2, lr=1e-3, seed=0, cache_dir=cache, log=lambda *a: None)
    assert asked and not cache.exists()
    # exactly enough: trained and saved; once cached it is loaded, whatever the disk has free
    monkeypatch.setattr(warmstart, "train_supervised", lambda policy, task, **kw: [1.0])
    free_bytes(monkeypatch, need)
    kwargs = dict(model_config={"n_layer": 2, "n_head": 2, "n_embd": 32}, steps=2, batch_size=2, lr=1e-3, seed=0,
                  cache_dir=cache, log=lambda *a: None)
    warmstart.warm_started_policy(ArithmeticTask(), **kwargs)
    free_bytes(monkeypatch, 0)
    assert isinstance(warmstart.warm_started_policy(ArithmeticTask(), **kwargs).module, torch.nn.Module)
