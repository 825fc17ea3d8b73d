"""A user's dataset as a new user brings it: no answer column, null or empty cells, a held-out file without
the training file's columns, a malformed JSONL line, a system prompt: each accepted as it should be or
refused before any model loads, naming the option, the file, the rows and the fix."""

import json
import re

import numpy as np
import pytest

from treecredit.tasks import ChatPrompt, DatasetTask
from treecredit.tasks.dataset_rows import _NOTED_ENV

CODE = [{"prompt": f"Write add{i}(a, b) returning a+b+{i}.", "test": f"def check(f):\n    assert f(1, 2) == {3 + i}\n",
         "entry_point": f"add{i}", "solution": f"```python\ndef add{i}(a, b):\n    return a+b+{i}\n```"}
        for i in range(6)]
MATH = [{"question": f"what is {i}+{i}?", "answer": str(2 * i), "solution": f"{i}+{i}={2 * i}", "sys": "Be brief."}
        for i in range(8)]


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_dataset_without_an_answer_column_has_no_answers(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(_NOTED_ENV, raising=False)
    path = jsonl(tmp_path / "code.jsonl", CODE)
    task = DatasetTask(path=path, rewards=["code"], solution_column="solution", held_out=2)
    again = DatasetTask(path=path, rewards=["code"], solution_column="solution", held_out=2)  # noted once
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"note: dataset {path!r} has no 'answer' column")
    assert "answer_column=" in lines[0]
    assert "with a code reward among the rewards, the verdict of the row's tests" in lines[0]  # not the mean
    assert task.answer_column == "" and again.answer_column == ""
    problem = task.train_problems[0]
    assert problem.answer == "" and problem.solution == problem.data[2]["solution"]
    assert task.reward(problem, problem.solution) == 1.0 and task.reward(problem, "no code") == 0.0
    assert task.success_of(task.held_out_problems(np.random.default_rng(0), 2), ["x", "y"]) is None
    assert "warm start" not in lines[0]  # it has worked solutions to learn
    explicit = DatasetTask(path=path, rewards=["code"], answer_column="", held_out=2)  # said so: no note
    assert explicit.answer_column == "" and capsys.readouterr().out == ""
    bare = jsonl(tmp_path / "bare.jsonl", CODE)  # no solution_column: the warm start has nothing to learn
    DatasetTask(path=bare, rewards=["code"], held_out=2)
    assert "a supervised warm start would teach the model to answer nothing: pass --warm-start-steps 0" in \
        capsys.readouterr().out


def test_an_answer_column_named_but_missing_is_refused_with_the_empty_option_as_a_fix(tmp_path):
    path = jsonl(tmp_path / "code.jsonl", CODE)
    with pytest.raises(ValueError, match=r"^answer_column: column 'answer' is not in the dataset; its columns are "
                                         r"\['prompt', 'test', 'entry_point', 'solution'\]\. Fix: pass --task-option "
                                         r"answer_column=<one of .*>, or answer_column= \(empty\) for a dataset "
                                         r"without answers\.$"):
        DatasetTask(path=path, rewards=["code"], answer_column="answer")
    with pytest.raises(ValueError, match=r"^answer_column: is True \(bool\), must be text"):
        DatasetTask(path=path, rewards=["code"], answer_column=True)
    task = DatasetTask(path=jsonl(tmp_path / "m.jsonl", MATH), prompt_column="question")  # the 'answer' column
    assert task.answer_column == "answer" and task.train_problems[0].answer in {r["answer"] for r in MATH}


def _needs_answer(prompts, completions, answer, **kwargs):
    return [0.0] * len(completions)


def _answer_if_any(prompts, completions, answer=None, **kwargs):
    return [0.0] * len(completions)


def test_rewards_that_need_answers_are_refused_up_front_without_them(tmp_path, monkeypatch):
    monkeypatch.setenv(_NOTED_ENV, "")
    path = jsonl(tmp_path / "code.jsonl", CODE)
    with pytest.raises(ValueError, match=r"^answer_column: the dataset has no answers, but reward 'math' \(the default "
                                         r"when no --reward is given\) compares .*Fix: pass --task-option "
                                         r"answer_column=<the column of the reference answers>"):
        DatasetTask(path=path, solution_column="solution")
    for rewards, name in ((["code", "exact"], "exact"), (["numeric:tolerance=0.5@0.5"], "numeric"),
                          ([_needs_answer], "_needs_answer")):
        for answer_column in (None, ""):
            with pytest.raises(ValueError, match=rf"^answer_column: the dataset has no answers, but reward '{name}' "
                                                 r"compares"):
                DatasetTask(path=path, rewards=rewards, answer_column=answer_column)
    assert DatasetTask(path=path, rewards=[_answer_if_any, "code"]).answer_column == ""
    # a column named 'answer' still reaches the rewards when answer_column= leaves it unused as the reference
    assert DatasetTask(path=jsonl(tmp_path / "m.jsonl", MATH), prompt_column="question", answer_column="",
                       rewards=["math"]).answer_column == ""
    with pytest.raises(ValueError, match=r"^reward: 'code' runs each row's 'test' column, but the dataset has none"):
        DatasetTask(path=jsonl(tmp_path / "m2.jsonl", MATH), prompt_column="question", rewards=["code"])


def test_the_fix_for_a_reward_without_answers_suggests_code_only_where_the_dataset_has_tests(tmp_path, monkeypatch):
    monkeypatch.setenv(_NOTED_ENV, "")
    with pytest.raises(ValueError, match=r"Fix: pass --task-option answer_column=<the column of the reference "
                                         r"answers>, or rewards that need no answer \(--reward code, which runs the "
                                         r"'test' column, or --reward module:function\)\.$"):
        DatasetTask(path=jsonl(tmp_path / "code.jsonl", CODE), rewards=["exact"])
    bare = jsonl(tmp_path / "bare.jsonl", [{"question": r["question"]} for r in MATH])  # no answers, no tests
    with pytest.raises(ValueError, match=r"^answer_column: the dataset has no answers, but reward 'math' .*Fix: add "
                                         r"the reference answers as a column named 'answer' \(or pass --task-option "
                                         r"answer_column=<the column that holds them>\), or pass a reward that needs "
                                         r"no answer \(--reward module:function\)\.$") as refused:
        DatasetTask(path=bare, prompt_column="question")
    assert "--reward code" not in str(refused.value)  # 'code' would be refused: the dataset has no 'test' column


@pytest.mark.parametrize("blank", [None, "", "  \n", []])
def test_null_or_empty_prompts_are_refused_with_their_rows(tmp_path, blank):
    rows = [dict(r) for r in MATH]
    rows[3]["question"] = blank
    rows[5]["question"] = None
    path = jsonl(tmp_path / "np.jsonl", rows)
    with pytest.raises(ValueError, match=rf"^prompt_column: column 'question' is null or empty in 2 of the 8 rows of "
                                         rf"{re.escape(repr(path))} \(rows 4, 6, counting from 1 in file order\)\. "
                                         r"Fix: drop those rows or give them a prompt\.$"):
        DatasetTask(path=path, prompt_column="question")


def test_null_system_messages_and_solutions_mean_none_and_the_answer(tmp_path):
    """CSV cannot write '' (an empty cell reads back as None): a null system message is none (or the
    dataset's system_prompt), a null worked solution the row's answer; a null prompt stays refused."""
    rows = [{**r, "sys": None if i == 2 else r["sys"], "solution": None if i == 3 else f"work {i}"}
            for i, r in enumerate(MATH)]
    task = DatasetTask(path=jsonl(tmp_path / "n.jsonl", rows), prompt_column="question", system_column="sys",
                       solution_column="solution", held_out=0)
    by_raw = {p.data[1]: p for p in task.train_problems}
    assert not isinstance(by_raw[MATH[2]["question"]].prompt, ChatPrompt)  # null: no system message
    assert isinstance(by_raw[MATH[1]["question"]].prompt, ChatPrompt)
    assert by_raw[MATH[3]["question"]].solution == MATH[3]["answer"]
    assert by_raw[MATH[1]["question"]].solution == "work 1"
    fallback = DatasetTask(path=jsonl(tmp_path / "f.jsonl", rows), prompt_column="question", system_column="sys",
                           system_prompt="Be brief.", held_out=0)
    prompt = {p.data[1]: p for p in fallback.train_problems}[MATH[2]["question"]].prompt
    assert isinstance(prompt, ChatPrompt) and str(prompt) == "Be brief.\n\nwhat is 2+2?"
    csv = tmp_path / "s.csv"  # an empty CSV cell: None
    csv.write_text("question,answer,sys\nwhat is 1+1?,2,Be brief.\nwhat is 2+2?,4,\n")
    plain = {p.data[1]: p for p in DatasetTask(path=str(csv), prompt_column="question", system_column="sys",
                                               held_out=0).train_problems}
    assert not isinstance(plain["what is 2+2?"].prompt, ChatPrompt) and isinstance(plain["what is 1+1?"].prompt,
                                                                                     ChatPrompt)


def test_the_held_out_file_is_named_for_its_own_faults(tmp_path):
    path = jsonl(tmp_path / "data.jsonl", MATH)
    chat = jsonl(tmp_path / "chat.jsonl", [{"prompt": [{"role": "user", "content": "1+1?"}], "answer": "2"}])
    with pytest.raises(ValueError, match=rf"^held_out_path: held-out file {re.escape(repr(chat))} has no column "
                                         r"'question' \(prompt_column\); its columns are \['prompt', 'answer'\]\. "
                                         r"Fix: give held_out_path rows with the dataset's columns"):
        DatasetTask(path=path, prompt_column="question", held_out_path=chat)
    held = jsonl(tmp_path / "held.jsonl", [{**MATH[0], "question": None}])
    with pytest.raises(ValueError, match=rf"^prompt_column: column 'question' is null or empty in 1 of the 1 rows of "
                                         rf"held-out file {re.escape(repr(held))} \(held_out_path\) \(row 1"):
        DatasetTask(path=path, prompt_column="question", held_out_path=held)


def test_a_malformed_json_line_is_named_by_file_and_line(tmp_path, capfd):
    lines = [json.dumps(r) for r in MATH]
    lines[4] = lines[4][:-3]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"^dataset: line 5 of {re.escape(repr(str(bad)))} is not valid JSON "
                                         r"\(.*column \d+\)\. Fix: correct or remove line 5 \(one JSON object"):
        DatasetTask(path=str(bad), prompt_column="question")
    printed = capfd.readouterr()
    assert "row" not in printed.err + printed.out  # datasets' own parse error (a row from 0) is not printed first
    lines[4] = "[1, 2]"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"^dataset: line 5 of .* is not a JSON object but list '\[1, 2\]'"):
        DatasetTask(path=str(bad), prompt_column="question")
    array = tmp_path / "held.json"
    array.write_text("[\n" + ",\n".join(json.dumps(r) for r in MATH[:3]) + ",\n{\"question\": }\n]\n")
    with pytest.raises(ValueError, match=r"^held_out_path: line 5 of .*held\.json' is not valid JSON"):
        DatasetTask(path=jsonl(tmp_path / "d.jsonl", MATH), prompt_column="question", held_out_path=str(array))


def test_the_loaders_log_is_held_while_it_reads_and_passed_on_after_a_load_that_succeeds():
    import logging

    from treecredit.tasks.dataset_io import _loader_log_held

    seen: list[str] = []
    parent = logging.getLogger("datasets.packaged_modules")
    catch = logging.Handler()
    catch.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    parent.addHandler(catch)
    loader = logging.getLogger("datasets.packaged_modules.json.json")
    try:
        with pytest.raises(RuntimeError), _loader_log_held("json") as held:
            loader.error("Failed at row 0")
            raise RuntimeError
        assert held == ["Failed at row 0"] and seen == []  # a failed load: held back, for load_rows' own error
        with _loader_log_held("json"):
            loader.warning("a note")
            assert seen == []
        assert seen == ["a note"] and loader.propagate  # a load that succeeded: passed on, the logger restored
    finally:
        parent.removeHandler(catch)


def test_a_load_failure_that_no_line_explains_says_what_only_the_loaders_log_said(tmp_path, monkeypatch):
    import logging

    import datasets

    loader = logging.getLogger("datasets.packaged_modules.json.json")

    def failing_load(*args, **kwargs):  # as datasets' json loader fails on a table Arrow cannot build
        loader.error("Failed to convert with error ArrowInvalid: mixed types in column 'answer'")
        loader.error("Failed: Failed to convert the table")  # holds the raised text: said once, not twice
        raise ValueError("Failed to convert the table")

    monkeypatch.setattr(datasets, "load_dataset", failing_load)
    with pytest.raises(ValueError, match=r"could not be read as json \(ValueError: Failed to convert the table; "
                                         r"Failed to convert with error ArrowInvalid: mixed types in column 'answer'"
                                         r"\)\. Fix: check that the file is valid json\.$"):
        DatasetTask(path=jsonl(tmp_path / "m.jsonl", MIXED), prompt_column="question")


MIXED = MATH[:-1] + [{**MATH[-1], "answer": 14}]  # an int among texts: not plain, read by datasets (dataset_jsonl)


def test_a_system_prompt_is_shown_as_the_model_sees_it_and_rewards_get_the_raw_prompt(tmp_path):
    """samples.jsonl writes str(prompt): a system_prompt row shows its system message, as a conversational row
    does; the rewards get the prompt column as it is (TRL), not the filled template."""
    seen = []

    def record(prompts, completions, **columns):
        seen.extend(prompts)
        return [0.0] * len(completions)

    task = DatasetTask(path=jsonl(tmp_path / "d.jsonl", MATH), prompt_column="question", system_prompt="Be brief.",
                       template="Q: {prompt}", rewards=[record], held_out=0)
    problem = task.train_problems[0]
    assert str(problem.prompt) == "Be brief.\n\nQ: what is 0+0?"
    chat = DatasetTask(path=jsonl(tmp_path / "c.jsonl", [{"prompt": [{"role": "system", "content": "Be brief."},
                                                                      {"role": "user", "content": "Q: what is 0+0?"}],
                                                           "answer": "0"}] * 2), held_out=0)
    assert str(chat.train_problems[0].prompt) == str(problem.prompt)
    assert chat.train_problems[0].prompt.messages == problem.prompt.messages
    from treecredit.training.warmstart import char_tokenizer_for

    tokenizer = char_tokenizer_for(task)  # the small GPT sees the system message too
    assert tokenizer.decode(tokenizer.encode_prompt(problem.prompt)) == "Be brief.\n\nQ: what is 0+0?"
    assert task.cache_identity()["system_in_prompt_text"]  # not the weights cached when it did not
    assert "system_in_prompt_text" not in chat.cache_identity()
    task.reward(problem, "0")
    assert seen == ["what is 0+0?"]

    from hf_tiny import CHARS, local_tokenizer
    from treecredit.models import HFPolicy

    class _Model:  # encode_prompt needs only the tokenizer and generation config
        config = type("C", (), {"vocab_size": 64})()
        generation_config = None

    for use, shown in ((True, "<system>Be brief.<user>Q: what is 0+0?<a>"), (False, "Be brief.\n\nQ: what is 0+0?")):
        policy = HFPolicy(_Model(), local_tokenizer(chars=CHARS + "BQ.?"), use_chat_template=use)
        assert policy.tokenizer.decode(policy.encode_prompt(problem.prompt)).removeprefix("<s>") == shown


SFT = [{"messages": [{"role": "user", "content": f"{i}+2="}, {"role": "assistant", "content": str(i + 2)}]}
       for i in range(6)]


def test_a_conversation_ending_with_its_answer_is_refused_as_a_prompt_and_not_offered_as_one(tmp_path):
    """TRL's SFT rows ({"messages": [user, assistant]}): the final assistant turn is the answer, which would leak
    into the prompt (samples.jsonl showed "1+2=\n\n3")."""
    path = jsonl(tmp_path / "msgs.jsonl", SFT)
    with pytest.raises(ValueError, match=r"^prompt_column: column 'prompt' is not in the dataset; its columns are "
                                         r"\['messages'\]\. Fix: put the prompts in a column of their own \(an SFT "
                                         r"conversation's messages without the final assistant turn"):
        DatasetTask(path=path)
    with pytest.raises(ValueError, match=rf"^prompt_column: column 'messages' holds conversations that end with an "
                                         rf"assistant message in 6 of the 6 rows of {re.escape(repr(path))} \(rows 1, "
                                         r"2, 3, 4, 5 and 1 more, counting from 1 in file order\): an SFT conversation"
                                         r".*Fix: drop the final assistant turn from the prompt; put the answer in an "
                                         r"answer column \(--task-option answer_column=NAME\)\.$"):
        DatasetTask(path=path, prompt_column="messages", rewards=["exact"], answer_column="")
    rows = [{"messages": r["messages"], "question": r["messages"][:1], "answer": r["messages"][1]["content"]}
            for r in SFT]
    with pytest.raises(ValueError, match=r"Fix: pass --task-option prompt_column=<one of \['question'\]>"):
        DatasetTask(path=jsonl(tmp_path / "both.jsonl", rows))  # neither 'messages' nor the answers are offered
    answered = [{"messages": r["messages"], "answer": r["messages"][1]["content"]} for r in SFT]
    with pytest.raises(ValueError, match=r"Fix: put the prompts in a column of their own"):  # not prompt_column=answer
        DatasetTask(path=jsonl(tmp_path / "answered.jsonl", answered))
    worked = [{"q": r["messages"][0]["content"], "answer": "1", "steps": "1+1=2"} for r in SFT]
    with pytest.raises(ValueError, match=r"Fix: pass --task-option prompt_column=<one of \['q'\]>"):
        DatasetTask(path=jsonl(tmp_path / "worked.jsonl", worked), solution_column="steps")
    task = DatasetTask(path=jsonl(tmp_path / "both2.jsonl", rows), prompt_column="question", held_out=0)
    assert {str(p.prompt) for p in task.train_problems} == {f"{i}+2=" for i in range(6)}  # no answer in sight


@pytest.mark.parametrize("model, options, advice", [
    ("gpt", {}, "--warm-start-steps 0"),
    ("gpt", {"warm_start_steps": 0}, None),
    ("hf-folder", {}, None),  # a Hugging Face model has no warm start by default: no advice
    ("hf-folder", {"hf_warm_start_steps": 20}, "--hf-warm-start-steps 0"),
])
def test_the_warm_start_advice_for_a_dataset_without_answers_matches_the_model(tmp_path, capsys, monkeypatch, model,
                                                                                options, advice):
    from types import SimpleNamespace

    from treecredit.tasks import task_from_config
    from treecredit.training.config import TrainConfig

    monkeypatch.setenv(_NOTED_ENV, "")
    path = jsonl(tmp_path / "bare.jsonl", CODE)
    defaults = {name: getattr(TrainConfig, name) for name in ("task", "warm_start_steps", "hf_warm_start_steps")}
    config = SimpleNamespace(**{**defaults, **options}, model=model, dataset=path, reward=["code"], task_options={})
    if advice is None:
        task_from_config(config)  # the fields it reads, without a model folder
    else:  # trial42: the run went on and its warm start taught the model to answer nothing: refused, the flag named
        field = advice.split()[0].removeprefix("--").replace("-", "_")
        with pytest.raises(ValueError, match=rf"^{field}: dataset .* has neither answers nor worked solutions .*teach "
                                             rf"the model to answer nothing\. Fix: pass .*or {advice} to start RL"):
            task_from_config(config)
    note = capsys.readouterr().out
    assert note.startswith(f"note: dataset {path!r} has no 'answer' column"), note
    assert "warm start" not in note and "warm-start" not in note, note  # the refusal names the flag


def test_a_trl_style_dataset_is_offered_answer_column_solution_and_an_empty_warm_start_is_refused(tmp_path, capsys,
                                                                                                  monkeypatch):
    """trial42 finding 4: TRL/open-r1 rows (`prompt` messages + `solution`, the reference answer) without --reward:
    the refusal offers answer_column=solution; with a reward but neither answers nor worked solutions, the small
    GPT's warm start (which would teach the model to answer nothing, then ran anyway) is refused naming its flag."""
    from types import SimpleNamespace

    from treecredit.tasks import task_from_config
    from treecredit.training.config import TrainConfig

    monkeypatch.setenv(_NOTED_ENV, "")
    rows = [{"prompt": [{"role": "user", "content": f"{i}+1="}], "solution": str(i + 1)} for i in range(8)]
    path = jsonl(tmp_path / "trl.jsonl", rows)
    defaults = {name: getattr(TrainConfig, name) for name in ("task", "warm_start_steps", "hf_warm_start_steps")}

    def config(reward, **options):
        return SimpleNamespace(**defaults, model="gpt", dataset=path, reward=reward, task_options=options)

    with pytest.raises(ValueError, match=r"^answer_column: .*Fix: pass --task-option answer_column=solution if "
                                         r"'solution' holds the reference answers \(as in TRL/open-r1 datasets\)"):
        task_from_config(config([]))
    assert "Pass --task-option answer_column=solution (in TRL/open-r1" in capsys.readouterr().out
    mine = "tests.tasks.test_dataset_rows:_length_reward"
    with pytest.raises(ValueError, match=r"^warm_start_steps: dataset .* has neither answers nor worked solutions .*"
                                         r"Fix: pass --task-option answer_column=solution .*or --warm-start-steps 0"):
        task_from_config(config([mine]))
    assert task_from_config(config([mine], answer_column="solution")).train_problems[0].solution != ""
    task_from_config(SimpleNamespace(**{**defaults, "warm_start_steps": 0}, model="gpt", dataset=path, reward=[mine],
                                     task_options={}))  # no warm start: nothing to refuse


def _length_reward(completions, **kwargs):
    return [float(len(str(c)) > 0) for c in completions]
