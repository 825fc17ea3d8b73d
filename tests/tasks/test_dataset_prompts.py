"""Prompt-shape checks of the dataset task: text-prompt options on conversations, conversations saved to CSV as
their Python repr, and a one-row dataset's held-out split."""

import json

import pytest

from treecredit.tasks import ChatPrompt, DatasetTask

CHAT = [{"prompt": [{"role": "user", "content": f"{i}+{i}="}], "answer": str(2 * i), "sys": "Be brief."}
        for i in range(4)]


def _jsonl(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("option, value", [("template", "Q: {prompt}"), ("system_prompt", "Be brief."),
                                           ("system_column", "sys")])
def test_text_prompt_options_on_conversations_are_refused(tmp_path, option, value):
    path = _jsonl(tmp_path, CHAT)
    with pytest.raises(ValueError, match=rf"^{option}: is '.*', but column 'prompt' holds conversations in 4 of "
                                         r"the 4 rows .*model would never see it\. Fix: .*drop --task-option "
                                         rf"{option}\.$"):
        DatasetTask(path=path, held_out=1, **{option: value})
    held = _jsonl(tmp_path, CHAT[:1], "held.jsonl")  # a held-out file of conversations is checked too
    text = _jsonl(tmp_path, [{"prompt": "1+1=", "answer": "2", "sys": "x"}] * 3, "text.jsonl")
    with pytest.raises(ValueError, match=rf"^{option}: .*held-out file .*held\.jsonl"):
        DatasetTask(path=text, held_out_path=held, **{option: value})


def test_text_prompt_options_still_apply_to_text_prompts(tmp_path):
    rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i), "sys": "Be brief."} for i in range(4)]
    task = DatasetTask(path=_jsonl(tmp_path, rows), held_out=1, template="Q: {prompt}", system_column="sys")
    prompt = task.train_problems[0].prompt
    assert isinstance(prompt, ChatPrompt) and prompt.messages[0] == {"role": "system", "content": "Be brief."}
    assert prompt.messages[1]["content"].startswith("Q: ")
    chat = DatasetTask(path=_jsonl(tmp_path, CHAT, "chat.jsonl"), held_out=1)  # defaults: a conversation as is
    assert [m["role"] for m in chat.train_problems[0].prompt.messages] == ["user"]


def test_a_conversation_saved_to_csv_as_its_repr_is_refused(tmp_path):
    import pandas as pd

    path = tmp_path / "chat.csv"
    frame = pd.DataFrame([{"prompt": [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": f"{i}+{i}="}], "answer": 2 * i} for i in range(3)])
    frame.to_csv(path, index=False)
    assert path.read_text().splitlines()[1].startswith('"[{\'role\': \'system\'')  # pandas writes the repr
    with pytest.raises(ValueError, match=r"^prompt_column: column 'prompt' holds text that spells a list of chat "
                                         r"messages .* in 3 of the 3 rows .*\(rows 1, 2, 3, .*Fix: save the dataset "
                                         r"as JSON Lines"):
        DatasetTask(path=str(path), held_out=1)
    frame.to_json(tmp_path / "chat.jsonl", orient="records", lines=True)  # the fix it names works
    task = DatasetTask(path=str(tmp_path / "chat.jsonl"), held_out=1)
    assert isinstance(task.train_problems[0].prompt, ChatPrompt)


@pytest.mark.parametrize("dump, notation, parse", [(json.dumps, "JSON", "json.loads"),
                                                    (str, "Python's", "ast.literal_eval")])
def test_a_jsonl_conversation_stored_as_a_string_is_refused_for_what_it_is(tmp_path, dump, notation, parse):
    import ast

    import pandas as pd

    rows = [{"prompt": [{"role": "user", "content": f"{i}+{i}="}], "answer": str(2 * i)} for i in range(3)]
    path = _jsonl(tmp_path, [{**r, "prompt": dump(r["prompt"])} for r in rows])
    with pytest.raises(ValueError) as refused:
        DatasetTask(path=path, held_out=1)
    said = str(refused.value)
    assert said.startswith(f"prompt_column: column 'prompt' holds each conversation as a string, a list of chat "
                           f"messages written out in {notation} notation")
    assert "in 3 of the 3 rows" in said and "CSV" not in said and "save the dataset as JSON Lines" not in said
    assert f"Fix: store the messages in the column as a list, not as a string: parse the column before saving " \
           f"(df['prompt'] = df['prompt'].map({parse})" in said
    frame = pd.read_json(path, lines=True)  # the fix it names works
    frame["prompt"] = frame["prompt"].map(json.loads if notation == "JSON" else ast.literal_eval)
    frame.to_json(tmp_path / "fixed.jsonl", orient="records", lines=True)
    assert isinstance(DatasetTask(path=str(tmp_path / "fixed.jsonl"), held_out=1).train_problems[0].prompt,
                      ChatPrompt)


@pytest.mark.parametrize("text", ["[{not python}]", "[{'a': 1}]", "[1, 2] is a list", "[{'content': 'x'}] more"])
def test_text_that_only_looks_like_a_list_trains_as_text(tmp_path, text):
    task = DatasetTask(path=_jsonl(tmp_path, [{"prompt": text, "answer": "1"}] * 2), held_out=1)
    assert str(task.train_problems[0].prompt) == text


def test_a_one_row_dataset_offers_a_held_out_file(tmp_path):
    path = _jsonl(tmp_path, CHAT[:1])
    with pytest.raises(ValueError, match=r"^held_out: is 0\.1, but .* holds one row.*Fix: add rows to the dataset, "
                                         r"or pass .*held_out_path=FILE"):
        DatasetTask(path=path)
    held = _jsonl(tmp_path, CHAT[1:], "held.jsonl")
    task = DatasetTask(path=path, held_out_path=held)  # the fix it names works
    assert len(task.train_problems) == 1
    assert len(DatasetTask(path=path, held_out=0).train_problems) == 1  # no held-out rows asked for: allowed
