"""reasoning-gym on a chat model (trial42, finding 2): its scorers judge the extracted answer, so an ``rg:`` task on a
Hugging Face model gets reasoning-gym's default system prompt (``<answer>`` tags) and reads the answer as
reasoning-gym does; ``system_prompt=none`` turns it off; the small GPT is unchanged."""

from types import SimpleNamespace

import pytest

pytest.importorskip("reasoning_gym")
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer  # noqa: E402
from treecredit.tasks import task_from_config  # noqa: E402

RG_DEFAULT = __import__("reasoning_gym.utils", fromlist=["SYSTEM_PROMPTS"]).SYSTEM_PROMPTS["default"]


def _task(model="/models/my-chat-model", task="rg:basic_arithmetic", **options):
    config = SimpleNamespace(model=model, chat_template="auto", task=task, task_options=options, reward=[],
                             dataset="", eval_problems=8)
    return task_from_config(config)


def _problem(task):
    import numpy as np

    return task.generate(np.random.default_rng(0), 1)[0]


def test_a_chat_model_gets_reasoning_gyms_system_prompt_and_tagged_answers_score():
    from treecredit.models.hf_policy import prompt_text

    task = _task()
    assert task.system_prompt == RG_DEFAULT and task.answer_tags and task.default_system
    problem = _problem(task)
    answer = problem.answer
    shown = prompt_text(local_tokenizer(), problem.prompt, chat=True)  # what the chat template gets
    assert shown.startswith(f"<system>{RG_DEFAULT}<user>") and shown.endswith("<a>")
    assert task.reward(problem, f"Let me add them up.\n<answer>{answer}</answer>") == 1.0
    assert task.success_of([problem], [f"Thinking... <answer>{answer}</answer> Hope that helps."]) == [True]
    assert task.reward(problem, f"The answer is {answer}.") == 0.0  # no tags: not read, as reasoning-gym does
    assert task.reward(problem, "<answer>-123456</answer>") == 0.0
    graded = _task(graded=True)
    wrong = answer + "0"  # trial42: a wrong bare number scored 0.667 under graded=true, above a right sentence
    assert graded.reward(problem, wrong) == 0.0 and graded.reward(problem, f"<answer>{answer}</answer>") == 1.0
    assert problem.solution == f"<answer>{answer}</answer>"  # a warm start teaches the tagged format
    from treecredit.tasks.rg_prompts import system_prompt_note

    note = system_prompt_note(task)
    assert note.startswith("note: rg:basic_arithmetic on a chat model: reasoning-gym's default system prompt")
    assert "    Given a problem, your task is to answer" in note and "system_prompt=none" in note


def test_the_small_gpt_and_system_prompt_none_keep_the_plain_reading():
    from treecredit.tasks.rg_prompts import system_prompt_note

    for task in (_task(model="gpt"), _task(system_prompt="none"), _task(system_prompt="")):
        problem = _problem(task)
        assert task.system_prompt == "" and not task.answer_tags and system_prompt_note(task) == ""
        assert problem.prompt == problem.data[1]["question"]
        assert task.reward(problem, problem.answer) == 1.0 and task.reward(problem, f"#### {problem.answer}") == 1.0
    config = SimpleNamespace(model="/m", chat_template="off", task="rg:chain_sum", task_options={}, reward=[],
                             dataset="", eval_problems=8)
    assert task_from_config(config).system_prompt == ""  # plain text said to be meant: the user's own prompt


def test_a_named_or_own_system_prompt():
    from reasoning_gym.utils import SYSTEM_PROMPTS

    simple = _task(system_prompt="simple")
    assert simple.system_prompt == SYSTEM_PROMPTS["simple"] and simple.answer_tags and not simple.default_system
    own = _task(system_prompt="Reply with the number only.")
    assert own.system_prompt == "Reply with the number only." and not own.answer_tags
    problem = _problem(own)
    assert own.reward(problem, problem.answer) == 1.0
    tagged = _task(system_prompt="Put the answer in <answer> tags.", answer_tags=True)
    assert tagged.reward(problem, f"x <answer>{problem.answer}</answer> y") == 1.0
    assert _task(model="gpt", system_prompt="default").system_prompt == SYSTEM_PROMPTS["default"]


def test_a_chat_model_run_prints_the_system_prompt_at_its_start(tmp_path, capsys):
    import json

    import torch

    from hf_tiny import tiny_llama_config
    from treecredit.cli import main

    tok = local_tokenizer(chars="".join(chr(c) for c in range(32, 127)) + "\n")
    torch.manual_seed(0)
    config = tiny_llama_config(len(tok))
    config.max_position_embeddings = 1024  # character tokens: the system prompt is ~400 of them
    model = tmp_path / "chat-model"
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(model)
    tok.save_pretrained(model)
    out = tmp_path / "run"
    assert main(["train", "--model", str(model), "--task", "rg:basic_arithmetic", "--steps", "1", "--prompts-per-step",
                 "2", "--group-size", "2", "--max-new-tokens", "3", "--eval-problems", "2", "--no-tensorboard",
                 "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    said = "note: rg:basic_arithmetic on a chat model: reasoning-gym's default system prompt"
    assert printed.count(said) == 1 and f"    {RG_DEFAULT.splitlines()[0]}" in printed
    assert said in (out / "log.txt").read_text()
    sample = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert sample["prompt"].startswith(RG_DEFAULT)
