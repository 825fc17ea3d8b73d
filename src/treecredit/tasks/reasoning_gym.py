"""reasoning-gym's procedural generators (offline) as tasks: ``--task rg:NAME[:key=value,…]``.

Problems are the generator's items (``create_dataset(NAME, seed=seed, size=size, **config)``, item i is
a pure function of the seed and i); the reward is the generator's own scorer ``score_answer`` on the
answer extracted from the response as the built-in rewards read it (:func:`extract_rg_answer`: the
``<answer>…</answer>`` block that answers, else the last ``\\boxed{}``, else after ``####``, else the stripped
response). Scorers give wrong answers small positive values (e.g.
len(answer)/len(response) when the answer is a substring), so the reward is exact success (1.0 iff the
score is 1.0) unless ``graded=true``, which uses the score itself.

Worked steps (:mod:`treecredit.tasks.rg_steps`): where the generator ships them (``gsm_symbolic``'s
``answer_cot``; the states of the rule machines ``string_splitting`` and ``string_synthesis``) they are
the solution of the warm start and their lines the steps, and the rule machines have a partial
verifier; elsewhere the solution is the bare answer.

On a chat model (a Hugging Face ``--model``), reasoning-gym's standard usage is the default
(:mod:`treecredit.tasks.rg_prompts`): its ``default`` system prompt, which asks for the answer in
``<answer>…</answer>`` tags, unless the run gives one (``system_prompt=none`` leaves it out), and the answer read
as reasoning-gym reads it (the last ``<answer>`` block; none scores 0). The small GPT has no system prompt.

The prompt is ``template.format(question=…, **metadata)``: the default ``{question}`` is the generator's
text; a template may instead show the entry's metadata fields (``{initial_machines}``, indexing as in
``str.format``: ``{initial_machines[0]}``), which keeps prompts short for a small model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from treecredit._validation import did_you_mean, fail
from treecredit.tasks.base import Problem, Task
from treecredit.tasks.chat import with_system
from treecredit.tasks.rg_prompts import extract_tagged_answer, resolve_system_prompt, tagged_solution
from treecredit.tasks.rg_steps import RULE_MACHINES, check_rule_steps, worked_solution

OWN_OPTIONS = ("graded", "template", "system_prompt", "answer_tags", "delimiter", "end", "seed", "size", "held_out")


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
    """The answer a response gives, read as the built-in rewards read it
    (:func:`~treecredit.rewards.answers.final_answer`): the ``<answer>…</answer>`` block where it answers (it opens
    or ends the response and no ``\\boxed{}`` or ``####`` follows it; a final ``<answer>`` never closed is read to
    the end; :func:`~treecredit.rewards.answers.answer_block`), else the last ``\\boxed{}``, else after ``####``,
    else the stripped response. A block inside prose (``Example: <answer>7</answer>. …``) or one that a later box
    corrects is not the answer."""
    from treecredit.rewards.answers import final_answer

    return final_answer(response)


@dataclass
class ReasoningGymTask(Task):
    """One reasoning-gym generator.

    Args:
        generator: the generator's registered name (``reasoning_gym.factory.DATASETS``).
        config: the generator's own options (its config dataclass fields).
        graded: reward = the scorer's value in [0, 1] instead of exact success.
        template: prompt template with ``{question}``; system_prompt: optional system message.
        answer_tags: read the answer as reasoning-gym does (the last ``<answer>…</answer>`` block, None when
            there is none, which scores 0) instead of :func:`extract_rg_answer`; the warm-start solutions then
            end in such a block. :func:`make_rg_task` sets it with reasoning-gym's system prompts.
        seed, size: the generator's seed and virtual size (problems are drawn among ``size`` items).
        held_out: 0 (default): evaluation draws problems like training, and the trainer skips their
            prompts in its training draws (the supervised warm start does not). N > 0: N distinct prompts
            (the first met in a stream of their own) are the held-out set, and no training draw, the warm
            start's included, ever gives one of them; for generators with few distinct problems.
    """

    generator: str = "chain_sum"
    config: dict = field(default_factory=dict)
    graded: bool = False
    template: str = "{question}"
    system_prompt: str = ""
    answer_tags: bool = False
    delimiter: str = "\n"
    end: str = ""
    seed: int = 0
    size: int = 100_000
    held_out: int = 0

    def __post_init__(self) -> None:
        import reasoning_gym
        from reasoning_gym.factory import DATASETS

        if self.generator not in DATASETS:
            fail("task", f"reasoning-gym has no generator {self.generator!r}{did_you_mean(self.generator, DATASETS)}",
                 f"pass rg:NAME with NAME among {len(DATASETS)} names, e.g. {sorted(DATASETS)[:8]}")
        if self.size < 1:
            fail("size", f"is {self.size}, must be ≥ 1 (the number of items problems are drawn among)",
                 "pass --task-option size=100000, or leave it out")
        if self.held_out < 0:
            fail("held_out", f"is {self.held_out}, must be ≥ 0", "pass held_out=0 (draws like training) or a count")
        if self.held_out >= self.size:
            fail("held_out", f"is {self.held_out}, not below size {self.size} (the number of items problems are drawn "
                 "among), so no problem would be left to train on", "pass a held_out count no larger than the run's "
                 "--eval-problems, or held_out=0 (evaluation draws fresh problems)")
        config_fields = [f.name for f in dataclasses.fields(DATASETS[self.generator][1])
                         if f.name not in ("seed", "size")]  # set through our own options
        unknown = sorted(set(self.config) - set(config_fields))
        if unknown:
            fail("task", f"{unknown[0]!r} is not an option of rg:{self.generator}"
                 f"{did_you_mean(unknown[0], config_fields + list(OWN_OPTIONS))}",
                 f"use some of its config's fields {config_fields} or treecredit's own {list(OWN_OPTIONS)}")
        try:
            self._dataset = reasoning_gym.create_dataset(self.generator, seed=self.seed, size=self.size, **self.config)
        except (TypeError, AssertionError, ValueError) as exc:
            fail("task", f"options {self.config} are not valid for rg:{self.generator} ({exc})",
                 "use the fields of the generator's config dataclass")
        self.name = f"rg:{self.generator}"
        self._prompt(self._dataset[0])  # a template naming no field of the entries fails here
        printable = "".join(chr(c) for c in range(32, 127)) + "\n"
        self.alphabet = printable + "".join(sorted(set(self.system_prompt) - set(printable)))  # the small GPT reads it
        self._held_out = self._draw_held_out() if self.held_out > 0 else []
        self._held_prompts = {p.prompt for p in self._held_out}

    def _draw_held_out(self) -> list[Problem]:
        """``held_out`` problems with distinct prompts, in the order a stream of their own meets them."""
        rng = np.random.default_rng([self.seed, 5])
        found: dict[str, Problem] = {}
        for _ in range(50 * self.held_out):
            problem = self._problem_at(int(rng.integers(self.size)))
            found.setdefault(problem.prompt, problem)
            if len(found) == self.held_out:
                return list(found.values())
        fail("held_out", f"is {self.held_out}, but rg:{self.generator} gave only {len(found)} distinct prompts "
             f"in {50 * self.held_out} draws", "pass a smaller held_out, or widen the generator's options")

    def held_out_problems(self, rng: np.random.Generator, n: int) -> list[Problem]:
        """The first ``n`` of the fixed held-out set when ``held_out`` > 0, else ``n`` draws from ``rng``."""
        return self._held_out[:n] if self._held_out else self.generate(rng, n)

    def make_problem(self, rng: np.random.Generator) -> Problem:
        for _ in range(10_000):
            problem = self._problem_at(int(rng.integers(self.size)))
            if problem.prompt not in self._held_prompts:
                return problem
        fail("held_out", f"leaves (almost) no training prompts for rg:{self.generator}",
             "pass a smaller held_out, or widen the generator's options")

    def _problem_at(self, index: int) -> Problem:
        entry = self._dataset[index]
        solution = worked_solution(self.generator, entry)
        if self.answer_tags:
            solution = tagged_solution(solution, str(entry["answer"]))
        return Problem(self._prompt(entry), solution + self.end, str(entry["answer"]), (index, entry))

    def _prompt(self, entry: dict) -> str:
        try:
            text = self.template.format(**{**entry["metadata"], "question": entry["question"]})
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            fields = sorted(entry["metadata"])
            fail("template", f"{self.template!r} cannot be filled from an rg:{self.generator} entry "
                 f"({type(exc).__name__}: {exc})", f"use {{question}} or metadata fields among {fields}")
        return with_system(text, self.system_prompt)  # the samples and the small GPT see it too

    def score(self, problem: Problem, response: str) -> float:
        """The generator's own score of the response's answer, in [0, 1]."""
        text = response.split(self.end)[0] if self.end else response
        answer = extract_tagged_answer(text) if self.answer_tags else extract_rg_answer(text)
        return 0.0 if answer is None else float(self._dataset.score_answer(answer, problem.data[1]))

    def reward(self, problem: Problem, response: str) -> float:
        value = self.score(problem, response)
        return value if self.graded else float(value >= 1.0)

    def success_of(self, problems: list[Problem], responses: list[str]) -> list[bool]:
        """Whether each response solves its problem (the generator's score is 1): what held-out pass@1 counts,
        also under ``graded=true``, where the reward is the score and a wrong answer can score above 0."""
        return [self.score(p, r) >= 1.0 for p, r in zip(problems, responses)]

    def reward_columns(self, problem: Problem) -> dict:
        """The generator's entry as keywords for ``--reward`` functions: ``question``, ``answer``,
        ``metadata`` (and ``solution``, the worked steps or the answer)."""
        entry = problem.data[1]
        return {"question": entry["question"], "answer": str(entry["answer"]), "metadata": entry["metadata"],
                "solution": problem.solution}

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """The rule machines' partial verifier (:func:`~treecredit.tasks.rg_steps.check_rule_steps`); []
        for the other generators, whose scorers judge final answers only."""
        if self.generator not in RULE_MACHINES:
            return []
        steps = self.complete_steps(response)
        while self.answer_tags and steps and steps[-1].lstrip().startswith("<answer>"):
            steps = steps[:-1]  # the tagged answer after the #### line: not a step of the rule machine
        return check_rule_steps(self._dataset, problem.data[1], steps)

    @property
    def has_step_checker(self) -> bool:
        return self.generator in RULE_MACHINES

    def cache_identity(self) -> dict:
        """The options (``held_out`` only when set, so that earlier warm-start cache keys stay valid), and with a
        system message a mark that it is part of the prompt text (the small GPT sees it: weights cached before
        did not)."""
        identity = {k: v for k, v in vars(self).items()  # default_system: said by the run, its text is here
                    if not k.startswith("_") and k != "default_system" and (k not in ("held_out", "answer_tags") or v)}
        return {**identity, "system_in_prompt_text": True} if self.system_prompt else identity


def make_rg_task(spec: str, *, eval_problems: int | None = None, chat: bool = False,
                 **task_options) -> ReasoningGymTask:
    """The task of ``--task rg:NAME[:k=v,…]`` plus ``--task-option`` values (ours or the generator's).
    ``eval_problems``: the run's ``--eval-problems``, which a ``held_out`` count is checked against
    (:func:`check_rg_held_out`); None (from Python): not checked. ``chat``: the run's model is a chat model
    (a Hugging Face one): reasoning-gym's default system prompt and answer reading unless ``system_prompt`` is
    given (:func:`~treecredit.tasks.rg_prompts.resolve_system_prompt`; the task's ``default_system`` says it
    was chosen so)."""
    name, options = parse_rg_spec(spec)
    options.update(task_options)
    own = {k: options.pop(k) for k in list(options) if k in OWN_OPTIONS}
    from treecredit.tasks import typed_options

    check_rg_held_out(own.get("held_out"), name, eval_problems)
    own = typed_options(ReasoningGymTask, own)
    text, tags, default = resolve_system_prompt(own.pop("system_prompt", None), chat, own.pop("answer_tags", None))
    task = ReasoningGymTask(generator=name, config=options, system_prompt=text, answer_tags=tags, **own)
    task.default_system = default  # said at the start of the run (rg_prompts.system_prompt_note)
    return task


FAR_ABOVE = 10
"""A ``held_out`` count more than this many times ``--eval-problems`` is refused (above it, said)."""


def check_rg_held_out(held_out, generator: str, eval_problems: int | None) -> None:
    """Before any problem is drawn: refuse a fraction as ``held_out`` (an rg task counts held-out problems; a
    generator has no fixed set of rows to take a share of, as a dataset has) and a count more than
    :data:`FAR_ABOVE` times ``eval_problems`` (held-out pass@1 reads the first ``eval_problems`` of them; drawing the
    rest only takes time, a second or so per thousand, and keeps them out of training); a count above
    ``eval_problems`` is said (a warning). ``eval_problems`` None: only the fraction is checked."""
    evaluated = eval_problems if isinstance(eval_problems, int) and eval_problems > 0 else None
    count = f"held_out={evaluated} (your --eval-problems" if evaluated else "held_out=N (N your --eval-problems"
    use = (f"{count}: held-out pass@1 is read on that many of them, and fewer held out evaluates fewer), or held_out=0 "
           "(evaluation draws fresh problems, which training draws skip)")
    if isinstance(held_out, float) and not held_out.is_integer() and held_out > 0:
        fail("held_out", f"is {held_out}, a fraction, but rg:{generator} counts held-out problems: a generator has "
             "no fixed set of rows to take a share of (a dataset's held_out takes a fraction or a count)",
             f"pass --task-option {use}")
    if evaluated is None or isinstance(held_out, bool) or not isinstance(held_out, (int, float)) \
            or held_out <= evaluated:
        return
    problem = (f"is {held_out:g}, above --eval-problems {evaluated}: held-out pass@1 reads only the first {evaluated} "
               f"held-out problems, and the other {held_out - evaluated:g} are only kept out of training, while "
               f"drawing all {held_out:g} distinct problems takes time before the first step")
    fix = f"pass --task-option held_out={evaluated}, or raise --eval-problems to {held_out:g} to evaluate them all"
    if held_out > FAR_ABOVE * evaluated:
        fail("held_out", problem, fix)
    import warnings

    warnings.warn(f"held_out: {problem}. Fix: {fix}.", UserWarning, stacklevel=3)
