"""benchmarks/agents_evidence.py reports: settings read back from the runs, the revisit-rate column's label."""

import importlib.util
import json
from pathlib import Path

from treecredit.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _evidence():
    spec = importlib.util.spec_from_file_location("agents_evidence", ROOT / "benchmarks" / "agents_evidence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_run(folder: Path, config: TrainConfig, final: float) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    evals = [{"kind": "eval", "generated_tokens": t, "eval_success": s, "eval_greedy_success": s,
              "eval_invalid_share": 0.0, "eval_turns": 3.0} for t, s in ((0, 0.1), (100, final))]
    train = [{"kind": "train", "generated_tokens": 100, "revisit_rate": 0.5, "step_credit_share": 0.2,
              "success": final, "time_credit_s": 0.01, "elapsed_s": 1.0}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [evals[0], *train, evals[1]]))
    _checkpoint(folder, generated=100)  # a finished run: its budget (100) is spent


def _checkpoint(folder: Path, generated: int, pending: int = 0) -> None:
    import numpy as np
    import torch

    from treecredit.training.checkpoint import save_checkpoint

    model = torch.nn.Linear(1, 1)
    save_checkpoint(folder, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    generator=torch.Generator(), problem_rng=np.random.default_rng(0),
                    counters={"step": 1, "generated_tokens": generated}, pending_step_tokens=pending)


def test_a_run_is_finished_when_its_next_step_would_pass_the_budget(tmp_path):
    from treecredit.training.budget import run_finished

    config = TrainConfig(**{**_evidence().BASE, "env": "gridworld", "token_budget": 100, "steps": 0})
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    assert not run_finished(folder)  # no checkpoint yet
    _checkpoint(folder, generated=90)
    assert not run_finished(folder)  # killed at 90 of 100 tokens
    _checkpoint(folder, generated=90, pending=20)
    assert run_finished(folder)  # its next step (20 tokens) would pass the budget


def test_report_from_runs_writes_the_runs_settings_and_labels_the_revisit_rate(tmp_path):
    evidence = _evidence()
    base = TrainConfig(**{**evidence.BASE, "env": "gridworld", "env_options": {"size": 4}, "lr": 1e-3,
                          "eval_every": 5, "token_budget": 100, "steps": 0})
    for label, estimator, signature in (("grpo", "grpo", "state"), ("rtmc_history", "rtmc", "history")):
        for seed, final in ((0, 0.4), (1, 0.6)):
            config = TrainConfig(**{**base.to_dict(), "estimator": estimator, "seed": seed,
                                    "env_options": {"size": 4, "signature": signature}})
            _fake_run(tmp_path / "runs" / f"{label}-seed{seed}", config, final)
    data = evidence.summary_from_runs(tmp_path, None)
    settings = data["settings"]
    assert settings["lr"] == 1e-3 and settings["eval_every"] == 5 and settings["n_embd"] == evidence.BASE["n_embd"]
    assert settings["env"] == "gridworld" and settings["env_options"] == {"size": 4}  # signature differs by arm
    assert (settings["budget"], settings["seeds"], settings["reference"]) == (100, 2, "grpo")
    assert "estimator" not in settings and "seed" not in settings
    assert json.loads((tmp_path / "compare.json").read_text())["settings"] == settings
    text = evidence.write_compare_report(tmp_path, data["summary"], settings).read_text()
    assert "| state revisit rate¹ |" in text and "| revisit rate |" not in text
    assert "grpo, rloo and dr_grpo match nothing" in text


def test_report_from_runs_without_finished_runs_says_so(tmp_path):
    import pytest

    evidence = _evidence()
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit, match="no finished run"):
        evidence.summary_from_runs(tmp_path, None)
    base = TrainConfig(**{**evidence.BASE, "env": "gridworld", "token_budget": 100, "steps": 0})
    for label, seed in (("grpo", 0), ("rtmc", 1)):  # finished, but at no common seed
        _fake_run(tmp_path / "runs" / f"{label}-seed{seed}", TrainConfig(**{**base.to_dict(), "seed": seed}), 0.5)
    with pytest.raises(SystemExit, match="no seed is finished in every arm"):
        evidence.summary_from_runs(tmp_path, None)
