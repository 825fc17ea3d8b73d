"""``treecredit compare --env``: agent arms with their own options, refusals before any run, the comparison's
resume command for an agent run."""

import json

import pytest

from treecredit.training import compare
from treecredit.training.config import TrainConfig

AGENT_TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2",
              "--warm-start-batch", "4", "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "3",
              "--eval-every", "1", "--max-new-tokens", "6", "--no-tensorboard", "--env-option", "max_turns=3",
              "--sampler-option", "max_len=320", "--sampler-option", "max_episode_tokens=200"]


def test_compare_runs_agent_arms_with_their_own_options(tmp_path, capsys):
    from treecredit.cli import main

    out = tmp_path / "cmp"
    code = main(["compare", "--env", "gridworld", "--estimators", "grpo,rtmc[env.signature=observation,lr=1e-3]",
                 "--seeds", "2", "--budget", "150", "--jobs", "1", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache"), *AGENT_TINY])
    assert code == 0, capsys.readouterr().err
    # the arms share one warm start (the signature does not key it): built once, not loaded again per arm
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warm start")]
    assert [line for line in lines if "final loss" not in line] == [
        f"warm start: 2 supervised steps on expert episodes (cached afterwards at {found})"
        for found in sorted((tmp_path / "cache").glob("agent-warmstart-*.pt"))]
    assert len(lines) == 2 and lines[1].startswith("warm start: 2 steps done, final loss ")
    for run in ("grpo-seed0", "rtmc_env.signature_observation_lr_1e-3_-seed1"):  # in each run's log.txt too
        logged = (out / "runs" / run / "log.txt").read_text()
        assert all(f"compare, before its runs: {line}" in logged for line in lines), logged
    result = json.loads((out / "results.json").read_text())
    label = "rtmc[env.signature=observation,lr=1e-3]"
    assert result["metrics"][0] == "eval_success" and set(result["estimators"]) == {"grpo", label}
    arm = result["estimators"][label]
    assert arm["n_seeds"] == 2 and arm["paired_vs_reference"]["n"] == 2 and 0 < arm["generated_tokens"] <= 150
    config = json.loads((out / "runs" / "rtmc_env.signature_observation_lr_1e-3_-seed1" / "config.json").read_text())
    assert (config["estimator"], config["env_options"]["signature"], config["lr"], config["seed"]) == (
        "rtmc", "observation", 1e-3, 1)
    grpo = json.loads((out / "runs" / "grpo-seed0" / "config.json").read_text())
    assert "signature" not in grpo["env_options"] and grpo["lr"] != 1e-3  # the option stays in its arm
    text = (out / "report.md").read_text()
    assert "| sampled success |" in text and f"| {label} | 2 |" in text
    assert (out / "curves.png").exists()
    assert result["settings"]["env"] == "gridworld" and "task" not in result["settings"]  # agent runs: no task
    before = (out / "runs" / "grpo-seed1" / "metrics.jsonl").read_text()
    code = main(["compare", "--env", "gridworld", "--estimators", "grpo,rtmc[env.signature=observation,lr=1e-3]",
                 "--seeds", "2", "--budget", "150", "--jobs", "1", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache"), "--resume", *AGENT_TINY])
    assert code == 0 and (out / "runs" / "grpo-seed1" / "metrics.jsonl").read_text() == before  # kept as finished
    assert capsys.readouterr().out.count("warm start: loaded") == 1  # once, not once per arm


@pytest.mark.parametrize("flags, message", [
    (["--estimators", "rtmc@tree"], "no tree sampler"),
    (["--estimators", "grpo,rtmc[env.bogus=1]"], "bogus"),
    (["--estimators", "grpo", "--resume", "--overwrite"], "--resume and --overwrite"),
    (["--estimators", "grpo", "--sampler", "tree"], "--sampler is for task runs"),
    (["--estimators", "grpo", "--task", "countdown"], "--task is for task runs"),
])
def test_compare_with_an_env_refuses_bad_arms_before_any_run(tmp_path, capsys, flags, message):
    from treecredit.cli import main

    code = main(["compare", "--env", "gridworld", "--seeds", "1", "--budget", "100", "--out", str(tmp_path / "cmp"),
                 "--cache-dir", str(tmp_path / "cache"), *flags])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists() and not (tmp_path / "cache").exists()


def test_an_agent_arm_gets_the_comparisons_resume_command(monkeypatch):
    """An agent run that stops (every episode dropped for steps in a row) names how to resume: for a run of a
    comparison, the comparison's --resume, not the run's own ``train --config ... --resume``."""
    seen = {}

    def fake_train_agent(config, log=None, **flags):
        seen.update(flags)
        return []

    monkeypatch.setattr("treecredit.training.agent_loop.train_agent", fake_train_agent)
    compare._train_run(TrainConfig(env="gridworld"), {"resume": False, "resume_fix": "resume the comparison"})
    assert seen["resume_fix"] == "resume the comparison"


def test_a_hugging_face_model_too_short_for_the_episodes_is_refused_before_any_run(tmp_path, capsys, monkeypatch):
    """compare --env --model checks the episodes against the model's positions as train --env does, once, before
    the model is loaded and before its folder (was: every run failed that check and a "No run finished" report
    was written)."""
    transformers = pytest.importorskip("transformers")
    import torch

    from hf_tiny import local_tokenizer, tiny_llama_config
    from treecredit.agents.policy import AGENT_ALPHABET
    from treecredit.cli import main

    model = tmp_path / "model"  # a random tiny Llama of 128 positions, saved here: nothing is downloaded
    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(model)
    tok.save_pretrained(model)
    loaded = []
    monkeypatch.setattr(compare, "warm_start_agent", lambda *a, **k: loaded.append(a))
    out = tmp_path / "cmp"
    code = main(["compare", "--env", "gridworld", "--model", str(model), "--estimators", "grpo,rtmc", "--seeds", "1",
                 "--budget", "200", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4",
                 "--eval-problems", "2", "--env-option", "max_turns=2", "--jobs", "1", "--out", str(out),
                 "--sampler-option", "max_episode_tokens=200"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("error: sampler_options (a global setting, the same in every arm): --sampler-option max_episode_tokens=200 "
            "(agent episodes): max_episode_tokens: a first observation of 69 tokens plus max_episode_tokens=200 exceed "
            "the model's 128 positions. Fix: pass --sampler-option max_episode_tokens=59 or less") in err, err
    assert loaded == [] and not out.exists()
