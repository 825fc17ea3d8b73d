"""Which code of a chat answer is its program: a usage example after the solution is not taken, a helper from an
earlier block joins, and an ``if __name__ == "__main__":`` demo does not run (until 2026-12-03 the last block was
taken without an entry point, helpers in other blocks were dropped, and the demo ran: each scored correct answers 0)."""

import sys

import pytest

from treecredit.rewards import code_reward
from treecredit.rewards.code import program_for

SOLUTION = "```python\ndef similar(a, b):\n    return tuple(set(a) & set(b))\n```\n"
EXAMPLE = "Example:\n```python\nprint(similar((3, 4, 5), (5, 7, 4)))  # (4, 5)\n```\n"
HELPER = ("First a helper:\n```python\nimport math\n\ndef is_prime(n):\n"
          "    return n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))\n```\n")
USER = ("Then:\n```python\ndef count_primes(xs):\n    return sum(1 for x in xs if is_prime(x))\n\n"
        "print(count_primes([2]))\n```\n")


def test_a_usage_example_after_the_solution_is_not_the_program():
    program = program_for("Write similar.", SOLUTION + EXAMPLE)
    assert "def similar" in program and "print" not in program
    assert program_for("Write similar.", SOLUTION + EXAMPLE, names=("similar",)) == program


def test_the_block_defining_a_name_the_tests_call_is_taken():
    other = "```python\ndef unrelated():\n    return 1\n```\n"
    assert "def similar" in program_for("Write similar.", SOLUTION + other, names=("similar",))


def test_helpers_from_other_blocks_join_and_their_other_statements_do_not():
    program = program_for("Count the primes.", HELPER + USER, "count_primes")
    assert program.index("import math") < program.index("def is_prime") < program.index("def count_primes")
    assert compile(program, "p", "exec") and program.count("print") == 1  # the main block's own print stays
    unused = "```python\nimport numpy_missing\n\ndef other():\n    pass\n\nprint(other())\n```\n"
    assert "numpy_missing" not in program_for("Count.", unused + HELPER + USER, "count_primes")


def test_the_last_block_defining_the_entry_point_wins_over_earlier_ones():
    first = "```python\ndef add(a, b):\n    return 0\n```\n"
    second = "Better:\n```python\ndef add(a, b):\n    return a + b\n```\n"
    assert program_for("Write add.", first + second, "add") == "def add(a, b):\n    return a + b\n"


def test_a_function_body_block_still_continues_a_code_prompt():
    prompt = 'def add(a, b):\n    """Add."""\n'
    answer = "Helper:\n```python\ndef unused():\n    pass\n```\nBody:\n```python\n    return a + b\n```\n"
    assert program_for(prompt, answer, "add") == prompt + "    return a + b\n"


@pytest.mark.parametrize("guard", ["if __name__ == '__main__':", 'if "__main__" == __name__:'])
def test_a_main_guard_does_not_run_and_lines_keep_their_numbers(guard):
    answer = (f"```python\ndef add(a, b):\n    return a + b\n\n{guard}\n"
              "    print(add(*map(int, input().split())))\nelse:\n    x = 1\n```")
    program = program_for("Write add.", answer)
    assert program.split("\n")[3] == "if False:" and program.count("\n") == 7
    namespace: dict = {"__name__": "__main__"}
    exec(compile(program, "p", "exec"), namespace)
    assert namespace["x"] == 1
    nested = "```python\ndef add(a, b):\n    if __name__ == '__main__':\n        return a + b\n```"
    assert "__name__ ==" in program_for("Write add.", nested)  # only top-level guards


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
def test_correct_chat_answers_with_examples_helpers_and_demos_score_1():
    demo = ("```python\nimport sys\n\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n"
            "    a, b = map(int, input().split())\n    print(add(*map(int, sys.argv[1:3])))\n```\n")
    wrong_demo = demo.replace("a + b\n", "a - b\n", 1)
    rows = [("Write similar.", SOLUTION + EXAMPLE, "assert set(similar((3, 4, 5), (5, 7, 4))) == {4, 5}\n", None),
            ("Count the primes.", HELPER + USER, "assert count_primes([2, 3, 4, 5]) == 3\n", "count_primes"),
            ("Write add.", demo, "def check(candidate):\n    assert candidate(1, 2) == 3\n", "add"),
            ("Write add.", demo, "assert add(1, 2) == 3\n", None),
            ("Write add.", wrong_demo, "assert add(1, 2) == 3\n", None)]
    prompts, completions, tests, entries = map(list, zip(*rows))
    assert code_reward(prompts, completions, test=tests, entry_point=entries, workers=1) == [1.0] * 4 + [0.0]


COUNT = ("```python\ndef count_vowels(s):\n    count = 0\n    for ch in s:\n        if ch in 'aeiou':\n"
         "            count += 1\n    return count\n```\nExample:\n```python\ncount = count_vowels('hello')\n"
         "print(count)  # 2\n```\n")


def test_a_functions_local_variable_pulls_in_no_example_assignment():
    # was: every loaded name of the main block counted, so the example's `count = count_vowels(...)` joined the
    # program in front of the function it calls (NameError: a correct answer scored 0)
    program = program_for("Write count_vowels(s).", COUNT, "count_vowels")
    assert program.startswith("def count_vowels") and "hello" not in program


def test_an_assignment_calling_the_main_blocks_function_is_never_a_helper():
    # `limit` is a global the main block reads, but its only binding calls the main block's own function
    answer = ("```python\ndef below(xs):\n    return [x for x in xs if x < limit]\n```\n"
              "```python\nlimit = below([1])\n```\n")
    assert "limit =" not in program_for("Write below.", answer, "below")
    helper = "```python\nlimit = 3\n```\n" + answer.split("```\n", 1)[0] + "```\n"
    assert program_for("Write below.", helper, "below").startswith("limit = 3\n")  # a plain value still joins


def test_a_later_block_importing_the_entry_point_is_not_the_program():
    # was: `from solution import add` (a pytest file) counted as defining add and was taken as the program
    answer = ("```python\ndef add(a, b):\n    return a + b\n```\nTests:\n```python\nfrom solution import add\n\n"
              "def test_add():\n    assert add(1, 2) == 3\n```\n")
    assert program_for("Write add.", answer, "add") == "def add(a, b):\n    return a + b\n"
    only_import = "```python\nfrom math import gcd\n```\n"
    assert program_for("Write gcd.", only_import, "gcd") == "from math import gcd\n"  # still the one binding it


SQUARE = 'def square(x: int) -> int:\n    """Return x squared."""\n'


@pytest.mark.parametrize("after", ["```\n\nExample usage:\n```python\nprint(square(3))  # 9\n```\n", "```\n"])
def test_a_continuation_ended_by_a_stray_closing_fence_keeps_its_code(after):
    """trial35 f15: a correct body then a bare closing fence and an example: the closing ``` was read as an
    opening one and the prose after it ("Example usage:") became the program, which scored 0."""
    program = program_for(SQUARE, "    return x * x\n" + after, "square")
    assert program == SQUARE + "    return x * x\n"


def test_prose_before_a_bare_fence_is_not_taken_as_code():
    """A bare fence after prose still opens a block ("Sure" parses as Python, but is no statement of code)."""
    for prose in ("Sure\n", "Here is the code:\n", "  Indented prose here.\n"):
        assert program_for("Write f.", prose + "```\ndef f():\n    return 1\n```\n", "f") == "def f():\n    return 1\n"


@pytest.mark.parametrize("answer", [
    "Here is the solution:\n\n1. The code:\n   ```python\n   def square(x):\n       return x * x\n   ```\n",
    "Solution:\n~~~python\ndef square(x):\n    return x * x\n~~~\n",
    "Solution:\n````python\ndef square(x):\n    return x * x\n````\n"])
def test_indented_and_tilde_fences_are_found(answer):
    """trial35 f10: a block indented in a list item, and a ``~~~`` block, were not found: the whole answer was
    taken as the program (a syntax error), and a correct answer scored 0."""
    assert program_for("Write a function square(x).", answer, "square") == "def square(x):\n    return x * x\n"
