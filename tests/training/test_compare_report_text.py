"""The text of a comparison report: the reference's own name, n/a for a missing metric, the settings the runs
used (a dataset run's dataset, no task)."""

import csv
import json

import pytest

from treecredit.training.report import summarise, write_report


def _records(final: float, step_accuracy: float | None = 0.5) -> list[dict]:
    evals = [{"kind": "eval", "step": s, "generated_tokens": t, "eval_sampled_pass1": p, "eval_greedy_pass1": p,
              "eval_step_accuracy": step_accuracy} for s, t, p in ((0, 0, 0.1), (2, 100, final))]
    trains = [{"kind": "train", "step": s, "generated_tokens": t, "elapsed_s": 5.0 * s, "flops": 1.0,
               "adv_step_credit_share": 0.0} for s, t in ((1, 50), (2, 100))]
    return [evals[0], trains[0], trains[1], evals[1]]


def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in results.json (not JSON)")

    return json.loads(text, parse_constant=refuse)


def test_the_note_on_a_reference_that_did_not_learn_names_that_reference(tmp_path):
    runs = {"rtmc": {0: _records(0.1), 1: _records(0.11)}, "gigpo": {0: _records(0.3), 1: _records(0.3)}}
    text = write_report(tmp_path, summarise(runs, 100, reference="rtmc"), {}).read_text()
    assert "**rtmc did not improve measurably on its warm start at this budget, so 'tokens to rtmc final' " in text
    assert "GRPO" not in text and "grpo" not in text


def test_a_step_accuracy_the_task_has_not_is_n_a_in_the_report_and_null_in_json_and_csv(tmp_path):
    runs = {"grpo": {0: _records(0.4, None), 1: _records(0.5, None)},
            "rloo": {0: _records(0.45, None), 1: _records(0.5, None)}}
    text = write_report(tmp_path, summarise(runs, 100), {}).read_text()
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith(("| grpo |", "| rloo |"))]
    assert len(rows) == 2 and all(row[9] == "n/a" for row in rows), rows  # the step accuracy column
    assert "nan" not in text
    results = _strict((tmp_path / "results.json").read_text())
    assert results["estimators"]["grpo"]["final"]["eval_step_accuracy"] == {"mean": None, "ci95": None}
    with (tmp_path / "results.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [row["step_accuracy"] for row in table] == ["", ""] and "nan" not in (tmp_path / "results.csv").read_text()
    assert float(table[0]["sampled_pass1"]) == 0.45


def test_a_one_seed_report_writes_valid_json(tmp_path):  # a paired p over one seed is NaN: null
    write_report(tmp_path, summarise({"grpo": {0: _records(0.4)}, "rloo": {0: _records(0.5)}}, 100), {})
    pair = _strict((tmp_path / "results.json").read_text())["estimators"]["rloo"]["paired_vs_reference"]
    assert pair["n"] == 1 and pair["p"] is None


def _compare(tmp_path, monkeypatch, *flags: str) -> dict:
    from treecredit.cli import main

    monkeypatch.setattr("treecredit.training.loop.train", lambda config, log=None, **kw: _records(0.5))
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda config, task, log: None)
    out = tmp_path / "cmp"
    assert main(["compare", "--estimators", "grpo,rloo", "--seeds", "1", "--budget", "5000", "--jobs", "1",
                 "--warm-start-steps", "0", "--no-tensorboard", "--out", str(out), *flags]) == 0
    settings = json.loads((out / "results.json").read_text())["settings"]
    assert f"Settings: `{json.dumps(settings)}`" in (out / "report.md").read_text()
    return settings


def test_the_settings_of_a_dataset_comparison_show_the_dataset_and_no_task(tmp_path, monkeypatch):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i}+1", "answer": str(i + 1)}) + "\n" for i in range(6)))
    settings = _compare(tmp_path, monkeypatch, "--dataset", str(data), "--reward", "exact", "--task-option",
                        "prompt_column=question")
    assert settings["dataset"] == str(data.resolve()) and settings["reward"] == ["exact"]
    assert "task" not in settings and settings["task_options"] == {"prompt_column": "question"}


def test_the_settings_of_a_task_comparison_show_the_task_and_no_dataset(tmp_path, monkeypatch):
    settings = _compare(tmp_path, monkeypatch, "--task", "countdown")
    assert settings["task"] == "countdown" and "dataset" not in settings and "env" not in settings


def test_runs_that_evaluate_one_decoding_only_are_judged_by_it_and_the_other_is_n_a(tmp_path):
    def only(kind: str, final: float) -> list[dict]:  # --eval-mode greedy (auto on a large model) or sampled
        other = "sampled" if kind == "greedy" else "greedy"
        return [{k: v for k, v in r.items() if k != f"eval_{other}_pass1"} for r in _records(final)]

    for kind, title in (("greedy", "greedy pass@1"), ("sampled", "sampled pass@1")):
        runs = {"grpo": {0: only(kind, 0.4), 1: only(kind, 0.5)}, "rloo": {0: only(kind, 0.6), 1: only(kind, 0.6)}}
        summary = summarise(runs, 100)
        assert summary["metrics"][0] == f"eval_{kind}_pass1"
        assert summary["estimators"]["rloo"]["final"][f"eval_{kind}_pass1"]["mean"] == 0.6
        text = write_report(tmp_path, summary, {}).read_text()
        assert f"Held-out {title} at the end of each run" in text
        rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| rloo |")]
        assert rows[0][2].startswith("0.600") and rows[0][8] == "n/a", rows  # the other decoding: n/a


def test_the_settings_of_an_agent_comparison_leave_out_the_task_runs_max_len():
    """An agent run's GPT positions are fitted to its env (or ``--sampler-option max_len``), never TrainConfig's
    ``max_len``: the report's Settings do not show that unused 96; a task comparison's do."""
    from treecredit.training.compare_cli import shared_settings
    from treecredit.training.config import TrainConfig

    agent = shared_settings(TrainConfig(env="gridworld", sampler_options={"max_len": 320}))
    assert "max_len" not in agent and "task" not in agent and agent["sampler_options"] == {"max_len": 320}
    assert agent["env"] == "gridworld"
    assert shared_settings(TrainConfig())["max_len"] == TrainConfig().max_len


def test_the_settings_of_a_comparison_show_only_its_models_settings(tmp_path):
    """A comparison of a Hugging Face model does not list the small GPT's size and warm start (a trial read
    warm_start_steps 300 in its report), and one of the small GPT does not list LoRA or the HF warm start."""
    from treecredit.training.compare_cli import shared_settings
    from treecredit.training.config import TrainConfig

    for name in ("config.json", "model.safetensors", "tokenizer.json"):  # a model folder's files (not read)
        (tmp_path / name).touch()
    hf = shared_settings(TrainConfig(model=str(tmp_path), lora_rank=4))
    assert not {"n_layer", "n_embd", "max_len", "warm_start_steps", "warm_start_lr"} & set(hf)
    assert hf["lora_rank"] == 4 and "hf_warm_start_steps" in hf
    gpt = shared_settings(TrainConfig())
    assert not {"lora_rank", "hf_warm_start_steps", "gguf_file", "chat_template"} & set(gpt)
    assert gpt["n_layer"] == TrainConfig().n_layer and gpt["warm_start_steps"] == TrainConfig().warm_start_steps


def test_a_report_where_every_agent_run_failed_uses_agent_wording_and_links_no_curves(tmp_path):
    """No run finished, so there are no records to tell task from agent runs: the comparison says which; no
    curves.png is written, so none is linked."""
    failures = {"grpo": {0: "ValueError: token_budget: is 600"}, "rtmc": {0: "ValueError: token_budget: is 600"}}
    summary = summarise({"grpo": {}, "rtmc": {}}, 600, failures=failures, agent=True)
    text = write_report(tmp_path, summary, {"env": "gridworld"}).read_text()
    assert "Held-out sampled success at the end" in text and "pass@1" not in text
    assert "curves.png" not in text and not (tmp_path / "curves.png").exists() and "No run finished" in text
    header = next(line for line in text.splitlines() if line.startswith("| arm |"))
    failed = next(line for line in text.splitlines() if line.startswith("| grpo | seed 0 failed"))
    assert header.count("|") == failed.count("|")
    assert "pass@1" in write_report(tmp_path / "task", summarise({"grpo": {}}, 600, failures=failures),
                                    {}).read_text()


@pytest.mark.parametrize("settings, label", [
    ({"model": "gpt", "warm_start_steps": 300}, "Warm start (step 0) sampled pass@1: 0.100."),
    ({"model": "gpt", "warm_start_steps": 0}, "Step 0 (no warm start) sampled pass@1: 0.100."),
    ({"model": "/m", "hf_warm_start_steps": 0}, "Step 0 (no warm start) sampled pass@1: 0.100."),
    ({"model": "/m", "hf_warm_start_steps": 5}, "Warm start (step 0) sampled pass@1: 0.100."),
])
def test_the_step_0_line_says_warm_start_only_when_the_runs_had_one(tmp_path, settings, label):
    summary = summarise({"grpo": [_records(0.5), _records(0.6)]}, 100)
    assert label in write_report(tmp_path, summary, settings).read_text().splitlines()


def test_an_agent_comparison_whose_runs_dropped_every_episode_of_a_step_or_an_evaluation_is_reported(tmp_path):
    """An agent evaluation whose every episode was dropped (env errors) holds no success, and a training step
    whose every episode was dropped no credit share: the report leaves them out instead of crashing."""
    def run(final: float, first_dropped: bool) -> list[dict]:
        first = {"kind": "eval", "step": 0, "generated_tokens": 0, "eval_dropped_episodes": 2,
                 "eval_greedy_dropped_episodes": 2}
        if not first_dropped:
            first.update(eval_success=0.2, eval_greedy_success=0.2, eval_return=0.2)
        last = {"kind": "eval", "step": 2, "generated_tokens": 100, "eval_success": final,
                "eval_greedy_success": final, "eval_return": final, "eval_dropped_episodes": 0}
        trains = [{"kind": "train", "step": 1, "generated_tokens": 50, "elapsed_s": 5.0, "dropped_episodes": 4},
                  {"kind": "train", "step": 2, "generated_tokens": 100, "elapsed_s": 10.0,
                   "adv_step_credit_share": 0.5}]
        return [first, trains[0], trains[1], last]

    runs = {"grpo": {0: run(0.4, True), 1: run(0.5, False)}, "rtmc": {0: run(0.6, True), 1: run(0.6, True)}}
    summary = summarise(runs, 100, agent=True)
    assert summary["metrics"][0] == "eval_success"
    assert summary["estimators"]["grpo"]["final"]["eval_success"]["mean"] == pytest.approx(0.45)
    assert summary["estimators"]["grpo"]["step_credit_share"] == pytest.approx(0.5)
    text = write_report(tmp_path, summary, {"env": "gridworld"}).read_text()
    assert "Held-out sampled success at the end" in text


@pytest.mark.parametrize("settings", [{"model": "gpt", "warm_start_steps": 0},
                                      {"model": "m", "hf_warm_start_steps": 0}])
def test_a_run_without_a_warm_start_is_compared_with_step_0_not_a_warm_start(tmp_path, settings):
    """Was (trial 26): 'grpo over its warm start … did not improve measurably on its warm start' with no warm start."""
    runs = {"grpo": {0: _records(0.1), 1: _records(0.11)}, "rloo": {0: _records(0.3), 1: _records(0.3)}}
    text = write_report(tmp_path, summarise(runs, 100), settings).read_text()
    assert "grpo over step 0 (paired over seeds): " in text
    assert "**grpo did not improve measurably on step 0 at this budget, so 'tokens to grpo final' only says when an " \
           "arm's curve first touches the step-0 level;" in text
    assert "warm start (" not in text.lower().replace("step 0 (no warm start)", "")
    warm = write_report(tmp_path, summarise(runs, 100), {"model": "gpt", "warm_start_steps": 5}).read_text()
    assert "grpo over its warm start (paired" in warm and "touches the warm-start level" in warm
