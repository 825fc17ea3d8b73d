"""A prompt plus ``--max-new-tokens`` must fit the model's positions, checked before any work.

Past its positions a model does not say so: the small GPT's positions past ``max_len`` all share its last
position embedding, a Llama's rotary positions run on past ``max_position_embeddings`` into garbage, and
GPT-2's learned positions end in an ``IndexError`` at the first evaluation. :func:`check_context` measures
the prompts as the run will encode them (the small GPT: one character per token plus ``<bos>``; a Hugging
Face model: its tokenizer, under the chat template and system prompt the run applies) and refuses a
configuration where the longest of them plus ``--max-new-tokens`` does not fit, naming the argument and the fix.

Which prompts: every one of a task with a fixed list of problems (a dataset, HumanEval: ``train_problems``)
plus the held-out ones the evaluation uses; a generated task (the embedded tasks, reasoning-gym, whose
``size`` is a virtual range of seeded items, some of them tens of milliseconds each to generate) gives
``SAMPLE`` seeded draws instead.
"""

from __future__ import annotations

from treecredit._validation import fail

SAMPLE = 64
"""Seeded problems checked on a generated task (every problem of a task with a fixed list)."""


def checked_problems(task, eval_problems: int, sample: int = SAMPLE) -> tuple[list, int, bool]:
    """``(problems, n_train, every)``: the task's whole training list when it has one (``every``), else
    ``sample`` seeded draws (the first ``n_train``); then the first ``eval_problems`` held-out problems (those
    the evaluation uses)."""
    import numpy as np

    fixed = getattr(task, "train_problems", None)
    problems = list(fixed) if fixed is not None else task.generate(np.random.default_rng(0), sample)
    n_train = len(problems)
    problems += task.held_out_problems(np.random.default_rng(0), int(eval_problems))
    return problems, n_train, fixed is not None


def check_context(config, task, sample: int = SAMPLE) -> None:
    """Refuse a run whose longest prompt plus ``max_new_tokens`` does not fit its model's positions (the small
    GPT's ``max_len``; a Hugging Face model's ``max_position_embeddings`` / ``n_positions``, not checked when
    its config names neither)."""
    problems, n_train, every = checked_problems(task, config.eval_problems, sample)
    if not problems:
        return
    texts = [task.format_prompt(p) for p in problems]
    if getattr(config, "model", "gpt") == "gpt":
        lengths = [1 + len(text) for text in texts]
        longest = max(range(len(lengths)), key=lengths.__getitem__)
        need = lengths[longest] + config.max_new_tokens
        if need > config.max_len:
            too_long = sum(n + config.max_new_tokens > config.max_len for n in lengths)
            where = _where(task, texts[longest], longest >= n_train, too_long, len(problems), every)
            fail("max_len", f"the small GPT holds {config.max_len} positions, but a prompt of {lengths[longest]} "
                 f"tokens plus --max-new-tokens {config.max_new_tokens} needs {need}; {where}",
                 f"pass --max-len {need} (or more), or a smaller --max-new-tokens")
        return
    _check_hf(config, task, problems, texts, n_train, every)


def checked_model_files(config):
    """``(tokenizer, model_config, positions)`` of ``config``'s Hugging Face model, read without its weights,
    after checking the tokenizer against the model's vocabulary and end of sequence (``positions``: None when
    its config names none). Task runs and agent runs check a model this way before any work."""
    from treecredit.models.hf_load import check_eos, check_vocab, model_files, model_positions, text_config

    _, tokenizer, model_config, eos_ids = model_files(config.model, config.gguf_file)
    vocab = getattr(text_config(model_config), "vocab_size", None)
    if vocab is not None:
        check_vocab(len(tokenizer), int(vocab), config.model)
    check_eos(eos_ids, config.model)
    return tokenizer, model_config, model_positions(model_config)


def _check_hf(config, task, problems: list, texts: list[str], n_train: int, every: bool) -> None:
    """A Hugging Face model's tokenizer against its vocabulary and end of sequence, then its positions against
    the prompts plus ``max_new_tokens`` and, under ``hf_warm_start_steps``, the warm start's prompts plus worked
    solutions (the first ``n_train`` problems are training ones)."""
    from treecredit.models.hf_policy import chat_template_in_use, prompt_lengths, token_counts

    tokenizer, model_config, positions = checked_model_files(config)
    if positions is None:
        return
    chat = chat_template_in_use(tokenizer, config.chat_template)
    lengths = prompt_lengths(tokenizer, texts, chat)
    head = f"the model in {config.model} holds {positions} positions ({_positions_field(model_config)})"
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    if lengths[longest] + config.max_new_tokens > positions:
        need = lengths[longest] + config.max_new_tokens
        head += (f", but the longest prompt{_as_encoded(chat)} has {lengths[longest]} tokens, which with "
                 f"--max-new-tokens {config.max_new_tokens} needs {need}")
        too_long = sum(n + config.max_new_tokens > positions for n in lengths)
        where = _where(task, texts[longest], longest >= n_train, too_long, len(problems), every)
        if lengths[longest] < positions // 2:  # the prompts are short: it is the response length that does not fit
            fail("max_new_tokens", f"{head}; {where}", f"pass --max-new-tokens {positions - lengths[longest]} or less")
        argument = "dataset" if getattr(config, "dataset", "") else "task"
        counted = " as encoded (the chat template's own tokens included)" if chat else ""
        fail(argument, f"{head}; {where}", f"leave out or shorten the prompts longer than "
             f"{max(positions - config.max_new_tokens, 0)} tokens{counted}, or pass a model with more positions"
             + (f" (a smaller --max-new-tokens leaves {positions - lengths[longest]} for the response)"
                if lengths[longest] < positions else ""))
    if config.hf_warm_start_steps > 0 and n_train:
        end = 0 if task.end else 1  # a task without an end marker: the solution is followed by the eos id
        solutions = token_counts(tokenizer, [p.solution for p in problems[:n_train]], add_special_tokens=False)
        totals = [n + m + end for n, m in zip(lengths, solutions)]
        longest = max(range(n_train), key=totals.__getitem__)
        if totals[longest] > positions:
            too_long = sum(n > positions for n in totals)
            where = _where(task, texts[longest], False, too_long, n_train, every).replace("prompts", "training prompts")
            fail("hf_warm_start_steps", f"{head}, but the warm start trains on a prompt and its worked solution"
                 f"{'' if task.end else ' and the end of sequence'} of {totals[longest]} tokens ({lengths[longest]} + "
                 f"{solutions[longest]}{' + 1' if end else ''}); {where}", "pass --hf-warm-start-steps 0 (no warm "
                 f"start), or shorten the worked solutions longer than {positions - lengths[longest] - end} tokens")


def _positions_field(config) -> str:
    from treecredit.models.hf_load import text_config

    return "n_positions" if hasattr(text_config(config), "n_positions") else "max_position_embeddings"


def _as_encoded(chat: bool) -> str:
    return " (in the chat template, as the run encodes it)" if chat else ""


def _where(task, text: str, held_out: bool, too_long: int, checked: int, every: bool) -> str:
    """Which prompt is the longest, in words a user can find it by: its split, its column and its text."""
    column = getattr(task, "prompt_column", "")
    shown = str(text) if len(text) <= 60 else f"{text[:40]}…{text[-16:]}"
    scope = "every training prompt and the held-out ones evaluated" if every else "a seeded sample"
    return (f"too long: {too_long} of {checked} prompts ({scope}); the longest is a "
            f"{'held-out' if held_out else 'training'} prompt " + (f"(column {column!r}) " if column else "")
            + repr(shown))
