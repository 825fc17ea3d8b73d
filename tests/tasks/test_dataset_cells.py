"""What a dataset's cells hold, as a new user's files give them: a CSV answer column of codes (``007``) and
decimals (``1.50``) stays text, an answer that is a dict or a list is refused (or said) naming the column, the
row and the fix, and a prompt column of numbers is refused."""

import json
import re
import warnings

import numpy as np
import pytest

from treecredit.tasks import DatasetTask


def _jsonl(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_csv_answer_column_is_read_as_the_text_it_holds(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text('q,target,n,hint\n"Code for A?",007,1,01\n"Code for B?",010,2,02\n"Code for C?",042,,03\n'
                    '"Code for D?",100,4,04\n"Code for E?",1.50,5,05\n')
    held = tmp_path / "held.csv"
    held.write_text('q,target,n,hint\n"Code for F?",0.10,6,06\n')
    task = DatasetTask(path=str(path), prompt_column="q", answer_column="target", rewards=["exact"],
                       held_out_path=str(held), template="{prompt} (hint {hint})")
    answers = [p.answer for p in task.train_problems]
    assert answers == ["007", "010", "042", "100", "1.50"]  # datasets alone reads 7.0, 10.0, 42.0, 100.0, 1.5
    assert task.held_out_problems(np.random.default_rng(0), 1)[0].answer == "0.10"
    first = task.train_problems[0]
    assert first.prompt == "Code for A? (hint 01)"  # a column the template names is text too
    assert task.score_batch([first] * 3, ["007", "7", "#### 007"]) == [1.0, 0.0, 1.0]
    assert first.data[2]["answer"] == "007" and first.data[2]["target"] == "007"  # what rewards get
    assert first.data[2]["n"] == 1  # a column no option names keeps the type datasets infers
    assert [p.data[2]["n"] for p in task.train_problems][2] is None  # an empty cell is still None


def test_the_default_answer_column_of_a_csv_is_text_and_an_empty_cell_has_no_answer(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("prompt,answer\nfirst?,007\nsecond?,\nthird?,3\nfourth?,0.50\n")
    task = DatasetTask(path=str(path), rewards=["exact"], held_out=0)
    assert [p.answer for p in task.train_problems] == ["007", "", "3", "0.50"]
    assert task.train_problems[1].data[2]["answer"] is None


@pytest.mark.parametrize("answer, shown", [({"value": 7}, "{'value': 7}"), ({"a": [1]}, "{'a': [1]}")])
def test_a_dict_answer_is_refused_naming_the_column_the_rows_and_the_fix(tmp_path, answer, shown):
    rows = [{"prompt": f"{i}+1=?", "answer": answer if i != 1 else "2"} for i in range(4)]
    path = _jsonl(tmp_path, rows)
    for rewards in (["math"], [lambda prompts, completions, answer, **_: [1.0] * len(completions)]):
        with pytest.raises(ValueError, match=r"^answer_column: column 'answer' holds a dict, not one answer, in 3 of "
                                             r"the 4 rows of .*d\.jsonl' \(rows 1, 3, 4, counting from 1 in file "
                                             rf"order; row 1: {re.escape(shown)}\)"
                                             rf".* Fix: .*map\(lambda a: a\[{re.escape(repr(next(iter(answer))))}\]\)"
                                             r".*answer_column="):
            DatasetTask(path=path, rewards=rewards, held_out=1)
    held = _jsonl(tmp_path, [{"prompt": "9+1=?", "answer": {"value": 10}}], "held.jsonl")
    good = _jsonl(tmp_path, [{"prompt": f"{i}+1=?", "answer": str(i + 1)} for i in range(3)], "good.jsonl")
    with pytest.raises(ValueError, match=r"^answer_column: column 'answer' holds a dict.*held-out file "):
        DatasetTask(path=good, held_out_path=held)


def test_a_list_answer_is_refused_for_the_built_in_rewards_and_said_for_an_own_reward(tmp_path):
    rows = [{"prompt": f"{i}+1=?", "answer": [i + 1]} for i in range(4)]
    path = _jsonl(tmp_path, rows)
    for reward in ("math", "exact", "numeric"):
        with pytest.raises(ValueError, match=rf"^answer_column: column 'answer' holds a list, not one answer, in 4 of "
                                             rf"the 4 rows .*row 1: \[1\]\).*{reward!r} compares.* Fix: "):
            DatasetTask(path=path, rewards=[reward], held_out=1)

    def own(prompts, completions, answer, **_):
        return [float(str(a[0]) in c) for a, c in zip(answer, completions)]

    with pytest.warns(UserWarning, match=r"column 'answer' holds a list.*your reward functions get each list as it "
                                         r"is.*held-out pass@1"):
        task = DatasetTask(path=path, rewards=[own], held_out=1)
    problem = task.train_problems[0]
    assert problem.data[2]["answer"] == [problem.data[2]["answer"][0]] and task.reward(problem, "2 or 1") == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a scalar answer: nothing said
        DatasetTask(path=_jsonl(tmp_path, [{"prompt": "q", "answer": 1}] * 3, "ok.jsonl"), rewards=[own], held_out=1)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_prompt_column_of_numbers_is_refused_unless_a_template_words_it(tmp_path, kind):
    rows = [{"id": i + 1, "question": f"{i}+{i}?", "answer": str(2 * i)} for i in range(4)]
    if kind == "csv":
        path = tmp_path / "d.csv"
        path.write_text("id,question,answer\n" + "".join(f"{r['id']},{r['question']},{r['answer']}\n" for r in rows))
        path = str(path)
    else:
        path = _jsonl(tmp_path, rows)
    with pytest.raises(ValueError, match=r"^prompt_column: column 'id' holds numbers in all 4 rows of .*\(row 1: "
                                         r"'?1'?\).* Fix: pass --task-option prompt_column=<one of \['question'\]>"):
        DatasetTask(path=path, prompt_column="id", held_out=1)
    task = DatasetTask(path=path, prompt_column="id", template="Count to {prompt}.", held_out=1)
    assert task.train_problems[0].prompt.startswith("Count to ")
    mixed = _jsonl(tmp_path, [{"prompt": "12", "answer": "1"}, {"prompt": "what is 1?", "answer": "1"}] * 2, "m.jsonl")
    assert len(DatasetTask(path=mixed, held_out=1).train_problems) == 3  # some prompts are numbers: fine
