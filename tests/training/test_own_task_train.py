"""End to end: two RL steps of a tiny random Hugging Face model on a JSONL dataset scored by a user's
TRL-convention reward function, from the command line; then export."""

import json
import sys
import textwrap

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.cli import main  # noqa: E402
from treecredit.training.metrics import read_metrics  # noqa: E402


def test_two_steps_on_a_jsonl_dataset_with_a_user_reward(tmp_path, monkeypatch, capsys):
    tok = local_tokenizer()
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i), "skip": i % 2 == 1} for i in range(8)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "user_reward.py").write_text(textwrap.dedent("""
        import json

        def score(prompts, completions, answer, skip, **kwargs):
            with open(LOG, "a") as handle:
                handle.write(json.dumps({"prompts": prompts, "answer": answer, "skip": skip,
                                         "completions": completions, "kwargs": sorted(kwargs)}) + "\\n")
            return [None if s else float(c.strip() == a) + 0.1 * len(c) for c, a, s in zip(completions, answer, skip)]
    """).replace("LOG", repr(str(tmp_path / "calls.jsonl"))))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    code = main(["train", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "data.jsonl"),
                 "--reward", "user_reward:score", "--task-option", "held_out=2", "--steps", "2",
                 "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--minibatches", "1",
                 "--eval-every", "2", "--sample-every", "1", "--out", str(out), "--no-tensorboard", "--no-progress"])
    sys.modules.pop("user_reward", None)
    assert code == 0
    records = read_metrics(out / "metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2] and len([r for r in records if r["kind"] == "eval"]) == 2
    # no step checker: step accuracy is n/a (JSON null), not a 0 that reads like "every step wrong"
    assert all(r["step_accuracy"] is None for r in train)
    assert all(r["eval_step_accuracy"] is None for r in records if r["kind"] == "eval")
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    by_prompt = {r["prompt"]: r for r in rows}
    for call in calls:  # the dataset's columns, row by row, as TRL passes them
        assert call["answer"] == [by_prompt[p]["answer"] for p in call["prompts"]]
        assert call["skip"] == [by_prompt[p]["skip"] for p in call["prompts"]]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and {s["step"] for s in samples} == {1, 2}
    for sample in samples:  # a None reward: no advantage, flagged
        assert sample["reward_failed"] == by_prompt[sample["prompt"]]["skip"]
        assert (sample["reward"] is None) == sample["reward_failed"]  # null, not the value imputed for the baseline
    assert sum(r["reward_failed"] for r in train) == 2 * sum(by_prompt[s["prompt"]]["skip"] for s in samples)
    assert "[step 1] reward" in capsys.readouterr().out

    assert main(["export", str(out), "--out", str(tmp_path / "exported")]) == 0
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "exported", local_files_only=True)
    state = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert torch.equal(reloaded.state_dict()["lm_head.weight"], state["lm_head.weight"])


def test_bad_dataset_options_fail_before_training(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text('{"question": "1+1=", "answer": "2"}\n' * 3)
    assert main(["train", "--dataset", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "r")]) == 2
    assert "prompt_column: column 'prompt' is not in the dataset; its columns are ['question', 'answer']" \
        in capsys.readouterr().err
    assert main(["train", "--dataset", str(tmp_path / "d.jsonl"), "--task-option", "prompt_column=question",
                 "--reward", "nowhere_module:fn", "--out", str(tmp_path / "r")]) == 2
    assert "reward: module 'nowhere_module'" in capsys.readouterr().err
    assert main(["train", "--reward", "task:graded=true", "--out", str(tmp_path / "r")]) == 2
    assert "reward: 'task:graded=true': the task's own verifier takes no options" in capsys.readouterr().err
    assert main(["train", "--task", "countdown", "--reward", "nowhere_module:fn", "--out", str(tmp_path / "r")]) == 2
    assert "reward: module 'nowhere_module'" in capsys.readouterr().err


def test_a_reward_that_fails_on_every_completion_stops_the_run_before_any_work(tmp_path, monkeypatch, capsys):
    tok = local_tokenizer()
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"prompt": f"{i}+{i}=", "answer": str(2 * i)}) + "\n"
                                                 for i in range(8)))
    (tmp_path / "broken_reward.py").write_text("def score(prompts, completions, **kwargs):\n    return {}['x']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(["train", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "data.jsonl"),
                 "--reward", "broken_reward:score", "--task-option", "held_out=2", "--steps", "2",
                 "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--minibatches", "1",
                 "--out", str(tmp_path / "run"), "--no-tensorboard", "--no-progress"])
    sys.modules.pop("broken_reward", None)
    assert code == 2
    assert "reward: broken_reward:score raised KeyError: 'x', on every one of the 2 completions (checked on the " \
           "worked solutions of 2 training problems before any work)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_user_reward_replaces_a_named_tasks_verifier(tiny_config, tmp_path, monkeypatch):
    from treecredit.training.loop import train

    (tmp_path / "length_reward.py").write_text(
        "def short(prompts, completions, answer, solution, **kwargs):\n"
        "    return [1.0 if len(c) <= len(s) else 0.5 for c, s in zip(completions, solution)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    records = train(tiny_config(steps=2, warm_start_steps=0, eval_every=2, reward=["length_reward:short"]),
                    log=lambda *a: None)
    sys.modules.pop("length_reward", None)
    rewards = [r["reward"] for r in records if r["kind"] == "train"]
    assert len(rewards) == 2 and all(0.5 <= r <= 1.0 for r in rewards)  # the user's values (the task's: 0 or 1)


def test_max_len_sets_the_small_gpt_context(tiny_config):
    from treecredit.tasks import make_task
    from treecredit.training.loop import build_policy

    task = make_task("arithmetic")
    assert build_policy(tiny_config(warm_start_steps=0), task, print).model.cfg.max_len == 96
    assert build_policy(tiny_config(warm_start_steps=0, max_len=160), task, print).model.cfg.max_len == 160
    with pytest.raises(ValueError, match="max_len"):
        tiny_config(max_len=0)
