"""The dataset task: every loader on a file made here, columns, held-out split, template, errors."""

import json

import numpy as np
import pytest

from treecredit.tasks import ChatPrompt, DatasetTask

ROWS = [{"question": f"What is {i} + {i}?", "answer": str(2 * i), "steps": f"{i} + {i}\n= {2 * i}",
         "sys": "Be brief."} for i in range(10)]


def write(tmp_path, kind):
    import datasets

    if kind == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif kind == "json":
        path = tmp_path / "d.json"
        path.write_text(json.dumps(ROWS))
    elif kind == "csv":
        path = tmp_path / "d.csv"
        datasets.Dataset.from_list(ROWS).to_csv(str(path))
    elif kind == "parquet":
        path = tmp_path / "d.parquet"
        datasets.Dataset.from_list(ROWS).to_parquet(str(path))
    elif kind == "saved":
        path = tmp_path / "saved"
        datasets.Dataset.from_list(ROWS).save_to_disk(str(path))
    else:
        path = tmp_path / "saved_dict"
        datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:8]),
                              "test": datasets.Dataset.from_list(ROWS[8:])}).save_to_disk(str(path))
    return str(path)


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "parquet", "saved", "saved_dict"])
def test_every_loader(tmp_path, kind):
    task = DatasetTask(path=write(tmp_path, kind), prompt_column="question", rewards=["exact"], held_out=2)
    problems = task.train_problems + task.held_out_problems(np.random.default_rng(0), 100)
    assert len(problems) == (8 if kind == "saved_dict" else 10)
    assert {p.prompt for p in problems} <= {r["question"] for r in ROWS}
    one = problems[0]
    assert task.reward(one, one.answer) == 1.0 and task.reward(one, "nope") == 0.0


def test_held_out_split_is_disjoint_and_seeded(tmp_path):
    path = write(tmp_path, "jsonl")
    task = DatasetTask(path=path, prompt_column="question", held_out=0.3)
    held = task.held_out_problems(np.random.default_rng(0), 100)
    assert len(held) == 3 and len(task.train_problems) == 7
    assert not {p.prompt for p in held} & {p.prompt for p in task.train_problems}
    again = DatasetTask(path=path, prompt_column="question", held_out=0.3)
    assert [p.prompt for p in again.held_out_problems(None, 100)] == [p.prompt for p in held]
    drawn = {task.make_problem(np.random.default_rng(s)).prompt for s in range(50)}
    assert drawn <= {p.prompt for p in task.train_problems}
    split = DatasetTask(path=write(tmp_path, "saved_dict"), prompt_column="question", held_out_split="test")
    assert [p.answer for p in split.held_out_problems(None, 100)] == ["16", "18"]


def test_template_solution_and_system_prompt(tmp_path):
    task = DatasetTask(path=write(tmp_path, "jsonl"), prompt_column="question", solution_column="steps",
                       system_column="sys", template="Q: {prompt}\nA ({answer} hidden):", held_out=1)
    problem = task.train_problems[0]
    assert isinstance(problem.prompt, ChatPrompt)  # a conversation, as a conversational row is
    assert [m["role"] for m in problem.prompt.messages] == ["system", "user"]
    assert problem.prompt.messages[0]["content"] == "Be brief." and problem.prompt.startswith("Be brief.\n\nQ: What is")
    assert problem.solution.endswith(f"= {problem.answer}")
    assert task.complete_steps("a\nb\nc") == ["a", "b", "c"]  # no end marker: the response is complete
    assert task.check_steps(problem, "a\nb") == []  # no step checker given


def test_step_checker_and_columns_reach_the_rewards(tmp_path, monkeypatch):
    (tmp_path / "my_step_checks.py").write_text(
        "def check(prompt, steps, answer, **columns):\n    return [s.strip() != 'wrong' for s in steps]\n"
        "def seen(prompts, completions, **columns):\n"
        "    return [float(sorted(columns) == ['answer', 'question', 'sys'])] * len(completions)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = DatasetTask(path=write(tmp_path, "jsonl"), prompt_column="question", step_checker="my_step_checks:check",
                       rewards=["my_step_checks:seen"], held_out=1)
    problem = task.train_problems[0]
    assert task.check_steps(problem, "fine\nwrong\nfine") == [True, False, True]
    assert task.reward(problem, "x") == 1.0


def test_bad_input_names_the_option(tmp_path):
    path = write(tmp_path, "jsonl")
    with pytest.raises(ValueError, match="dataset: .*does not exist"):
        DatasetTask(path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match=r"prompt_column: column 'prompt' is not in the dataset; its columns are \['q"):
        DatasetTask(path=path)
    with pytest.raises(ValueError, match="answer_column: column 'solution'"):
        DatasetTask(path=path, prompt_column="question", answer_column="solution")
    for name, text in (("empty.jsonl", ""), ("blank.jsonl", "\n"), ("header.csv", "question,answer\n"),
                       ("list.json", "[]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=r"^dataset: .* holds no rows\. Fix: pass a dataset with at least one row"):
            DatasetTask(path=str(tmp_path / name), prompt_column="question")
    with pytest.raises(ValueError, match="held_out: is 10: 10 held-out of 10"):
        DatasetTask(path=path, prompt_column="question", held_out=10)
    with pytest.raises(ValueError, match="template: "):
        DatasetTask(path=path, prompt_column="question", template="{nothing}")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match="dataset: unknown file type"):
        DatasetTask(path=str(tmp_path / "d.txt"))


def test_conversational_rows_follow_trl(tmp_path, monkeypatch):
    rows = [{"prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"{i}+{i}="}],
             "answer": str(2 * i)} for i in range(4)]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "trl_style.py").write_text(
        "def first_message(prompts, completions, answer, **kwargs):\n"
        "    assert prompts[0][-1]['role'] == 'user'\n"
        "    return [float(c[0]['content'] == a) for c, a in zip(completions, answer)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = DatasetTask(path=str(path), rewards=["trl_style:first_message", "exact"], held_out=1)
    problem = task.train_problems[0]
    assert isinstance(problem.prompt, ChatPrompt) and problem.prompt.messages[0]["role"] == "system"
    assert task.reward(problem, problem.answer) == 2.0 and task.reward(problem, "7") == 0.0

    from hf_tiny import local_tokenizer
    from treecredit.models import HFPolicy

    class _Model:  # encode_prompt needs only the tokenizer and generation config
        config = type("C", (), {"vocab_size": 64})()
        generation_config = None

    policy = HFPolicy(_Model(), local_tokenizer())
    user = problem.prompt.messages[1]["content"]
    assert policy.tokenizer.decode(policy.encode_prompt(problem.prompt)) == f"<system>be brief<user>{user}<a>"


def test_samplers_call_a_reward_function_once_per_batch(tmp_path):
    """TRL's convention: one call with every completion of the batch (not one call per completion)."""
    import torch

    from treecredit.models import GPTPolicy
    from treecredit.sampling import IIDSampler, TreeSampler

    calls = []

    def count(prompts, completions, **columns):
        calls.append(len(completions))
        return [0.0] * len(completions)

    task = DatasetTask(path=write(tmp_path, "jsonl"), prompt_column="question", rewards=[count], held_out=2,
                       end="")
    from treecredit.training.warmstart import char_tokenizer_for

    policy = GPTPolicy.build(char_tokenizer_for(task), seed=0, n_layer=1, n_head=1, n_embd=16)
    problems = task.train_problems[:3]
    rollout = IIDSampler(max_new_tokens=4).sample(policy, task, problems, 4, torch.Generator().manual_seed(0))
    assert calls == [12] and rollout.rewards.shape == (12,)
    calls.clear()
    tree = TreeSampler(max_new_tokens=4, branching_options={"depth": 1, "every": 2}).sample(
        policy, task, problems, 4, torch.Generator().manual_seed(0))
    assert calls == [tree.shape[0]] and tree.shape[0] > 1


@pytest.mark.parametrize("kind", ["jsonl", "saved"])
def test_the_warm_start_cache_key_changes_with_the_data_not_only_the_options(tmp_path, kind):
    import datasets

    path = write(tmp_path, kind)
    key = DatasetTask(path=path, prompt_column="question", held_out=2).cache_identity()
    assert DatasetTask(path=path, prompt_column="question", held_out=2).cache_identity() == key
    edited = [{**r, "answer": "0"} for r in ROWS]
    if kind == "jsonl":
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edited))
    else:
        datasets.Dataset.from_list(edited).save_to_disk(str(tmp_path / "saved2"))
        path = str(tmp_path / "saved2")
        key = {**key, "path": path}  # the same options but the path: only the data differs
    assert DatasetTask(path=path, prompt_column="question", held_out=2).cache_identity() != key


def test_task_options_of_the_wrong_type_or_a_negative_held_out_are_refused_by_name(tmp_path):
    from treecredit.tasks import make_task
    from treecredit.tasks.fixed import split_held_out
    from treecredit.training.config import TrainConfig

    path = write(tmp_path, "jsonl")
    with pytest.raises(ValueError, match=r"held_out: is 'abc' \(str\), must be a finite number\. Fix: pass "
                                         r"--task-option held_out=0.5"):
        TrainConfig(dataset=path, task_options={"prompt_column": "question", "held_out": "abc"})
    with pytest.raises(ValueError, match=r"held_out: is -1, must be a number ≥ 0"):
        TrainConfig(dataset=path, task_options={"prompt_column": "question", "held_out": -1})
    with pytest.raises(ValueError, match=r"held_out: is nan"):
        split_held_out(list(range(10)), float("nan"), 0, 3)
    # was: truncated to a count of 1 (the docs: a fraction below 1 or a count)
    with pytest.raises(ValueError, match=r"held_out=1\.5 .*held_out: is 1\.5: neither a fraction below 1 nor a whole "
                                         r"count of items\. Fix: pass a count \(held_out=1 or 2\)"):
        TrainConfig(dataset=path, task_options={"prompt_column": "question", "held_out": 1.5})
    assert len(split_held_out(list(range(10)), 2.0, 0, 3)[0]) == 2  # a whole float is a count
    with pytest.raises(ValueError, match=r"wrong_step_is_fatal: is 'maybe' \(str\), must be true or false"):
        TrainConfig(dataset=path, task_options={"prompt_column": "question", "wrong_step_is_fatal": "maybe"})
    with pytest.raises(ValueError, match=r"min_operators: is 'two' \(str\), must be an integer"):
        make_task("arithmetic", min_operators="two")
    with pytest.raises(ValueError, match=r"prompt_column: column '5' is not in the dataset"):
        TrainConfig(dataset=path, task_options={"prompt_column": 5})


def test_splits_are_named_and_never_ignored(tmp_path):
    import datasets

    folder = tmp_path / "no_train"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(ROWS[:8]),
                          "extra": datasets.Dataset.from_list(ROWS[8:])}).save_to_disk(str(folder))
    with pytest.raises(ValueError, match=r"split: .*has no 'train' split \(the default\); it has \['validation', "
                                         r"'extra'\]\. Fix: pass --task-option split=NAME"):
        DatasetTask(path=str(folder), prompt_column="question")
    only = tmp_path / "only_validation"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(only))
    with pytest.raises(ValueError, match=r"split: .*has no 'train' split"):  # not used silently
        DatasetTask(path=str(only), prompt_column="question")
    with pytest.raises(ValueError, match=r"^held_out_split: 'test' is not a split of .*Fix: pass --task-option "
                                         r"held_out_split=NAME"):
        DatasetTask(path=str(folder), prompt_column="question", split="validation", held_out_split="test")
    task = DatasetTask(path=str(folder), prompt_column="question", split="validation", held_out_split="extra")
    assert len(task.train_problems) == 8
    with pytest.raises(ValueError, match=r"^split: is 'train', but folder .* holds one Dataset, with no splits"):
        DatasetTask(path=write(tmp_path, "saved"), prompt_column="question", split="train")
    with pytest.raises(ValueError, match=r"^held_out_split: is 'test', but .* is a data file.*held_out=N"):
        DatasetTask(path=write(tmp_path, "jsonl"), prompt_column="question", held_out_split="test")
