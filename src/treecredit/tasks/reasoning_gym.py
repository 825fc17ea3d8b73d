"""reasoning-gym's procedural generators (offline) as tasks: ``--task rg:NAME[:key=value,…]``.

Problems are the generator's items (``create_dataset(NAME, seed=seed, size=size, **config)``, item i is
a pure function of the seed and i); the reward is the generator's own scorer ``score_answer`` on the
answer extracted from the response (``<answer>…</answer>``, else the last ``\\boxed{}``, else after
``####``, else the stripped response). Scorers give wrong answers small positive values (e.g.
len(answer)/len(response) when the answer is a substring), so the reward is exact success (1.0 iff the
score is 1.0) unless ``graded=true``, which uses the score itself.

Worked steps: where the generator ships them (``gsm_symbolic``'s ``metadata["answer_cot"]``, ending in
``#### answer``) they are the solution of the warm start, and their lines are the steps; elsewhere the
solution is the bare answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from treecredit._validation import fail
from treecredit.tasks.base import Problem, Task
from treecredit.tasks.chat import ChatPrompt

WORKED_STEPS = {"gsm_symbolic": "answer_cot"}  # generator -> metadata key of its worked solution
OWN_OPTIONS = ("graded", "template", "system_prompt", "delimiter", "end", "seed", "size")


def parse_rg_spec(spec: str) -> tuple[str, dict]:
    """``"rg:chain_sum:max_terms=3,graded=true"`` → ``("chain_sum", {"max_terms": 3, "graded": True})``."""
    import json

    _, _, rest = spec.partition(":")
    name, _, options_text = rest.partition(":")
    options: dict = {}
    for pair in filter(None, options_text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            fail("task", f"option {pair!r} in {spec!r} is not key=value", "write e.g. rg:chain_sum:max_terms=3")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return name, options


def extract_rg_answer(response: str) -> str:
    """The answer a response gives, in reasoning-gym's tagged format or the usual ones."""
    from reasoning_gym.utils import extract_answer

    from treecredit.rewards.answers import final_answer

    tagged = extract_answer(response)
    return tagged if tagged is not None else final_answer(response)


@dataclass
class ReasoningGymTask(Task):
    """One reasoning-gym generator.

    Args:
        generator: the generator's registered name (``reasoning_gym.factory.DATASETS``).
        config: the generator's own options (its config dataclass fields).
        graded: reward = the scorer's value in [0, 1] instead of exact success.
        template: prompt template with ``{question}``; system_prompt: optional system message.
        seed, size: the generator's seed and virtual size (problems are drawn among ``size`` items).
    """

    generator: str = "chain_sum"
    config: dict = field(default_factory=dict)
    graded: bool = False
    template: str = "{question}"
    system_prompt: str = ""
    delimiter: str = "\n"
    end: str = ""
    seed: int = 0
    size: int = 100_000

    def __post_init__(self) -> None:
        import reasoning_gym
        from reasoning_gym.factory import DATASETS

        if self.generator not in DATASETS:
            fail("task", f"reasoning-gym has no generator {self.generator!r}",
                 f"pass rg:NAME with NAME among {len(DATASETS)} names, e.g. {sorted(DATASETS)[:8]}")
        try:
            self._dataset = reasoning_gym.create_dataset(self.generator, seed=self.seed, size=self.size, **self.config)
        except (TypeError, AssertionError, ValueError) as exc:
            fail("task", f"options {self.config} are not valid for rg:{self.generator} ({exc})",
                 "use the fields of the generator's config dataclass")
        self.name = f"rg:{self.generator}"
        self._cot = WORKED_STEPS.get(self.generator)
        self.alphabet = "".join(chr(c) for c in range(32, 127)) + "\n"

    def make_problem(self, rng: np.random.Generator) -> Problem:
        index = int(rng.integers(self.size))
        entry = self._dataset[index]
        answer = str(entry["answer"])
        solution = str(entry["metadata"].get(self._cot, answer)) if self._cot else answer
        text = self.template.format(question=entry["question"])
        prompt = ChatPrompt(text, self.system_prompt) if self.system_prompt else text
        return Problem(prompt, solution + self.end, answer, (index, entry))

    def score(self, problem: Problem, response: str) -> float:
        """The generator's own score of the response's answer, in [0, 1]."""
        text = response.split(self.end)[0] if self.end else response
        return float(self._dataset.score_answer(extract_rg_answer(text), problem.data[1]))

    def reward(self, problem: Problem, response: str) -> float:
        value = self.score(problem, response)
        return value if self.graded else float(value >= 1.0)

    def reward_columns(self, problem: Problem) -> dict:
        """The generator's entry as keywords for ``--reward`` functions: ``question``, ``answer``,
        ``metadata`` (and ``solution``, the worked steps or the answer)."""
        entry = problem.data[1]
        return {"question": entry["question"], "answer": str(entry["answer"]), "metadata": entry["metadata"],
                "solution": problem.solution}

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """No step verifier: reasoning-gym scores final answers only."""
        return []

    def cache_identity(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def make_rg_task(spec: str, **task_options) -> ReasoningGymTask:
    """The task of ``--task rg:NAME[:k=v,…]`` plus ``--task-option`` values (ours or the generator's)."""
    name, options = parse_rg_spec(spec)
    options.update(task_options)
    own = {k: options.pop(k) for k in list(options) if k in OWN_OPTIONS}
    return ReasoningGymTask(generator=name, config=options, **own)
