"""TrainerKeywords.mark / forget_since: what a reward call that raised logged is dropped, what came before it kept."""

from treecredit.rewards.trainer_keywords import TrainerKeywords


def test_forget_since_drops_only_what_was_logged_after_the_mark(tmp_path):
    run = TrainerKeywords(max_steps=1)
    run.completions = ["a", "bb"]
    run.log_metric("calls", 1.0)
    run.log_extra("seen", [1, 2])
    mark = run.mark()
    assert mark == ({"calls": 1}, 1)
    run.log_metric("calls", 5.0)
    run.log_metric("new", 2.0)
    run.log_extra("later", [3, 4])
    run.forget_since(mark)
    assert run.mark() == mark
    assert run.take_metrics() == {"reward_metric/calls": 1.0}  # not 3.0; "new" gone
    run.write_extras(tmp_path, step=0, kind="train")
    assert [line for line in (tmp_path / "reward_extra.jsonl").read_text().splitlines() if "later" in line] == []
