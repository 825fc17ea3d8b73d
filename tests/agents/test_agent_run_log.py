"""An agent run keeps in its ``log.txt`` the episodes its env dropped (each a warning naming the env, the method,
the instance and the turn), and so does each run of ``treecredit compare``, whose runs print nothing: its
closing lines name the runs whose log holds warnings."""

import json

from treecredit.training.config import TrainConfig

TINY = dict(env="latebad", estimator="rtmc", n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, prompts_per_step=2,
            group_size=2, eval_problems=2, max_new_tokens=6, progress=False, tensorboard=False,
            env_options={"max_turns": 3, "holes": 0.0}, sampler_options={"max_len": 320, "max_episode_tokens": 200})
DROPPED = "warning: episode of instance "
NAMED = "dropped at turn 1: the env's LateBadState.signature() raised ValueError: LateBadState.state_key()"


def _latebad(monkeypatch):
    from treecredit import envs

    monkeypatch.setitem(envs._ENVS, "latebad", envs.EnvSpec("latebad", "agent_helpers:LateBadState", None, None, ""))


def _warnings(path) -> list[str]:
    return [line[21:] for line in path.read_text().splitlines() if line[21:].startswith("warning")]


def test_an_agent_run_logs_the_episodes_its_env_dropped(tmp_path, monkeypatch):
    from treecredit.training.agent_loop import train_agent

    _latebad(monkeypatch)
    config = TrainConfig(**TINY, steps=2, out=str(tmp_path / "run"))
    printed = []
    records = train_agent(config, log=printed.append)
    dropped = sum(r["dropped_episodes"] for r in records if r["kind"] == "train")
    dropped += sum(r["eval_dropped_episodes"] + r["eval_greedy_dropped_episodes"] for r in records
                   if r["kind"] == "eval")
    logged = [w for w in _warnings(tmp_path / "run" / "log.txt") if w.startswith(DROPPED) and NAMED in w]
    assert dropped > 0 and len(logged) == dropped  # one warning per dropped episode, training and evaluation
    assert [p for p in printed if p.startswith(DROPPED)] == logged  # what the run printed, as printed
    text = (tmp_path / "run" / "log.txt").read_text()
    assert text.startswith(text[:19] + "  run started: env latebad, estimator rtmc, seed 0")
    assert "run ended at step 2 (" in text.splitlines()[-1] and "held-out success (sampled): " in text


def test_a_compare_agent_arm_keeps_its_runs_warnings_in_their_log(tmp_path, monkeypatch, capsys):
    from treecredit.cli import main

    _latebad(monkeypatch)
    out = tmp_path / "cmp"
    args = ["compare", "--env", "latebad", "--estimators", "rtmc", "--seeds", "1", "--budget", "120", "--jobs", "1",
            "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--n-layer", "1", "--n-head", "2",
            "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "4", "--group-size", "2",
            "--eval-problems", "4", "--max-new-tokens", "6", "--no-tensorboard", "--env-option", "max_turns=3",
            "--env-option", "holes=0.0", "--sampler-option", "max_len=320", "--sampler-option",
            "max_episode_tokens=200"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert DROPPED not in captured.out + captured.err  # the run printed nothing itself (was: its lines were lost)
    log = out / "runs" / "rtmc-seed0" / "log.txt"
    logged = [w for w in _warnings(log) if w.startswith(DROPPED) and NAMED in w]
    records = [json.loads(line) for line in (out / "runs" / "rtmc-seed0" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("dropped_episodes", 0) for r in records) > 0 and logged
    assert f"1 run logged warnings: {log} ({len(_warnings(log))} warnings)" in captured.out
    assert f"Run logs: 1 run logged warnings: {log}" in (out / "report.md").read_text()  # the report says so too
    before = log.read_text()
    assert main(args + ["--resume"]) == 0  # read back: the log is kept, one more session appended
    after = log.read_text()
    assert after.startswith(before) and "run resumed (--resume): " in after[len(before):]

