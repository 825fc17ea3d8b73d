"""A resumed run refuses a local --model folder (or file) that changed since the run started: config.json records
a cheap fingerprint of it (names, sizes, small files whole, larger files' first and last MiB); runs saved before
it was recorded are not checked."""

import json

import pytest

from treecredit.training.model_fingerprint import END_BYTES, model_fingerprint


def _model(folder, weights=b"w" * (3 * END_BYTES)):
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 16}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_what_the_fingerprint_sees(tmp_path):
    model = _model(tmp_path / "m")
    first = model_fingerprint(str(model))
    assert first["model_files"] == 3 and first["bytes"] == 3 * END_BYTES + len("{}") + \
        len((model / "config.json").read_text())
    weights = bytearray((model / "model.safetensors").read_bytes())
    weights[END_BYTES + 5] = ord("x")  # the middle of a large weight file is not read (documented)
    (model / "model.safetensors").write_bytes(bytes(weights))
    assert model_fingerprint(str(model)) == first
    (model / ".cache").mkdir()  # tools' bookkeeping folders are skipped
    (model / ".cache" / "x.lock").write_text("1")
    assert model_fingerprint(str(model)) == first
    (model / "run").mkdir()  # the run's own folder inside the model's is skipped when named
    (model / "run" / "checkpoint.pt").write_bytes(b"c")
    assert model_fingerprint(str(model), skip=str(model / "run")) == first
    assert model_fingerprint(str(model)) != first
    for change in (lambda: (model / "config.json").write_text('{"model_type": "llama", "hidden_size": 32}'),
                   lambda: (model / "model.safetensors").write_bytes(b"v" + bytes(weights[1:])),  # first MiB
                   lambda: (model / "model.safetensors").write_bytes(bytes(weights[:-1]) + b"v"),  # last MiB
                   lambda: (model / "model.safetensors").write_bytes(bytes(weights) + b"more"),  # size
                   lambda: (model / "adapter_model.safetensors").write_bytes(b"a")):  # a file added
        before = model_fingerprint(str(model), skip=str(model / "run"))
        change()
        assert model_fingerprint(str(model), skip=str(model / "run")) != before


@pytest.mark.parametrize("name", ["onnx/model.onnx_data", "embeddings.npz", "table.npy", "tokenizer.json"])
def test_any_large_file_is_read_at_its_ends_only(tmp_path, name):
    model = _model(tmp_path / "m", weights=b"w")
    big = model / name
    big.parent.mkdir(exist_ok=True)
    data = bytearray(b"d" * (2 * END_BYTES + 10))
    big.write_bytes(bytes(data))
    first = model_fingerprint(str(model))
    data[END_BYTES + 5] = ord("x")  # its middle is not read, whatever its kind (it was hashed whole)
    big.write_bytes(bytes(data))
    assert model_fingerprint(str(model)) == first
    big.write_bytes(bytes(data[:-1]) + b"x")  # its last MiB is
    assert model_fingerprint(str(model)) != first
    small = bytearray(b"s" * (2 * END_BYTES))  # up to 2 MiB: read whole
    big.write_bytes(bytes(small))
    before = model_fingerprint(str(model))
    small[END_BYTES] = ord("x")
    big.write_bytes(bytes(small))
    assert model_fingerprint(str(model)) != before


def test_a_resume_refuses_a_model_folder_that_changed(tmp_path):
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_out

    model = _model(tmp_path / "model")
    out = tmp_path / "run"
    out.mkdir()

    def config():
        return TrainConfig(model=str(model), out=str(out), progress=False)

    saved = config()
    assert saved.data_fingerprints[str(model)]["model_files"] == 3
    (out / "config.json").write_text(json.dumps(saved.to_dict()))
    check_out(config(), resume=True, overwrite=False)  # unchanged: resumes
    (model / "model.safetensors").write_bytes(b"e" * (3 * END_BYTES))  # an export written into the folder
    with pytest.raises(ValueError, match=rf"^model: the model folder {tmp_path / 'model'} changed since the run in "
                                         r".*KL reference and the base weights.*Fix: restore the model folder the run "
                                         r"started with to resume it, or start a new run from this model with another "
                                         r"--out \(or --overwrite\)\.$"):
        check_out(config(), resume=True, overwrite=False)
    check_out(config(), resume=False, overwrite=True)  # a new run from the changed model is fine
    old = saved.to_dict()  # a run saved before models were fingerprinted is not checked
    old["data_fingerprints"] = {}
    (out / "config.json").write_text(json.dumps(old))
    check_out(config(), resume=True, overwrite=False)
