"""reasoning-gym generators as tasks: the generator's scorer, exact by default, worked steps."""

import numpy as np
import pytest

pytest.importorskip("reasoning_gym")

from treecredit.tasks.reasoning_gym import make_rg_task, parse_rg_spec  # noqa: E402


def test_spec_and_exact_versus_graded_scoring():
    assert parse_rg_spec("rg:chain_sum:max_terms=3,graded=true") == ("chain_sum", {"max_terms": 3, "graded": True})
    task = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2")
    problem = task.make_problem(np.random.default_rng(0))
    assert task.reward(problem, problem.answer) == 1.0
    assert task.reward(problem, f"<answer>{problem.answer}</answer>") == 1.0
    assert task.reward(problem, f"so \\boxed{{{problem.answer}}}") == 1.0
    wordy = f"the answer is {problem.answer} I think"
    assert 0 < task.score(problem, wordy) < 1  # reasoning-gym's partial credit for a wordy answer...
    assert task.reward(problem, wordy) == 0.0  # ...is not a success by default
    graded = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2", graded=True)
    assert graded.reward(problem, wordy) == pytest.approx(task.score(problem, wordy))


def test_same_seed_same_problems_and_worked_steps():
    a = make_rg_task("rg:gsm_symbolic").generate(np.random.default_rng(3), 2)
    b = make_rg_task("rg:gsm_symbolic").generate(np.random.default_rng(3), 2)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert a[0].solution.rstrip().endswith(f"#### {a[0].answer}")  # the generator's answer_cot
    assert a[0].solution.count("\n") >= 2  # several steps (lines)


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="task: reasoning-gym has no generator 'chainsum'"):
        make_rg_task("rg:chainsum")
    with pytest.raises(ValueError, match="task: 'colour' is not an option of rg:chain_sum. Fix: use some of its "
                                         r"config's fields \['min_terms', 'max_terms'"):
        make_rg_task("rg:chain_sum:colour=3")
    with pytest.raises(ValueError, match="task: 'max_term' is not an option of rg:chain_sum "
                                         r"\(did you mean 'max_terms'\?\)"):
        make_rg_task("rg:chain_sum:max_term=2")
    with pytest.raises(ValueError, match="task: options .* are not valid for rg:chain_sum"):  # a known field's value
        make_rg_task("rg:chain_sum:min_terms=5,max_terms=2")


SPLITTING = "rg:string_splitting:max_initial_machines=4"
SHORT = "{initial_machines[0]} {initial_machines[1]} {initial_machines[2]}\n"


def test_rule_machine_worked_steps_and_their_partial_verifier():
    task = make_rg_task(SPLITTING, template=SHORT)
    problems = task.generate(np.random.default_rng(0), 40)
    for p in problems:  # the generator's states, one line each, the last as "#### answer"
        states = p.data[1]["metadata"]["states"]
        assert p.prompt == " ".join(map(str, states[0][:3])) + "\n"
        assert p.solution.split("\n")[-1] == f"#### {p.answer}"
        assert p.solution.count("\n") == max(0, len(states) - 2)
        assert task.reward(p, p.solution) == 1.0 and all(task.check_steps(p, p.solution))
    p = next(p for p in problems if p.solution.count("\n") >= 3)
    lines = p.solution.split("\n")
    assert task.check_steps(p, "\n".join([lines[0], lines[0], *lines[1:]])) == [True, False] + [True] * (len(lines) - 1)
    assert task.check_steps(p, "\n".join(lines[1:]))[0] is False  # skipped a rule application
    assert task.check_steps(p, "\n".join([*lines[:-1], "#### " + lines[-2]]))[-1] is False  # stops too early
    assert task.check_steps(p, "\n".join([lines[0], "#### 1 2"])) == [True, False]  # not six counts
    stuck = next(q for q in task.generate(np.random.default_rng(1), 400) if "\n" not in q.solution)
    assert task.check_steps(stuck, stuck.solution) == [True]  # nothing applies: the answer is the start


def test_fixed_held_out_set_is_never_drawn_for_training():
    task = make_rg_task(SPLITTING, template=SHORT, held_out=30)
    held = task.held_out_problems(np.random.default_rng(9), 50)
    assert len(held) == 30 == len({p.prompt for p in held})
    assert held[:5] == task.held_out_problems(np.random.default_rng(1), 5)  # fixed, whatever the rng
    train = {p.prompt for p in task.generate(np.random.default_rng(0), 500)}
    assert train and not train & {p.prompt for p in held}
    assert "held_out" not in make_rg_task(SPLITTING).cache_identity()  # old cache keys unchanged
    with pytest.raises(ValueError, match="held_out: is 200, but rg:string_splitting gave only 125 distinct"):
        make_rg_task(SPLITTING, held_out=200)


def test_template_with_metadata_fields_fails_early_when_a_field_is_missing():
    with pytest.raises(ValueError, match=r"template: '\{colour\}' cannot be filled from an rg:string_splitting"):
        make_rg_task(SPLITTING, template="{colour}")


def test_a_system_prompt_is_part_of_the_prompt_text_as_for_a_dataset():
    """A system message reaches the chat template as a conversation and, as a dataset's does, the prompt's text
    (samples.jsonl, and the small GPT's input, non-ASCII characters included)."""
    from treecredit.training.warmstart import char_tokenizer_for

    task = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2", system_prompt="Réponds brièvement.")
    problem = task.make_problem(np.random.default_rng(0))
    question = problem.data[1]["question"]
    assert [m["role"] for m in problem.prompt.messages] == ["system", "user"]
    assert str(problem.prompt) == f"Réponds brièvement.\n\n{question}"
    tokenizer = char_tokenizer_for(task)
    assert tokenizer.decode(tokenizer.encode_prompt(problem.prompt)) == str(problem.prompt)
    assert task.reward(problem, problem.answer) == 1.0
    plain = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2")
    assert str(plain.make_problem(np.random.default_rng(0)).prompt) == question  # no system message: as before
    assert "system_in_prompt_text" not in plain.cache_identity()  # earlier cache keys stay valid
    assert task.cache_identity()["system_in_prompt_text"] is True  # weights cached without it are not reused


@pytest.mark.parametrize("response, read", [
    ("<think>4+5</think><answer>9</answer>", "9"),
    ("<answer> 9 </answer>.", "9"),
    ("<think>4+5</think><answer>9", "9"),  # a final <answer> never closed: read to the end
    ("<answer>7</answer> No: \\boxed{9}", "9"),  # a later box corrects the block
    ("<answer>7</answer>\n#### 9", "9"),  # so does a later ####
    ("<answer>\\boxed{9}</answer>", "9"),  # a box inside the block is its answer
    ("Example: <answer>7</answer>. Now, the answer is 9.", "Example: <answer>7</answer>. Now, the answer is 9."),
    ("The format is <ANSWER>X</ANSWER>. Mine: <answer>9</answer>", "9"),
])
def test_answers_are_read_as_the_rewards_read_them(response, read):
    """As answers.answer_block reads an <answer> block (where it opens or ends the text, no box or #### after it;
    an unclosed final one to the end), not as the last closed block wherever it stands."""
    from treecredit.rewards.answers import final_answer
    from treecredit.tasks.reasoning_gym import extract_rg_answer

    assert extract_rg_answer(response) == read == final_answer(response)


def test_an_example_block_in_prose_is_not_the_answer():
    task = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2")
    problem = task.make_problem(np.random.default_rng(0))
    wrong = str(int(problem.answer) + 1)
    assert task.reward(problem, f"Example: <answer>{problem.answer}</answer>. Now: \\boxed{{{wrong}}}") == 0.0
    assert task.reward(problem, f"<answer>{wrong}</answer> No: \\boxed{{{problem.answer}}}") == 1.0
