"""The disk-space preflight's margin is sized to what runs write (one per disk, not 64 MiB per run), and the
warm start's weights count where its cache lies on the run's disk and does not hold them yet
(``training.disk_space``; trial 34, f11 and review 34, item 8)."""

import json
from collections import namedtuple

import pytest

from treecredit.training import disk_space
from treecredit.training.config import TrainConfig

Usage = namedtuple("Usage", "total used free")


def _disk(monkeypatch, free: int) -> None:
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: Usage(2**40, 0, free))


def _trial(tmp_path, **overrides) -> TrainConfig:
    """The trial's 2-step run: a 1-layer 16-wide GPT (checkpoints of about 150 KiB), its cache elsewhere."""
    values = dict(out=str(tmp_path / "run"), steps=2, n_layer=1, n_head=2, n_embd=16, warm_start_steps=2,
                  warm_start_batch=4, max_new_tokens=4, prompts_per_step=2, group_size=2, eval_problems=2,
                  progress=False, tensorboard=False, cache_dir=str(tmp_path / "cache"))
    return TrainConfig(**{**values, **overrides})


def _cache_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setattr(disk_space, "disk_of", lambda folder: "cache" if folder.name == "cache" else "runs")


def test_a_small_run_fits_a_30_mib_disk_and_a_small_comparison_200_mib(monkeypatch, tmp_path):
    # was refused: 64 MiB of margin for each run ("needs about 257.5 MiB" for 4 runs writing 568 KiB in all)
    _cache_elsewhere(monkeypatch, tmp_path)
    config = _trial(tmp_path)
    assert disk_space.checkpoint_bytes(config) < 200 * 2**10
    _disk(monkeypatch, 30 * 2**20)
    disk_space.check_free_space(config)
    _disk(monkeypatch, 200 * 2**20)
    runs = [config.replaced(out=str(tmp_path / "cmp" / "runs" / f"arm{a}-seed{s}")) for a in range(2) for s in range(2)]
    disk_space.check_runs_free_space(runs, jobs=1)
    _disk(monkeypatch, 10 * 2**20)  # but not on a nearly full disk
    with pytest.raises(ValueError, match="^out: the disk of"):
        disk_space.check_free_space(config)


def test_a_large_model_is_still_refused_where_its_checkpoints_do_not_fit(monkeypatch, tmp_path):
    _cache_elsewhere(monkeypatch, tmp_path)
    config = _trial(tmp_path, warm_start_steps=0)
    monkeypatch.setattr(disk_space, "model_weight_bytes", lambda config: 2 * 2**30)  # 0.5B float32 weights
    one = disk_space.checkpoint_bytes(config)
    _disk(monkeypatch, disk_space.CHECKPOINTS_ON_DISK * one)  # the checkpoints alone fit, not their margin
    with pytest.raises(ValueError, match=r"3 checkpoints of 6\.0 GiB each .* and 1\.8 GiB for its metrics, samples"):
        disk_space.check_free_space(config)


def _cached(folder, config) -> None:
    """The warm start of ``config`` in the cache ``folder``, as warmstart.cached_policy leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd}
    settings = {"task": "arithmetic", "task_options": {}, "model": model, "steps": config.warm_start_steps,
                "batch_size": config.warm_start_batch, "lr": config.warm_start_lr, "seed": config.warm_start_seed,
                "version": 1, "final_loss": 1.0}
    (folder / "warmstart-0123456789abcdef.json").write_text(json.dumps(settings))
    (folder / "warmstart-0123456789abcdef.pt").write_bytes(b"weights")


def test_a_warm_start_to_be_cached_on_the_runs_disk_counts(monkeypatch, tmp_path):
    # was: neither check counted it, so a disk with room for the checkpoints alone filled while the warm start
    # was saved (its own check_cache_room looks at the cache alone)
    config = _trial(tmp_path, warm_start_steps=150, n_layer=4, n_head=4, n_embd=144)
    one = disk_space.checkpoint_bytes(config)
    alone = disk_space.CHECKPOINTS_ON_DISK * one + disk_space.margin_bytes(disk_space.CHECKPOINTS_ON_DISK * one)
    weights = disk_space.model_weight_bytes(config) + disk_space.CACHE_MARGIN_BYTES
    _disk(monkeypatch, alone)
    with pytest.raises(ValueError, match=r"for the warm start's weights in its cache \(on the same disk: "):
        disk_space.check_free_space(config)
    assert disk_space.space_needed(config) == (alone + weights, one)
    _disk(monkeypatch, alone + weights)
    disk_space.check_free_space(config)
    _disk(monkeypatch, alone)
    _cache_elsewhere(monkeypatch, tmp_path)
    disk_space.check_free_space(config)  # the cache on another disk: its own check (check_cache_room)
    monkeypatch.undo()
    _cached(tmp_path / "cache", config)
    _disk(monkeypatch, alone)
    disk_space.check_free_space(config)  # cached already: nothing more is written
    disk_space.check_free_space(config.replaced(warm_start_steps=0, cache_dir=str(tmp_path / "empty")))


def test_a_comparison_counts_each_warm_start_once(monkeypatch, tmp_path):
    config = _trial(tmp_path, warm_start_steps=150, n_layer=4, n_head=4, n_embd=144)
    runs = [config.replaced(out=str(tmp_path / "cmp" / "runs" / f"run{i}")) for i in range(4)]
    one = disk_space.checkpoint_bytes(config)
    checkpoints = 4 * disk_space.KEPT_CHECKPOINTS * one + one
    together = checkpoints + disk_space.margin_bytes(checkpoints, runs=4)
    weights = disk_space.model_weight_bytes(config) + disk_space.CACHE_MARGIN_BYTES
    _disk(monkeypatch, together + weights - 1)
    with pytest.raises(ValueError, match=r"the 4 runs of this comparison there need about "
                                         rf"{together + weights:,} .* for the weights of 1 warm start in the cache"):
        disk_space.check_runs_free_space(runs, jobs=1)
    _disk(monkeypatch, together + weights)
    disk_space.check_runs_free_space(runs, jobs=1)  # one warm start for the four runs, not four
    other = runs[:2] + [run.replaced(warm_start_seed=1) for run in runs[2:]]  # two warm starts
    with pytest.raises(ValueError, match="for the weights of 2 warm starts in"):
        disk_space.check_runs_free_space(other, jobs=1)


def test_the_refusal_is_what_space_needed_says(monkeypatch, tmp_path):
    # was: check_free_space summed the parts in a copy of space_needed's code, so space_needed's tests did not
    # test what it refused on
    config = _trial(tmp_path, warm_start_steps=0)
    _cache_elsewhere(monkeypatch, tmp_path)
    one = disk_space.checkpoint_bytes(config)
    _disk(monkeypatch, 2**30)
    disk_space.check_free_space(config)
    monkeypatch.setattr(disk_space, "space_needed", lambda config: (2**31, one))
    with pytest.raises(ValueError, match=rf"this run needs about {2**31:,} "):
        disk_space.check_free_space(config)


def _hf_model(folder, rows: int) -> None:
    """A model folder whose only weights file is a safetensors header of ``rows`` × 1000 values."""
    import struct

    folder.mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [rows, 1000], "data_offsets": [0, 0]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def test_another_models_cached_hf_warm_start_does_not_count(tmp_path):
    # was: the Hugging Face warm start's side-car was matched on its kind and settings alone, so another
    # model's cached warm start (same steps, batch, lr, seed) counted as this run's, and its weights were not
    # counted in the disk check
    from types import SimpleNamespace

    from treecredit.models.hf_load import model_identity

    _hf_model(tmp_path / "this", 3)
    _hf_model(tmp_path / "other", 5)
    cache = tmp_path / "cache"
    cache.mkdir()
    config = SimpleNamespace(model=str(tmp_path / "this"), gguf_file="", hf_warm_start_steps=50,
                             hf_warm_start_batch=8, hf_warm_start_lr=1e-4, warm_start_seed=0, cache_dir=str(cache),
                             lora_rank=0)
    common = {"task": "arithmetic", "kind": "hf", "steps": 50, "batch_size": 8, "lr": 1e-4, "seed": 0, "version": 1}
    for name in ("this", "other"):
        side = {**common, "model": model_identity(str(tmp_path / name))}
        (cache / f"hf-warmstart-{name}.json").write_text(json.dumps(side))
    (cache / "hf-warmstart-other.pt").write_bytes(b"weights")
    found = disk_space.warm_start_cache(config)
    assert found is not None and found[2] == 4 * 3000 + disk_space.CACHE_MARGIN_BYTES
    (cache / "hf-warmstart-this.pt").write_bytes(b"weights")
    assert disk_space.warm_start_cache(config) is None  # this model's own: cached already
