"""``compare --resume`` says how each run was done: read back from disk, resumed from a checkpoint, run anew."""

from dataclasses import replace

from treecredit.training.compare import READ_BACK, RESUMED, RUN_ANEW, _run_one


def test_each_run_says_whether_it_was_read_back_resumed_or_run_anew(tiny_config):
    from treecredit.training.loop import train

    config = tiny_config(steps=2, warm_start_steps=0, eval_every=0, eval_problems=2, checkpoint_every=1,
                         prompts_per_step=2, group_size=2)
    train(config, stop_at_step=1, log=lambda *a: None)  # killed after step 1's checkpoint
    label, seed, records, error, how = _run_one(("grpo", 0, config, {"resume": True}))
    assert error is None and how == (RESUMED, "at step 1") and records[-1]["step"] == 2
    assert _run_one(("grpo", 0, config, {"resume": True}))[4] == (READ_BACK, "finished at step 2")
    fresh = replace(config, out=config.out + "-new")
    assert _run_one(("grpo", 0, fresh, {"resume": False, "overwrite": False}))[4] == (RUN_ANEW, "")


def test_a_comparison_resumed_with_a_larger_budget_reports_what_a_fresh_one_does(tiny_config, tmp_path):
    import json

    from treecredit.training.compare import run_comparison
    from treecredit.training.report import summarise

    base = tiny_config(warm_start_steps=60, eval_every=3, eval_problems=8, prompts_per_step=2, group_size=2,
                       checkpoint_every=0)  # a warm start, so that held-out pass@1 is not 0 throughout
    arms, seeds, small, large = ["grpo"], [0, 1], 60, 120
    quiet = {"jobs": 1, "log": lambda *a: None}
    first, _ = run_comparison(base, arms, seeds, small, tmp_path / "resumed", **quiet)
    resumed, _ = run_comparison(base, arms, seeds, large, tmp_path / "resumed", resume=True, **quiet)
    fresh, _ = run_comparison(base, arms, seeds, large, tmp_path / "fresh", **quiet)
    closing = {(arm, seed): records[-1]["step"] for arm in arms for seed, records in first[arm].items()}
    # the case at hand: runs that closed at the small budget off the schedule (a fresh run skips that step)
    off_schedule = [key for key, step in closing.items() if step % 3 and step < resumed[key[0]][key[1]][-1]["step"]]
    assert off_schedule, closing
    for arm in arms:
        for seed in seeds:
            trains = [[r for r in rs[arm][seed] if r["kind"] == "train"] for rs in (resumed, fresh)]
            assert [r["step"] for r in trains[0]] == [r["step"] for r in trains[1]]  # the same training
            steps = [[r["step"] for r in rs[arm][seed] if r["kind"] == "eval"] for rs in (resumed, fresh)]
            assert set(steps[1]) <= set(steps[0])  # scheduled evaluations (every 3 steps) are kept
            if (arm, seed) in off_schedule:  # in metrics.jsonl, flagged, for provenance
                saved = [json.loads(line) for line in (tmp_path / "resumed" / "runs" / f"{arm}-seed{seed}" /
                                                       "metrics.jsonl").read_text().splitlines()]
                step = closing[arm, seed]
                flagged = [r for r in saved if r["kind"] == "eval" and r["step"] == step]
                assert len(flagged) == 1 and flagged[0]["closing_of_earlier_budget"] is True
    wall = ("wall_grid", "wall_mean", "wall_half", "wall_s")  # wall time differs between any two runs
    a, b = (json.dumps({arm: {k: v for k, v in entry.items() if k not in wall}
                        for arm, entry in summarise(rs, large, reference="grpo")["estimators"].items()})
            for rs in (resumed, fresh))
    assert a == b  # curves, means over the budget, finals


def test_a_train_run_resumed_with_more_steps_flags_its_old_closing_evaluation(tiny_config, tmp_path):
    """``train --resume`` with a larger ``--steps``: the evaluation that closed the shorter run (step 3, off the
    eval_every=2 schedule) stays in metrics.jsonl, flagged; a run resumed without growing keeps none flagged."""
    from treecredit.training.loop import train
    from treecredit.training.metrics import read_metrics

    settings = dict(warm_start_steps=0, eval_every=2, eval_problems=2, prompts_per_step=2, group_size=2,
                    checkpoint_every=0)
    quiet = {"log": lambda *a: None}
    first = train(tiny_config(steps=3, **settings), **quiet)
    assert not any(r.get("closing_of_earlier_budget") for r in first)
    records = train(tiny_config(steps=5, **settings), resume=True, **quiet)
    flagged = {r["step"]: bool(r.get("closing_of_earlier_budget")) for r in records if r["kind"] == "eval"}
    assert flagged == {0: False, 2: False, 3: True, 4: False, 5: False}
    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == records
