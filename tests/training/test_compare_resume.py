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
