"""reasoning-gym's standard usage for a chat model: its system prompt and how it reads the answer.

reasoning-gym's scorers judge the extracted answer, not a whole response: its own evaluation asks for the
answer in ``<answer>…</answer>`` tags with a system prompt (``reasoning_gym.utils.SYSTEM_PROMPTS``, ``default``
first) and reads the last such block (``reasoning_gym.utils.extract_answer``; a response without one scores 0).
Without that instruction a chat model answers in prose (``The answer is -6.``), which scores 0 even when right,
and under ``graded=true`` a wrong bare number can score above it (``-60``: 0.667).

So an ``rg:`` task run on a Hugging Face model (``--model`` other than the small ``gpt``, ``--chat-template`` not
``off``) gets reasoning-gym's ``default`` system prompt unless the run gives one, and its answers are read as
reasoning-gym reads them (:func:`resolve_system_prompt`). ``--task-option system_prompt=none`` leaves the prompt
out (the answer is then read as for the small GPT: :func:`~treecredit.tasks.reasoning_gym.extract_rg_answer`);
``system_prompt=NAME`` picks another of reasoning-gym's prompts (``DeepSeekZero``, ``simple``, ``direct``,
``chain_of_draft``; each asks for ``<answer>`` tags, read the same way); any other text is the system prompt itself.
``answer_tags=true/false`` sets the reading by hand. The small GPT (no chat template) is unchanged: no system
prompt, the answer read from its bare-answer or ``####`` format, as its warm start teaches.
"""

from __future__ import annotations

OFF = ("none", "off")
"""``system_prompt`` values that leave the system prompt out (as does an empty text)."""


def rg_system_prompts() -> dict[str, str]:
    """reasoning-gym's own system prompts by name (``reasoning_gym.utils.SYSTEM_PROMPTS``)."""
    from reasoning_gym.utils import SYSTEM_PROMPTS

    return dict(SYSTEM_PROMPTS)


def resolve_system_prompt(given, chat: bool, answer_tags=None) -> tuple[str, bool, bool]:
    """``(system prompt text, answer_tags, chosen by default)`` for an ``rg:`` task.

    ``given``: the ``system_prompt`` option (None when not given: reasoning-gym's ``default`` for a ``chat`` run,
    none otherwise; ``none``/``off``/empty: none; a name of :func:`rg_system_prompts`: that prompt; other text: the
    prompt itself). ``answer_tags``: the option (None: read the last ``<answer>`` block, as reasoning-gym does,
    exactly when the prompt is one of reasoning-gym's, which ask for it)."""
    prompts = rg_system_prompts()
    default = given is None and chat
    if given is None:
        text = prompts["default"] if chat else ""
    elif str(given).strip().lower() in OFF or not str(given).strip():
        text = ""
    else:
        text = prompts.get(given, given)
    tags = text in prompts.values() if answer_tags is None else bool(answer_tags)
    return text, tags, default


def extract_tagged_answer(response: str) -> str | None:
    """The answer of ``response`` as reasoning-gym reads it: the content of its last ``<answer>…</answer>`` block
    (stripped), None when it has none (``reasoning_gym.utils.extract_answer``)."""
    from reasoning_gym.utils import extract_answer

    return extract_answer(response)


def tagged_solution(solution: str, answer: str) -> str:
    """A warm-start solution in the tagged format: the worked steps (a bare-answer solution has none), then
    ``<answer>ANSWER</answer>``."""
    steps = "" if solution.strip() == answer.strip() else solution.rstrip() + "\n"
    return f"{steps}<answer>{answer}</answer>"


def system_prompt_note(task) -> str:
    """The note a run prints at its start when its ``rg:`` task took reasoning-gym's default system prompt by
    itself (the prompt in full, how answers are read, how to turn it off); '' otherwise."""
    if not getattr(task, "default_system", False):
        return ""
    indented = "\n".join("    " + line for line in task.system_prompt.strip().splitlines())
    return (f"note: {task.name} on a chat model: reasoning-gym's default system prompt (reasoning_gym.utils."
            f"SYSTEM_PROMPTS['default']) goes before each problem, and the answer scored is the last "
            f"<answer>…</answer> block, as reasoning-gym reads it (a response without one scores 0):\n{indented}\n"
            "Pass --task-option system_prompt=none to leave it out (the whole response, \\boxed{} or #### is then "
            "read), or system_prompt=TEXT for your own.")
