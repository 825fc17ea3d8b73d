"""A stopped comparison's note says what each run it left unfinished does on --resume, naming the runs in progress:
whether each kept a checkpoint (and continues from it) or had saved none yet (and starts again), and how many runs
had not started (trial42 6: '2 of its 6 runs keep their last checkpoints, the others start again' counted the
finished runs' checkpoints too and left open whether the run in progress had kept one)."""

from treecredit.training.compare_cli import stopped_note


def _folders(tmp_path, names):
    folders = [tmp_path / "runs" / name for name in names]
    for folder in folders:
        folder.parent.mkdir(parents=True, exist_ok=True)
    return folders


def _started(folder, checkpoint=False):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    if checkpoint:
        (folder / "checkpoint.pt").write_bytes(b"")


def test_the_run_in_progress_without_a_checkpoint_is_named(tmp_path):
    folders = _folders(tmp_path, [f"{arm}-seed{seed}" for seed in range(3) for arm in ("grpo", "tempo")])
    for folder in folders[:2]:
        _started(folder, checkpoint=True)  # finished
    _started(folders[2])  # grpo-seed1: in progress, no checkpoint yet
    note = stopped_note(tmp_path, folders, "SIGINT; 2 of 6 runs finished", finished=folders[:2])
    assert note == ("treecredit compare: stopped (SIGINT; 2 of 6 runs finished); the run in progress (grpo-seed1) had "
                    "saved no checkpoint yet and starts again on --resume; 3 runs not started yet start then. Continue "
                    f"with the same arguments and --resume (--out {tmp_path})")


def test_runs_in_progress_with_and_without_checkpoints(tmp_path):
    folders = _folders(tmp_path, ["grpo-seed0", "tempo-seed0", "rloo-seed0", "grpo-seed1"])
    _started(folders[0], checkpoint=True)
    _started(folders[1], checkpoint=True)
    _started(folders[2])
    note = stopped_note(tmp_path, folders, "SIGTERM; 0 of 4 runs finished", finished=[])
    assert ("stopped (SIGTERM; 0 of 4 runs finished); 2 of the 3 runs in progress (grpo-seed0, tempo-seed0) keep "
            "their last checkpoints and continue from them on --resume; 1 of the 3 runs in progress (rloo-seed0) had "
            "saved no checkpoint yet and starts again on --resume; 1 run not started yet starts then.") in note
    note = stopped_note(tmp_path, folders[:1], "SIGINT; 0 of 1 runs finished", finished=[])
    assert "; the run in progress (grpo-seed0) keeps its last checkpoint and continues from it on --resume." in note
    note = stopped_note(tmp_path, folders[3:], "SIGINT; 0 of 1 runs finished", finished=[])
    assert "; 1 run not started yet starts on --resume." in note
