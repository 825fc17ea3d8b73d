"""The closing lines of task and agent runs: one helper names the files a run wrote."""

from types import SimpleNamespace

from treecredit.training.run_summary import report_agent_run, report_task_run, written_files


def test_task_and_agent_runs_name_the_files_they_wrote(tmp_path):
    for name in ("samples.jsonl", "metrics.jsonl", "checkpoint.pt"):
        (tmp_path / name).write_text("")
    assert [p.name for p, _ in written_files(tmp_path)] == ["metrics.jsonl", "samples.jsonl", "checkpoint.pt"]
    config = SimpleNamespace(out=str(tmp_path))
    evals = [{"kind": "eval", "step": s, "generated_tokens": 10 * s, "eval_sampled_pass1": 0.5, "eval_success": 0.25,
              "eval_greedy_success": None} for s in (0, 3)]
    task, agent = [], []
    report_task_run(config, evals, out=task.append)
    report_agent_run(config, evals, out=agent.append)
    assert task[0].startswith("held-out sampled pass@1: 0.500 (step 0) → 0.500 (step 3, 30 generated tokens)")
    assert agent[0].endswith("greedy n/a → n/a")
    assert task[1] == agent[1] == f"run folder: {tmp_path}"
    assert [line.split()[0] for line in task[2:]] == [line.split()[0] for line in agent[2:]] == [
        "metrics.jsonl", "samples.jsonl", "checkpoint.pt"]
    assert "sampled completions" in task[3] and "held-out episodes" in agent[3]
