"""``treecredit export``: a file as --out, an --out that is, lies in or holds the run folder, a run without a
checkpoint, a damaged checkpoint or config.json, a moved or changed base model and --keep-adapters without LoRA are
refused with the fix (exit 2, nothing written); a LoRA run exports without transformers' deprecation warning that
peft triggers."""

import json
import warnings

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.cli import main  # noqa: E402
from treecredit.export_cli import export_run  # noqa: E402


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """A one-step LoRA run of a tiny local Llama (nothing downloaded)."""
    root = tmp_path_factory.mktemp("export")
    tok = local_tokenizer()
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i)} for i in range(8)]
    (root / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["train", "--model", str(root / "model"), "--dataset", str(root / "d.jsonl"), "--lora-rank", "2",
                 "--task-option", "held_out=2", "--steps", "1", "--prompts-per-step", "2", "--group-size", "2",
                 "--max-new-tokens", "4", "--minibatches", "1", "--no-tensorboard", "--no-progress",
                 "--out", str(root / "run")]) == 0
    return root / "run"


def _copy_run(run, folder, **changes):
    """``run``'s config.json (with ``changes``) and checkpoint files in a new ``folder``."""
    folder.mkdir()
    settings = {**json.loads((run / "config.json").read_text()), **changes}
    (folder / "config.json").write_text(json.dumps(settings))
    for name in ("checkpoint.pt", "checkpoint.pt.sha256"):
        (folder / name).write_bytes((run / name).read_bytes())
    return folder


def _export_fails(capsys, *args) -> str:
    assert main(["export", *map(str, args)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_a_file_as_out_is_refused_even_with_overwrite(lora_run, tmp_path, capsys):
    (tmp_path / "ff").write_text("mine")
    for extra in ([], ["--overwrite"]):
        err = _export_fails(capsys, lora_run, "--out", tmp_path / "ff", *extra)
        assert "out: " in err and "is a file, not a folder. Fix: pass a folder" in err
    assert (tmp_path / "ff").read_text() == "mine"


def test_an_out_below_a_file_is_refused_before_the_model_is_built(lora_run, tmp_path, capsys):
    (tmp_path / "ff").write_text("mine")
    err = _export_fails(capsys, lora_run, "--out", tmp_path / "ff" / "sub")  # was a NotADirectoryError
    assert f"out: '{tmp_path / 'ff'}' is a file, so '{tmp_path / 'ff' / 'sub'}' cannot be created" in err, err
    assert "Fix: pass a folder path" in err and (tmp_path / "ff").read_text() == "mine"


def test_a_run_that_saved_no_checkpoint_is_named_so(tmp_path, capsys):
    (tmp_path / "onlycfg").mkdir()
    (tmp_path / "onlycfg" / "config.json").write_text("{}")
    err = _export_fails(capsys, tmp_path / "onlycfg", "--out", tmp_path / "o")
    assert "the run stopped before its first checkpoint. Fix: resume it with `treecredit train --config" in err
    assert "no config.json" not in err
    err = _export_fails(capsys, tmp_path / "nothing", "--out", tmp_path / "o")
    assert "run: " in err and "is not a folder" in err
    (tmp_path / "nothing").mkdir()
    assert "holds no config.json, so it is not a run folder" in _export_fails(capsys, tmp_path / "nothing", "--out",
                                                                              tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_damaged_checkpoint_names_export_and_its_fix(lora_run, tmp_path, capsys):
    run = _copy_run(lora_run, tmp_path / "bad")
    (run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes()[:-10])
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert "run: cannot export: no valid checkpoint" in err and "is truncated" in err
    assert "Fix: export another run, or train this one anew" in err and "resume:" not in err
    assert not (tmp_path / "o").exists()


def test_a_moved_base_model_is_named_as_the_runs_recorded_model(lora_run, tmp_path, capsys):
    gone = str(tmp_path / "gone-model")
    run = _copy_run(lora_run, tmp_path / "moved", model=gone)
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert f"run: the run's recorded base model {gone!r} (config.json's 'model') is missing" in err
    assert "Fix: put the base model back at that path" in err and "--model" not in err


@pytest.mark.parametrize("hub_id, command", [
    ("someorg/gone-model", "`hf download someorg/gone-model`;"),
    ("someorg/gone-model@v2", "`hf download someorg/gone-model --revision v2`;")])
def test_a_recorded_hub_id_missing_from_the_cache_is_to_be_downloaded_not_put_back(lora_run, tmp_path, capsys,
                                                                                   monkeypatch, hub_id, command):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # the id is in no cache here
    run = _copy_run(lora_run, tmp_path / "hub", model=hub_id)
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert f"run: the run's recorded base model {hub_id!r} (config.json's 'model') is neither a local folder nor a " \
           "Hugging Face hub id in the local cache" in err
    assert "Fix: download it into the local Hugging Face cache" in err and command in err
    assert "`huggingface-cli download` with huggingface_hub before 0.34)" in err  # the command's older name
    assert "put the base model back at that path" not in err and "--model" not in err


def test_keep_adapters_without_lora_is_refused(lora_run, tmp_path, capsys):
    run = _copy_run(lora_run, tmp_path / "full", lora_rank=0)
    err = _export_fails(capsys, run, "--out", tmp_path / "o", "--keep-adapters")
    assert "keep_adapters: the run trained all weights (lora_rank 0)" in err and "Fix: drop --keep-adapters" in err
    assert not (tmp_path / "o").exists()


def test_a_lora_run_exports_merged_without_the_peft_deprecation_warning(lora_run, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_run(lora_run, tmp_path / "merged", log=lambda *a: None)
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "merged", local_files_only=True)
    assert not any("lora" in name for name in reloaded.state_dict())
    export_run(lora_run, tmp_path / "adapters", merge_lora=False, log=lambda *a: None)
    assert (tmp_path / "adapters" / "adapter_config.json").is_file()


def test_export_falls_back_to_the_previous_checkpoint_without_changing_the_run_folder(lora_run, tmp_path, capsys):
    run = _copy_run(lora_run, tmp_path / "fallback")
    for name in ("checkpoint.pt", "checkpoint.pt.sha256"):  # the good one becomes the previous checkpoint
        (run / name).rename(run / name.replace("checkpoint.pt", "checkpoint.prev.pt"))
    (run / "checkpoint.pt").write_bytes((run / "checkpoint.prev.pt").read_bytes()[:-10])
    before = sorted(p.name for p in run.iterdir())
    assert main(["export", str(run), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "warning: checkpoint " in captured.out and "reading " in captured.out
    assert sorted(p.name for p in run.iterdir()) == before  # nothing renamed (was checkpoint.pt.damaged)


@pytest.mark.parametrize("text,problem", [("{\n oops", "is not valid JSON: Expecting property name"),
                                          ("[1, 2]", "holds a list, not a JSON object of settings")])
def test_a_damaged_config_json_is_named_with_its_fix(lora_run, tmp_path, capsys, text, problem):
    run = _copy_run(lora_run, tmp_path / "badcfg")
    (run / "config.json").write_text(text)
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert f"run: {str(run / 'config.json')!r} (the run's settings) {problem}" in err, err
    assert "Fix: repair the file" in err and "or export another run" in err
    assert not (tmp_path / "o").exists()


def test_a_config_json_with_an_unknown_field_is_named_as_the_run_s(lora_run, tmp_path, capsys):
    run = _copy_run(lora_run, tmp_path / "alias", learning_rate=1e-4)  # was: a TypeError traceback from TrainConfig
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert (f"run: {str(run / 'config.json')!r} (the run's settings) has unknown field(s) ['learning_rate'] (did you "
            "mean learning_rate → lr?). Fix: use fields of TrainConfig") in err, err
    assert not (tmp_path / "o").exists()


def test_an_out_that_is_inside_or_holds_the_run_folder_is_refused_even_with_overwrite(lora_run, tmp_path, capsys):
    """``--out RUN --overwrite`` wrote the model's config.json over the run's own (trial 18): the run could no longer
    resume or export. Refused for the run folder, a folder inside it and one holding it (resolved paths), before the
    checkpoint is read (a damaged one here would be named otherwise)."""
    (tmp_path / "holder").mkdir()
    run = _copy_run(lora_run, tmp_path / "holder" / "x")
    (run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes()[:-10])
    (tmp_path / "link").symlink_to(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    cases = [(run, "is the run folder"), (tmp_path / "holder" / "x" / ".." / "x", "is the run folder"),
             (tmp_path / "link", "is the run folder"),
             (run / "hf", "lies inside the run folder"), (tmp_path / "holder", "holds the run folder")]
    for out, where in cases:
        for extra in (["--overwrite"], []):
            err = _export_fails(capsys, run, "--out", out, *extra)
            assert f"out: {str(out)!r} {where}" in err and "even with --overwrite" in err, err
            assert f"Fix: pass an --out outside the run folder, e.g. --out {tmp_path / 'holder' / 'x-hf'}" in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before and not (run / "hf").exists()


def test_an_out_that_holds_another_run_is_refused_even_with_overwrite(lora_run, tmp_path, capsys):
    # was (trial 20): `export run1 --out other_run --overwrite` replaced other_run's config.json, which could then
    # neither resume nor export
    other = _copy_run(lora_run, tmp_path / "other")
    before = {p.name: p.read_bytes() for p in other.iterdir()}
    err = _export_fails(capsys, lora_run, "--out", other, "--overwrite")
    assert f"out: {str(other)!r} holds a run (checkpoint.pt): the export's config.json would replace" in err, err
    assert {p.name: p.read_bytes() for p in other.iterdir()} == before
    err = _export_fails(capsys, lora_run / "checkpoint.pt", "--out", tmp_path / "x")  # the run named first
    assert "run: " in err and "is not a folder" in err, err


def test_a_base_model_folder_that_changed_since_the_run_started_is_refused(lora_run, tmp_path, capsys):
    """Was (trial): after the base folder's config.json was edited, export wrote the edited rms_norm_eps into the
    exported config.json silently. Refused now before anything is written, as a resume is; a run saved before models
    were fingerprinted is not checked."""
    import shutil

    from treecredit.training.model_fingerprint import model_fingerprint

    model = tmp_path / "base"
    shutil.copytree(lora_run.parent / "model", model)
    recorded = json.loads((lora_run / "config.json").read_text())
    eps = json.loads((model / "config.json").read_text())["rms_norm_eps"]
    run = _copy_run(lora_run, tmp_path / "r", model=str(model),
                    data_fingerprints={**recorded["data_fingerprints"], str(model): model_fingerprint(str(model))})
    export_run(run, tmp_path / "same", log=lambda *a: None)  # unchanged: exports
    assert json.loads((tmp_path / "same" / "config.json").read_text())["rms_norm_eps"] == eps
    settings = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**settings, "rms_norm_eps": 0.001}))
    err = _export_fails(capsys, run, "--out", tmp_path / "o")
    assert f"run: the run's base model changed: the model folder {model} changed since the run in {run} started (" \
           in err, err
    assert "the export would take the model's settings (config.json), tokenizer and base weights from other files " \
           "than the run trained with. Fix: restore the model folder the run started with and export again" in err
    assert not (tmp_path / "o").exists()
    old = _copy_run(run, tmp_path / "old", data_fingerprints={})  # saved before fingerprints: not checked
    export_run(old, tmp_path / "unchecked", log=lambda *a: None)
    assert json.loads((tmp_path / "unchecked" / "config.json").read_text())["rms_norm_eps"] == 0.001


def test_an_out_that_is_inside_or_holds_the_base_model_is_refused_even_with_overwrite(lora_run, tmp_path, capsys):
    """Was (trial 26): `export RUN --out MODEL --overwrite` wrote the export over the run's own base model folder,
    from which the run resumes and exports. Refused, with the folder as given in config.json, inside it or holding it,
    before anything is written."""
    import shutil

    (tmp_path / "holder").mkdir()
    model = tmp_path / "holder" / "base"
    shutil.copytree(lora_run.parent / "model", model)
    run = _copy_run(lora_run, tmp_path / "r", model=str(model))
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    cases = [(model, "is the run's base model folder"), (model / "sub" / "..", "is the run's base model folder"),
             (model / "hf", f"lies inside the run's base model folder {str(model)!r}"),
             (tmp_path / "holder", f"holds the run's base model folder {str(model)!r}")]
    for out, where in cases:
        for extra in (["--overwrite"], []):
            err = _export_fails(capsys, run, "--out", out, *extra)
            assert f"out: {str(out)!r} {where} (config.json's 'model'): the export would write over" in err, err
            assert f"even with --overwrite. Fix: pass an --out apart from the base model, e.g. --out {run}-hf" in err
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before and not (model / "hf").exists()
