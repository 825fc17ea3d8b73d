"""``compare`` with some runs failed: exit 1 with the report written and the failed runs and their logs named,
and a failed run's error in the comparison's terms; the stop note when every run kept a checkpoint."""

import json
import pickle

from treecredit.cli import main
from treecredit.training.compare_cli import in_compare_terms, stopped_note
from treecredit.training.estimator_inputs import failed_at_step

TINY = ["--warm-start-steps", "0", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
        "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "2", "--max-new-tokens", "4",
        "--no-tensorboard", "--threads", "1", "--sampler-option", "max_len=320",
        "--sampler-option", "max_episode_tokens=200"]


def test_compare_exits_1_when_one_run_failed_and_says_which_and_where_its_log_is(tmp_path, capsys):
    # was: exit 0 (1 only when every run failed), and the failed run's error said "--overwrite or another --out",
    # train's fix for its own folder
    out = tmp_path / "cmp"
    code = main(["compare", "--env", "own_env_helpers:BigReward", "--estimators", "rtmc,treerpo", "--seeds", "1",
                 "--budget", "400", "--jobs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert (out / "report.md").is_file() and "| rtmc |" in (out / "report.md").read_text()
    assert "treecredit compare: 1 of 2 runs failed or stopped" in captured.err
    assert "treerpo, seed 0: ValueError: rewards: at the held-out evaluation before step 1" in captured.err
    assert f"their logs: {out / 'runs' / 'treerpo-seed0' / 'log.txt'}" in captured.err
    error = json.loads((out / "results.json").read_text())
    text = json.dumps(error)
    assert "--overwrite or another --out)" not in text and f"--out {out} --resume`: its finished runs are kept" in text


def test_a_failed_runs_error_is_reworded_for_the_comparison(tmp_path):
    # was: compare matched two sentences of failed_at_step's text and replaced them; now it rewords its parts
    kept = failed_at_step(ValueError("x: y. Fix: z."), 3, 2)
    assert "needs a new run (--overwrite or another --out)): y. Fix: z." in str(kept)  # train's words
    said = str(in_compare_terms(kept, tmp_path))
    assert said.startswith("x: at step 3 (the run is kept as of its last checkpoint, step 2: the comparison's --resume")
    assert "needs a new run" not in said and said.endswith("): y. Fix: z.")
    anew = f"needs the comparison anew (`treecredit compare ... --out {tmp_path} --overwrite`, or another --out)"
    assert anew in said
    fresh = str(in_compare_terms(failed_at_step(ValueError("x: y"), 1, 0), tmp_path))
    assert fresh.startswith("x: at step 1 (no checkpoint was saved yet: fix it and run the comparison again: with "
                            f"--resume (`treecredit compare ... --out {tmp_path} --resume`")
    other = RuntimeError("boom")
    assert in_compare_terms(other, tmp_path) is other
    assert pickle.loads(pickle.dumps(kept)).args == kept.args  # it crosses process boundaries whole


def test_the_stop_note_when_every_run_kept_a_checkpoint_mentions_no_others(tmp_path):
    # was: "2 of its 2 runs keep their last checkpoints, the others start again"
    folders = [tmp_path / "runs" / name for name in ("grpo-seed0", "tempo-seed0")]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "checkpoint.pt").write_bytes(b"")
    note = stopped_note(tmp_path, folders, "SIGINT")
    assert "all 2 runs keep their last checkpoints." in note and "others" not in note
    assert "its 1 run keeps its last checkpoint." in stopped_note(tmp_path, folders[:1], "SIGINT")


def test_an_own_estimators_refusal_without_a_fix_gets_no_empty_fix():
    from treecredit._validation import FixError

    said = str(failed_at_step(FixError.of(ValueError("rewards: outside [0, 1]")), 1, 0, "myest"))
    assert said.endswith("outside [0, 1].") and "Fix: ." not in said, said
    with_fix = str(failed_at_step(FixError.of(ValueError("rewards: outside [0, 1]. Fix: pass clip=True.")), 2, 1,
                                  "myest"))
    assert with_fix.endswith("outside [0, 1]. Fix: pass clip=True."), with_fix


def test_a_failed_run_keeps_the_name_of_an_error_that_is_not_a_refusal_with_a_fix(tmp_path, monkeypatch):
    from treecredit._validation import FixError
    from treecredit.training import compare
    from treecredit.training.checkpoint import CheckpointError
    from treecredit.training.config import TrainConfig

    config = TrainConfig(out=str(tmp_path / "cmp" / "runs" / "a_s0"))
    for error, kind in [(CheckpointError("checkpoint: step_3.pt is damaged"), "CheckpointError"),
                        (FixError("rewards", "are outside [0, 1]", ()), "ValueError")]:
        def raising(*_, error=error):
            raise error
        monkeypatch.setattr(compare, "_train_run", raising)
        said = compare._run_one(compare.Job("a", 0, config))[3]
        assert said.startswith(f"{kind}: "), said
