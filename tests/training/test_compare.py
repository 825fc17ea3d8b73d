"""``treecredit compare``: arm syntax, per-arm options, failing arms, incremental reports, paired tests."""

import json
import logging

import pytest

from treecredit.training import compare
from treecredit.training.compare import (
    arm_config,
    arm_configs,
    parse_arm,
    run_comparison,
    split_arms,
)
from treecredit.training.compare_stats import incomplete_beta, paired_t, t_two_sided_p
from treecredit.training.config import TrainConfig
from treecredit.training.report import summarise, write_report


def test_split_and_parse_arms():
    assert split_arms("grpo, treerpo@tree[scale=none,branching.children=4],rloo") == [
        "grpo", "treerpo@tree[scale=none,branching.children=4]", "rloo"]
    arm = parse_arm("treerpo@tree:fixed[scale=none,branching.children=4]")
    assert (arm.estimator, arm.sampler, arm.branching) == ("treerpo", "tree", "fixed")
    assert arm.options == {"scale": "none", "branching.children": 4}
    assert parse_arm("treerpo[scale=none]@tree").options == {"scale": "none"}  # the lab's label form
    assert parse_arm("treerpo[scale=none]@tree").sampler == "tree"
    for bad, message in (("grpo,,rloo", "empty arm"), ("grpo[a=1", "unclosed"), ("grpo,grpo", "twice"),
                         ("grpo[a=1]]", "closes no"), ("grpo[a=[1]", "unclosed")):
        with pytest.raises(ValueError, match=f"^estimators: .*{message}"):
            split_arms(bad)
    # a list value inside an arm (a trial's 'rtmc[sampler.fork_at=[1]]' was called unbalanced)
    arms = split_arms("grpo,rtmc[sampler.fork_at=[1,2],sampler.fork_children=2]@x")
    assert arms == ["grpo", "rtmc[sampler.fork_at=[1,2],sampler.fork_children=2]@x"]
    arm = parse_arm(arms[1])
    assert arm.options == {"sampler.fork_at": [1, 2], "sampler.fork_children": 2} and arm.sampler == "x"


def test_arm_options_belong_to_their_arm(tmp_path):
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path))
    tree = arm_config(base, "treerpo@tree[scale=none,branching.children=4,branching.depth=1,lr=1e-4]")
    assert (tree.sampler, tree.estimator_options, tree.lr) == ("tree", {"scale": "none"}, 1e-4)
    assert tree.branching_options == {"children": 4, "depth": 1}
    assert arm_config(base, "grpo").estimator_options == {} and arm_config(base, "grpo").lr == base.lr
    # a global option goes only to the arms whose estimator takes it
    shared = TrainConfig(warm_start_steps=0, out=str(tmp_path), estimator="treerpo",
                         estimator_options={"scale": "none"})
    configs = arm_configs(shared, ["grpo", "treerpo"])
    assert configs["grpo"].estimator_options == {} and configs["treerpo"].estimator_options == {"scale": "none"}
    with pytest.raises(ValueError, match="no arm's estimator takes 'nonsense'"):
        arm_configs(TrainConfig(warm_start_steps=0, estimator_options={"nonsense": 1}), ["grpo"])
    for label, message in (("grpo[scale=none]", "neither an option of estimator 'grpo'"),
                           ("grpo[seed=3]", "set per run"), ("grpo[foo.bar=1]", "unknown prefix"),
                           ("grpo@bushes", "sampler")):
        with pytest.raises(ValueError, match=message):
            arm_config(base, label)


def test_paired_t_and_incomplete_beta():
    assert incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3)
    assert t_two_sided_p(2.776, 4) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided_p(1.0, 1) == pytest.approx(0.5)  # Cauchy: P(|T| ≥ 1) = 1/2
    result = paired_t([0.5, 0.6, 0.7], [0.4, 0.4, 0.6])  # differences 0.1, 0.2, 0.1
    assert result["mean_diff"] == pytest.approx(0.4 / 3)
    sd = (((0.1 - 0.4 / 3) ** 2 * 2 + (0.2 - 0.4 / 3) ** 2) / 2) ** 0.5
    assert result["t"] == pytest.approx((0.4 / 3) / (sd / 3 ** 0.5))
    assert result["ci95"] == pytest.approx(4.303 * sd / 3 ** 0.5, rel=1e-4)  # exact t(2) = 4.30265
    assert 0 < result["p"] < 0.1
    assert paired_t([1.0], [0.0])["n"] == 1 and paired_t([1.0], [0.0])["p"] != paired_t([1.0], [0.0])["p"]  # NaN


def _fake_records(final: float, tokens: int = 100, seconds: float = 10.0) -> list[dict]:
    evals = [{"kind": "eval", "step": s, "generated_tokens": t, "eval_sampled_pass1": p, "eval_greedy_pass1": p,
              "eval_step_accuracy": p} for s, t, p in ((0, 0, 0.1), (1, tokens // 2, (0.1 + final) / 2),
                                                       (2, tokens, final))]
    trains = [{"kind": "train", "step": s, "generated_tokens": t, "elapsed_s": seconds * s / 2, "flops": 1.0,
               "adv_step_credit_share": 0.0} for s, t in ((1, tokens // 2), (2, tokens))]
    return [evals[0], trains[0], evals[1], trains[1], evals[2]]


def test_failing_arm_is_reported_and_report_is_incremental(tmp_path, monkeypatch):
    finals = {"grpo": [0.5, 0.6, 0.55], "rloo": [0.6, 0.7, 0.65]}

    def fake_train(config, log=None, **kwargs):
        if config.estimator == "dr_grpo":
            raise RuntimeError("boom in the sampler")
        return _fake_records(finals[config.estimator][config.seed])

    monkeypatch.setattr("treecredit.training.loop.train", fake_train)
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: None)
    seen = []

    def on_result(runs, failures, pending):
        seen.append(pending)
        write_report(tmp_path, summarise(runs, 100, failures=failures, pending=pending), {})

    base = TrainConfig(warm_start_steps=0, out=str(tmp_path), prompts_per_step=2, group_size=4, max_new_tokens=8)
    runs, failures = run_comparison(base, ["grpo", "rloo", "dr_grpo"], [0, 1, 2], 100, tmp_path, jobs=1,
                                    log=lambda *a: None, on_result=on_result)
    assert seen == [8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert set(failures["dr_grpo"]) == {0, 1, 2} and "boom in the sampler" in failures["dr_grpo"][0]
    assert list(runs["rloo"]) == [0, 1, 2] and not runs["dr_grpo"]
    summary = summarise(runs, 100, failures=failures)
    pair = summary["estimators"]["rloo"]["paired_vs_reference"]
    assert pair["mean_diff"] == pytest.approx(0.1) and pair["n"] == 3  # every seed is 0.1 better: sd 0
    assert summary["estimators"]["rloo"]["tokens_to_grpo_final"] == pytest.approx(85.0)  # 81.8 on a 5-token grid
    assert summary["estimators"]["rloo"]["wall_grid"][-1] == pytest.approx(10.0)
    # curves run linearly from 0.1 to the final value, so each run's mean over the budget is (0.1 + final) / 2
    assert summary["estimators"]["grpo"]["curve_area"]["mean"] == pytest.approx((0.1 + 0.55) / 2)
    assert summary["estimators"]["rloo"]["area_paired_vs_reference"]["mean_diff"] == pytest.approx(0.05)
    text = write_report(tmp_path, summary, {}).read_text()
    assert "| dr_grpo | seed 0 failed | RuntimeError: boom in the sampler" in text
    rows = [text.index(f"| dr_grpo | seed {seed} failed") for seed in (0, 1, 2)]
    assert rows == sorted(rows), "failed seeds in seed order, not in the order the runs finished"
    assert "| rloo | 3 |" in text and "+0.100 ± 0.000" in text and "Partial report" not in text
    assert "grpo over its warm start (paired over seeds): +0.450" in text and "did not improve" not in text
    assert set(json.loads((tmp_path / "results.json").read_text())["failures"]) == {"dr_grpo"}


def test_curve_area_is_the_mean_of_the_learning_curve_over_the_budget():
    import numpy as np

    from treecredit.training.report import curve_area

    records = [{"kind": "eval", "step": s, "generated_tokens": t, "eval_success": v}
               for s, t, v in ((0, 0, 0.0), (1, 50, 1.0), (2, 100, 1.0))]
    assert curve_area(records, np.linspace(0, 100, 21), "eval_success") == pytest.approx(0.25 + 0.5)


def test_partial_report_says_so(tmp_path):
    runs = {"grpo": {0: _fake_records(0.5)}, "rloo": {}}
    text = write_report(tmp_path, summarise(runs, 100, pending=3), {}).read_text()
    assert "Partial report: 3 run(s)" in text and "| grpo | 1 |" in text


def test_default_jobs_uses_the_cores(monkeypatch):
    monkeypatch.setattr(compare.os, "cpu_count", lambda: 6)
    assert compare.default_jobs(10) == 6 and compare.default_jobs(2) == 2


def test_report_warns_when_the_reference_did_not_learn(tmp_path):
    runs = {"grpo": {0: _fake_records(0.1), 1: _fake_records(0.11)}, "rloo": {0: _fake_records(0.3),
                                                                             1: _fake_records(0.3)}}
    text = write_report(tmp_path, summarise(runs, 100), {}).read_text()
    assert "grpo did not improve measurably on its warm start" in text


def test_the_shared_warm_start_is_built_on_the_runs_dataset_task(tmp_path, monkeypatch):
    import json

    from treecredit.tasks.dataset import DatasetTask

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i}+1", "answer": str(i + 1)}) + "\n" for i in range(6)))
    built = []
    monkeypatch.setattr("treecredit.training.loop.train", lambda config, log=None, **kw: _fake_records(0.5))
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda config, task, log: built.append(task))
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path / "cmp"), dataset=str(data), reward=["exact"],
                       task_options={"prompt_column": "question"})
    run_comparison(base, ["grpo", "rloo"], [0], 5000, tmp_path / "cmp", jobs=1, log=lambda *a: None)
    assert len(built) == 1 and isinstance(built[0], DatasetTask)  # once, on the dataset (was ArithmeticTask)


@pytest.mark.parametrize("env", ["", "gridworld"])
def test_a_budget_the_first_step_could_pass_is_refused_before_the_warm_start(tmp_path, monkeypatch, env):
    built = []
    monkeypatch.setattr("treecredit.training.loop.train", lambda config, log=None, **kw: _fake_records(0.5))
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda config, task, log: built.append(task))
    monkeypatch.setattr("treecredit.training.compare.warm_start_agent", lambda config, log: built.append(config))
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path / "cmp"), env=env, prompts_per_step=4, group_size=8,
                       max_new_tokens=16, estimator="grpo")
    # 4 × 8 × 16 = 512 tokens in one step at most (per turn); the arm doubles its group to 1024
    with pytest.raises(ValueError, match=r"^budget \(arm 'grpo\[group_size=16\]'\): is 600, below what one step can "
                                         r"generate: 4 prompts × 16 responses × 16 tokens = 1024 tokens.*Fix: pass "
                                         r"--budget 1024 or more"):
        run_comparison(base, ["grpo", "grpo[group_size=16]"], [0], 600, tmp_path / "cmp", jobs=1,
                       log=lambda *a: None)
    assert built == [] and not (tmp_path / "cmp").exists()


TASK_TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step",
             "2", "--group-size", "2", "--minibatches", "1", "--eval-problems", "4", "--max-new-tokens", "8",
             "--no-tensorboard", "--jobs", "1", "--budget", "40"]  # a step: ≤ 2 × 2 × 8 = 32 tokens


def test_compare_resume_needs_a_comparison_and_starts_the_runs_it_lacks(tmp_path, capsys):
    from treecredit.cli import main

    out = tmp_path / "cmp"
    args = ["compare", "--estimators", "grpo", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TASK_TINY]
    assert main([*args, "--seeds", "1", "--resume"]) == 2  # nothing there to resume
    assert "resume: " in (err := capsys.readouterr().err) and "holds no comparison to resume" in err
    assert "drop --resume to start a new one" in err and not out.exists()
    assert main([*args, "--seeds", "1"]) == 0
    before = (out / "runs" / "grpo-seed0" / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main([*args, "--seeds", "2", "--resume"]) == 0  # seed 1 never started: it starts, seed 0 is kept
    assert (out / "runs" / "grpo-seed0" / "metrics.jsonl").read_text() == before
    printed = capsys.readouterr().out  # which runs were read back from disk, which were run
    assert "compare --resume: 1 run with a folder in" in printed and "1 to run anew" in printed
    assert "runs done (grpo seed 0: read back from disk, finished at step " in printed
    assert "compare --resume: read back from disk: grpo seed 0; run anew: grpo seed 1" in printed
    assert (out / "runs" / "grpo-seed1" / "checkpoint.pt").exists()
    capsys.readouterr()
    assert main([*args, "--seeds", "2", "--resume", "--lr", "1e-3"]) == 2  # changed settings: name compare
    err = capsys.readouterr().err
    assert "resume (arm 'grpo', seed 0): the run in" in err and "['lr']" in err and "treecredit train" not in err
    assert f"Fix: resume the comparison with the arguments it was started with (`treecredit compare ... --out {out} " \
           "--resume`" in err
    # a lower budget: the finished runs would be read back past it, under a report saying 'within the budget'
    assert main([*args, "--seeds", "2", "--resume", "--budget", "33"]) == 2
    err = capsys.readouterr().err
    assert f"budget: is 33, below the 40 generated tokens the comparison in {str(out)!r} was run with" in err, err
    assert "Fix: pass --budget 40 (or more, to train on) with --resume" in err
    assert (out / "runs" / "grpo-seed0" / "metrics.jsonl").read_text() == before


def test_a_one_seed_report_shows_no_zero_width_intervals(tmp_path):
    from treecredit.training.report import summarise, write_report

    runs = {"grpo": [_fake_records(0.5)], "rloo": [_fake_records(0.6)]}
    text = write_report(tmp_path, summarise(runs, 100), {}).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| rloo |"))
    assert "0.600 (1 seed, no interval)" in row and "± 0.000" not in row  # one seed has no interval, not a 0 one


def test_a_global_reward_that_fails_its_check_is_called_global_not_the_first_arms(tmp_path, capsys, monkeypatch):
    from treecredit.cli import main

    (tmp_path / "fixc_bad_reward.py").write_text("def f(completions, **kw):\n    return [1.0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "cmp"
    assert main(["compare", "--estimators", "grpo,tempo", "--reward", "fixc_bad_reward:f", "--seeds", "1",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TASK_TINY]) == 2
    err = capsys.readouterr().err
    assert "reward (a global setting, the same in every arm): " in err and "arm 'grpo'" not in err, err
    assert not (out / "runs").exists()


BROKEN = {"now": False}


def _breaks_after_the_first_update(prompts, completions, **_):
    if BROKEN["now"]:
        raise RuntimeError("judge down")
    return [0.5] * len(completions)


def test_a_reward_that_breaks_mid_run_is_warned_once_per_arm_and_its_stop_names_the_arm(tmp_path, monkeypatch,
                                                                                           capsys, caplog):
    from treecredit.rewards import register_reward
    from treecredit.rewards.failed import ALL_FAILED_STOP_STEPS
    from treecredit.training import loop, preflight

    register_reward("breaks_in_compare", _breaks_after_the_first_update)
    check, update = preflight.check_run, loop.ppo_update

    def fixed_then_check(*args, **kwargs):  # each run starts with a working reward (its checks, step 0, step 1)
        BROKEN["now"] = False
        return check(*args, **kwargs)

    def update_then_break(*args, **kwargs):  # from each run's step 2 on, every reward raises
        BROKEN["now"] = True
        return update(*args, **kwargs)

    monkeypatch.setattr(preflight, "check_run", fixed_then_check)
    monkeypatch.setattr(loop, "ppo_update", update_then_break)
    out = tmp_path / "cmp"
    base = TrainConfig(warm_start_steps=0, out=str(out), reward=["breaks_in_compare"], n_layer=1, n_head=2,
                       n_embd=16, prompts_per_step=2, group_size=2, minibatches=1, max_new_tokens=8, eval_problems=4,
                       tensorboard=False, cache_dir=str(tmp_path / "cache"))
    runs, failures = run_comparison(base, ["grpo", "rloo"], [0, 1], 640, out, jobs=1, log=lambda *a: None)
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "every reward failed" in line]
    assert len(warned) == 2, err  # one per arm, not one per run (4) or per streak
    assert warned[0].startswith("warning: arm 'grpo', seed 0: step 2: every reward failed (4 of 4 completions; "
                                "last error: breaks_in_compare raised RuntimeError: judge down)"), warned
    assert warned[1].startswith("warning: arm 'rloo', seed 0: step 2: ") and "shown once per arm" in warned[1]
    raised = [r.getMessage() for r in caplog.records if r.name == "treecredit.rewards"]  # one per completion
    assert raised and all(line.startswith(("arm 'grpo', seed ", "arm 'rloo', seed ")) for line in raised), raised
    assert {line.split(": reward: ")[0] for line in raised} == {f"arm {a!r}, seed {s}" for a in ("grpo", "rloo")
                                                               for s in (0, 1)}
    assert not logging.getLogger("treecredit.rewards").filters  # the run's name is taken off after it
    assert not any(runs.values()) and {label: sorted(f) for label, f in failures.items()} == {"grpo": [0, 1],
                                                                                               "rloo": [0, 1]}
    stop = failures["rloo"][1]
    assert stop.startswith(f"ValueError: reward: every reward of {ALL_FAILED_STOP_STEPS} steps in a row failed"), stop
    assert f"`treecredit compare ... --out {out} --resume`" in stop and "treecredit train" not in stop
    text = write_report(out, summarise(runs, 640, failures=failures), {}).read_text()
    assert "| rloo | seed 1 failed | ValueError: reward: every reward of 5 steps in a row failed" in text
    assert compare.failed_runs(failures) == [  # the command's last lines: which arm stopped, and why
        f"{arm}, seeds 0, 1: ValueError: reward: every reward of {ALL_FAILED_STOP_STEPS} steps in a row failed"
        for arm in ("grpo", "rloo")]
    assert compare.failed_runs({"a": {2: "RuntimeError: boom", 0: "RuntimeError: boom"}, "b": {}}) == [
        "a, seeds 0, 2: RuntimeError: boom"]


@pytest.mark.parametrize("held", [False, True])
def test_ctrl_c_before_the_runs_start_promises_no_checkpoint(tmp_path, monkeypatch, capsys, held):
    """A Ctrl-C in the pre-flight or the warm start (before StopAll owns the signals) stops compare with 130
    and says no run started, instead of naming checkpoints that no run has saved."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_comparison", interrupted)
    out = tmp_path / "cmp"
    if held:
        (out / "runs").mkdir(parents=True)
    from treecredit.cli import main

    code = main(["compare", "--estimators", "grpo,tempo", "--seeds", "1", "--budget", "100", "--out", str(out)]
                + ["--resume"] * held)
    err = capsys.readouterr().err
    assert code == 130 and "checkpoint" not in err
    assert f"stopped before its runs started; start it again with the same arguments{' and --resume' * held}" in err


def test_a_reference_that_is_not_an_arm_is_refused_before_any_work(tmp_path, capsys):
    # was: silently replaced by the first arm (the report compared with grpo while its command said treerl)
    from treecredit.cli import main
    from treecredit.training.compare_cli import _reference

    out = tmp_path / "cmp"
    args = ["compare", "--estimators", "grpo,tempo", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            *TASK_TINY, "--seeds", "1"]
    assert main([*args, "--reference", "tempoo"]) == 2
    err = capsys.readouterr().err
    assert "reference: is 'tempoo', not one of the arms ['grpo', 'tempo']" in err and "did you mean 'tempo'" in err
    assert "--reference tempo." in err and not out.exists() and not (tmp_path / "cache").exists()
    assert _reference(None, ["tempo", "treerl"]) == "tempo"  # no grpo arm: the first, as --help says
    assert _reference(None, ["tempo", "grpo"]) == "grpo" and _reference("tempo", ["grpo", "tempo"]) == "tempo"


def test_a_changed_resume_without_a_report_does_not_point_to_one(tmp_path, capsys):
    # was: "the command in its report.md" for a comparison stopped before its report was written
    from treecredit.cli import main

    out = tmp_path / "cmp"
    args = ["compare", "--estimators", "grpo", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TASK_TINY,
            "--seeds", "1"]
    assert main(args) == 0
    assert main([*args, "--resume", "--lr", "1e-3"]) == 2
    assert "the command in its report.md" in capsys.readouterr().err
    (out / "report.md").unlink()
    assert main([*args, "--resume", "--lr", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "the command it was started with" in err and "report.md" not in err.split("Fix:")[-1]


@pytest.mark.parametrize("given, said, fix", [
    ("GRPO", "is 'GRPO', not one of the arms ['grpo', 'tempo'] (did you mean 'grpo'? arms are matched with their "
             "case)", "--reference grpo."),
    ("", "is '', an empty arm name", "or leave --reference out"),
    ("  ", "is '  ', an empty arm name", "or leave --reference out"),
])
def test_a_reference_in_another_case_or_empty_is_refused_with_its_own_fix(tmp_path, capsys, given, said, fix):
    # was: no did-you-mean for GRPO (difflib counts case), and "add '' to --estimators" for an empty name
    from treecredit.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "--estimators", "grpo,tempo", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 *TASK_TINY, "--seeds", "1", "--reference", given]) == 2
    err = capsys.readouterr().err
    assert f"reference: {said}" in err and fix in err and "to --estimators" not in err, err
    assert not out.exists() and not (tmp_path / "cache").exists()
