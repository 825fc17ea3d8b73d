"""``--model ORG/NAME[@REVISION]`` from a local Hugging Face cache built in ``tmp_path`` (the layout
``huggingface_hub`` writes: ``models--ORG--NAME/{blobs,refs,snapshots}``, snapshot files linked to blobs):
it resolves, loads and trains with every network path made to raise; an id not cached, or cached in part, is
refused before any work, naming the cache folder and the fix."""

import json
import os
import re
import socket
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.cli import main  # noqa: E402
from treecredit.models import HFPolicy  # noqa: E402
from treecredit.models.hf_load import check_model_argument, model_identity, resolve_model  # noqa: E402
from treecredit.models.hub_cache import hub_cache_dir, split_hub_id  # noqa: E402

REPO = "tiny-org/tiny-llama"
MAIN, DEV = "a" * 40, "b" * 40


def _cache_model(hub: Path, repo_id: str, commit: str, seed: int, refs=("main",), drop=()) -> Path:
    """Save a tiny random Llama and its tokenizer as snapshot ``commit`` of ``repo_id`` under ``hub`` (each file a
    blob named by its hash, linked from the snapshot as ``huggingface_hub`` does); ``refs`` name the commit;
    ``drop``: files left out (a partial download). The snapshot folder."""
    import hashlib
    import tempfile

    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=hub) as staging:
        tok = local_tokenizer()
        torch.manual_seed(seed)
        transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(staging)
        tok.save_pretrained(staging)
        for file in sorted(Path(staging).iterdir()):
            if file.name in drop:
                continue
            blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
            os.replace(file, blob)
            (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty hub cache named by HF_HUB_CACHE, offline, with every way to the network made to raise."""
    import huggingface_hub
    import transformers.utils.hub as transformers_hub

    folder = tmp_path / "hf-hub"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError(f"a network path was taken: {args} {kwargs}")

    for module, name in ((huggingface_hub, "hf_hub_download"), (huggingface_hub, "snapshot_download"),
                         (huggingface_hub.file_download, "hf_hub_download"), (transformers_hub, "hf_hub_download"),
                         (transformers_hub, "snapshot_download"), (socket.socket, "connect"),
                         (socket, "create_connection")):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, no_network)
    return folder


def test_hub_ids_are_told_from_paths():
    assert split_hub_id("Qwen/Qwen2.5-0.5B") == ("Qwen/Qwen2.5-0.5B", None)
    assert split_hub_id("gpt2") == ("gpt2", None)
    assert split_hub_id("org/name@dev") == ("org/name", "dev")
    for path in ("/abs/model", "./model", "~/model", "a/b/c", "org/name.gguf", "org--x/name", "../model", "org/"):
        assert split_hub_id(path) is None, path


def test_the_cache_folder_follows_the_environment_when_resolved(tmp_path, monkeypatch):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hub_cache_dir() == tmp_path / "hub"


def test_a_cached_hub_id_resolves_to_its_snapshot_and_loads_without_the_network(hub, tmp_path, monkeypatch):
    main_snapshot = _cache_model(hub, REPO, MAIN, seed=0)
    dev_snapshot = _cache_model(hub, REPO, DEV, seed=1, refs=("dev",))
    assert resolve_model(REPO) == (str(main_snapshot), None)
    assert resolve_model(f"{REPO}@dev")[0] == str(dev_snapshot)
    assert resolve_model(f"{REPO}@{DEV}")[0] == str(dev_snapshot)  # a commit hash
    check_model_argument(REPO)
    policy = HFPolicy.from_pretrained(REPO, progress=False)
    saved = transformers.AutoModelForCausalLM.from_pretrained(main_snapshot, local_files_only=True)
    assert torch.equal(policy.model.lm_head.weight, saved.lm_head.weight)
    dev = HFPolicy.from_pretrained(f"{REPO}@dev", progress=False)
    assert not torch.equal(dev.model.lm_head.weight, saved.lm_head.weight)

    # the cache key: the snapshot's files as a folder's (the blobs' sizes through the links), one per revision
    identity = model_identity(REPO)
    assert identity == model_identity(str(main_snapshot)) == model_identity(REPO)
    assert identity["folder"] == str(main_snapshot.resolve()) and MAIN in identity["folder"]
    sizes = dict((name, size) for name, size, _ in identity["files"])
    assert sizes["model.safetensors"] == (main_snapshot / "model.safetensors").stat().st_size > 1000
    assert model_identity(f"{REPO}@dev") != identity

    # HF_HOME names the cache when HF_HUB_CACHE is unset (read now, not when huggingface_hub was imported)
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    os.replace(hub, tmp_path / "home" / "hub")
    assert resolve_model(REPO)[0] == str(tmp_path / "home" / "hub" / f"models--{REPO.replace('/', '--')}"
                                         / "snapshots" / MAIN)


def test_a_local_folder_named_like_an_id_is_the_folder(hub, tmp_path, monkeypatch):
    _cache_model(hub, REPO, MAIN, seed=0)
    (tmp_path / "work" / REPO).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_model(REPO) == (REPO, None)


def _train_args(tmp_path, model):
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i)} for i in range(6)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["train", "--model", model, "--dataset", str(tmp_path / "d.jsonl"), "--task-option", "held_out=2",
            "--steps", "1", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "3",
            "--minibatches", "1", "--out", str(tmp_path / "run"), "--no-tensorboard", "--no-progress"]


def test_train_takes_a_cached_hub_id_and_pins_it_in_its_config(hub, tmp_path, monkeypatch, capsys):
    from treecredit.models.hf_load import resolve_model

    first = _cache_model(hub, REPO, MAIN, seed=0)
    monkeypatch.chdir(tmp_path)
    assert main(_train_args(tmp_path, REPO)) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # resumed or exported elsewhere, it is looked up in that machine's cache, at the commit it trained from
    assert config["model"] == f"{REPO}@{MAIN}"
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    _cache_model(hub, REPO, DEV, seed=1)  # refs/main moves on to another snapshot
    assert resolve_model(REPO)[0] != str(first) and resolve_model(config["model"])[0] == str(first)
    capsys.readouterr()
    assert main(_train_args(tmp_path, REPO) + ["--resume", "--steps", "2"]) == 2  # the same command: another base
    err = capsys.readouterr().err
    assert f"model: saved '{REPO}@{MAIN}', now '{REPO}@{DEV}'" in err, err


def test_an_id_not_in_the_cache_is_refused_before_any_work(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(_train_args(tmp_path, "Qwen/Qwen2.5-0.5B")) == 2
    err = capsys.readouterr().err
    assert "model: 'Qwen/Qwen2.5-0.5B' is neither a local folder nor a Hugging Face hub id in the local cache" in err
    assert str(hub) in err and "models--Qwen--Qwen2.5-0.5B" in err
    assert "`hf download Qwen/Qwen2.5-0.5B`; `huggingface-cli download` with huggingface_hub before 0.34" in err
    assert "local model folder" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="model: 'Qwen/Qwen2.5-0.5B' is neither a local folder nor"):  # the Python API
        HFPolicy.from_pretrained("Qwen/Qwen2.5-0.5B", progress=False)


@pytest.mark.parametrize("case", ["no revision", "no config", "no weights", "a shard missing", "no tokenizer"])
def test_a_partly_cached_id_is_refused_naming_what_is_missing(hub, case):
    if case == "no revision":
        _cache_model(hub, REPO, MAIN, seed=0)
        with pytest.raises(ValueError, match=r"revision 'v2' of tiny-org/tiny-llama is not in the local cache .*"
                                             rf"cached revisions: main, {MAIN}\).*--revision v2"):
            check_model_argument(f"{REPO}@v2")
        return
    drop = {"no config": ("config.json",), "no weights": ("model.safetensors",),
            "no tokenizer": ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model")}.get(case, ())
    snapshot = _cache_model(hub, REPO, MAIN, seed=0, drop=drop)
    if case == "a shard missing":
        (snapshot / "model.safetensors").rename(snapshot / "model-00001-of-00002.safetensors")
        index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
        (snapshot / "model.safetensors.index.json").write_text(json.dumps(index))
    expected = {"no config": "holds no config.json", "no weights": "lacks weights",
                "a shard missing": "lacks 1 of the 2 weight shards", "no tokenizer": "lacks a tokenizer"}[case]
    where = re.escape(str(snapshot))
    with pytest.raises(ValueError, match=f"cached snapshot {where} {expected}.*only part of tiny-org/tiny-llama"):
        check_model_argument(REPO)
