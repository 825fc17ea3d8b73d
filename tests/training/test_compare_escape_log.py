"""compare's escape warnings (an option text whose backslash a shell kept as typed) are written into each run's
log.txt, as train's are, not only to stderr; and an arm's own option texts (``tempo[task.delimiter=a\\tb]``) are
checked as the flags' are, their warnings going to that arm's runs only. Until 2026-12-04 compare printed the flags'
warnings to stderr alone and said nothing of an arm's."""

import json

from treecredit.cli import main

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
        "--group-size", "2", "--minibatches", "1", "--eval-problems", "2", "--max-new-tokens", "8", "--no-tensorboard",
        "--jobs", "1", "--budget", "40", "--seeds", "1"]


def test_escape_warnings_go_to_the_runs_logs_and_an_arms_own_texts_are_checked(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i}+{i}=", "answer": str(2 * i)}) + "\n" for i in range(12)))
    out = tmp_path / "cmp"
    code = main(["compare", "--dataset", str(data), "--task-option", "prompt_column=question", "--task-option",
                 "delimiter=a\\nb", "--estimators", "grpo,tempo[task.end=x\\ty]", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache"), *TINY])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    flag = "treecredit compare: warning: --task-option delimiter=a\\nb gives delimiter the text"
    arm = "treecredit compare: warning: arm 'tempo[task.end=x\\ty]' gives task.end the text 'x\\\\ty'"
    assert flag in err and arm in err, err
    grpo = (out / "runs" / "grpo-seed0" / "log.txt").read_text()
    tempo = (out / "runs" / "tempo_task.end_x_ty_-seed0" / "log.txt").read_text()
    assert flag in grpo and flag in tempo, (grpo, tempo)
    assert arm in tempo and arm not in grpo, (grpo, tempo)
