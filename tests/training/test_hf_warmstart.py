"""The supervised warm start of a Hugging Face model: worked solutions raise their likelihood, the trained
parameters (the adapters only, under LoRA) are cached and reloaded, and the trainer runs it on request."""

import json

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_hf_policy, tiny_llama_config  # noqa: E402
from treecredit.tasks import DatasetTask  # noqa: E402
from treecredit.training.warmstart import hf_warm_started, supervised_batch  # noqa: E402


@pytest.fixture
def task(tmp_path):
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i), "work": f"{i}+{i}\n={2 * i}"} for i in range(10)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DatasetTask(path=str(tmp_path / "d.jsonl"), solution_column="work", held_out=2)


def _solution_nll(policy, task) -> float:
    prompts, ids, mask = supervised_batch(policy, task, task.train_problems)
    with torch.no_grad():
        logp, _ = policy.token_logprobs(prompts, ids, with_entropy=False)
    return float(-(logp * mask).sum() / mask.sum())


def test_warm_start_learns_the_solutions_and_is_cached(task, tmp_path):
    policy = tiny_hf_policy()
    before = _solution_nll(policy, task)
    logs = []
    hf_warm_started(policy, task, model_identity={"tiny": 1}, steps=25, batch_size=4, lr=1e-2, seed=0,
                    cache_dir=tmp_path / "cache", log=logs.append)
    after = _solution_nll(policy, task)
    assert after < 0.7 * before, (before, after)
    (cached,) = (tmp_path / "cache").glob("hf-warmstart-*.pt")
    assert "supervised steps" in logs[0]
    again = tiny_hf_policy()  # the same random start, loaded from the cache instead of trained
    hf_warm_started(again, task, model_identity={"tiny": 1}, steps=25, batch_size=4, lr=1e-2, seed=0,
                    cache_dir=tmp_path / "cache", log=logs.append)
    assert logs[-1] == f"warm start: loaded {cached}"
    for (name, a), b in zip(policy.module.named_parameters(), again.module.parameters()):
        assert torch.equal(a, b), name
    other = tiny_hf_policy()
    hf_warm_started(other, task, model_identity={"tiny": 2}, steps=1, batch_size=4, lr=1e-2, seed=0,
                    cache_dir=tmp_path / "cache", log=logs.append)  # another model: another key
    assert len(list((tmp_path / "cache").glob("hf-warmstart-*.pt"))) == 2


def test_lora_warm_start_trains_and_caches_only_the_adapters(task, tmp_path):
    pytest.importorskip("peft")
    from treecredit.models.hf_load import add_lora

    def lora_policy():
        policy = tiny_hf_policy()
        policy.model = add_lora(policy.model, 4)
        return policy

    policy = lora_policy()
    base = {n: p.detach().clone() for n, p in policy.module.named_parameters() if "lora_" not in n}
    before = _solution_nll(policy, task)
    hf_warm_started(policy, task, model_identity={"tiny": 1}, steps=50, batch_size=4, lr=1e-2, seed=0,
                    cache_dir=tmp_path, log=lambda *a: None)
    assert _solution_nll(policy, task) < before - 0.15  # adapters start at zero: slower
    for name, p in policy.module.named_parameters():
        if "lora_" not in name:
            assert torch.equal(p, base[name]), name  # the base model is untouched
    (cached,) = tmp_path.glob("hf-warmstart-*.pt")
    state = torch.load(cached, weights_only=True)
    assert state and all("lora_" in k for k in state)
    again = lora_policy()
    hf_warm_started(again, task, model_identity={"tiny": 1}, steps=50, batch_size=4, lr=1e-2, seed=0,
                    cache_dir=tmp_path, log=lambda *a: None)
    assert _solution_nll(again, task) == pytest.approx(_solution_nll(policy, task))


def test_train_runs_the_warm_start_when_asked(tmp_path, capsys):
    from treecredit.cli import main

    tok = local_tokenizer()
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i), "work": f"={2 * i}"} for i in range(8)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["train", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "d.jsonl"),
            "--task-option", "solution_column=work", "--task-option", "held_out=2", "--hf-warm-start-steps", "3",
            "--hf-warm-start-batch", "2", "--steps", "1", "--prompts-per-step", "2", "--group-size", "2",
            "--max-new-tokens", "4", "--minibatches", "1", "--cache-dir", str(tmp_path / "cache"),
            "--no-tensorboard", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert "warm start: 3 supervised steps of the Hugging Face model" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "run2")]) == 0
    assert "warm start: loaded" in capsys.readouterr().out
    import shutil

    shutil.rmtree(tmp_path / "cache")  # export takes the checkpoint's weights: it never reruns the warm start
    assert main(["export", str(tmp_path / "run2"), "--out", str(tmp_path / "exported")]) == 0
    out = capsys.readouterr().out
    assert "supervised steps" not in out and "(no warm start)" not in out and "note: --lr" not in out
    assert "(weights from the run's checkpoint)" in out
    assert main(["train", "--hf-warm-start-steps", "3", "--out", str(tmp_path / "r")]) == 2
    assert "hf_warm_start_steps: is for a Hugging Face --model" in capsys.readouterr().err


@pytest.mark.parametrize("settings, lr", [({}, 5e-6), ({"lr": 5e-5}, 5e-5), ({"lora_rank": 4}, 5e-5)])
def test_full_weight_rl_of_a_hf_model_defaults_to_a_smaller_lr(settings, lr, monkeypatch):
    """5e-5 undid SmolLM2's warm start in a 20-step run where 5e-6 improved it: unset, --lr is 5e-6 for a
    Hugging Face model trained whole (5e-5 with LoRA, or as given), and no note about it is needed."""
    from treecredit.models import HFPolicy, hf_load
    from treecredit.training import loop
    from treecredit.training.config import TrainConfig

    monkeypatch.setattr(hf_load, "check_model_argument", lambda model, gguf_file: None)
    monkeypatch.setattr(HFPolicy, "from_pretrained", classmethod(lambda cls, *a, **k: "policy"))
    lines: list[str] = []
    config = TrainConfig(model="some/folder", **settings)
    assert config.lr == lr
    assert loop.build_policy(config, None, lines.append) == "policy"
    assert not [line for line in lines if "--lr" in line], lines
    lora = f", LoRA rank {settings['lora_rank']}" if settings.get("lora_rank") else ""
    assert lines[0] == f"policy: Hugging Face model from some/folder{lora} (no warm start)"
