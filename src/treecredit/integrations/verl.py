"""treecredit estimators in verl's advantage-estimator registry, as ``treecredit_<name>``.

Importing this module (with verl installed) registers one verl estimator per token-level treecredit
estimator (but ``vine``, which needs Monte Carlo values), e.g. ``algorithm.adv_estimator=treecredit_tempo``.
Each converts verl's batch layout and calls :func:`treecredit.compute_advantages`; nothing else:

    verl                                  treecredit
    token_level_rewards (B, T)      ->    rewards (B,) = Σ_t token_level_rewards[i, t]
    response_mask (B, T)            ->    response_mask (B, T)
    index (B,) = uid of the prompt  ->    group_ids (B,)
    responses (B, T) token ids      ->    response_ids (B, T)
    advantages (B, T)               <-    compute_advantages(...)   (returns = advantages, as verl's GRPO)

Options come from ``algorithm.treecredit_options`` (a dict in verl's config, e.g.
``+algorithm.treecredit_options.delimiter=[198]``, checked at the first advantage step that sees them, and
again only when they change) over those bound by :func:`make_adv_estimator`; an
error about a config option names it ``algorithm.treecredit_options.NAME``, one about a bound option its
Python keyword (bound options are checked when bound: :mod:`treecredit.integrations._verl_checks`).

Token ids. verl 0.9.1's ``compute_advantage`` passes a custom estimator only ``token_level_rewards``,
``response_mask``, ``index``, ``config`` (and ``reward_baselines`` when present), not the response
token ids that the tree estimators build their tries from. :func:`pass_response_ids` wraps the legacy
trainer's ``compute_advantage`` (``trainer.use_v1=False``) so that the ids in ``data.batch["responses"]``
reach the estimator, with ``data.batch["step_ends"]`` and ``data.batch["tree_nodes"]`` when a rollout
put them there (each passed only to estimators that accept it, and never over an option the user set);
verl 0.9.1's v1 trainer fetches only a fixed list of fields for the advantage step and has no way to
hand them over. Without ids the estimator raises a ``ValueError`` that says so.

verl's own flags. ``algorithm.norm_adv_by_std_in_grpo`` (verl's switch for GRPO's division by the group
std) set to False switches ``norm_by_std`` off for every estimator that has that option; True (verl's
default) keeps each estimator's own default (on for ``grpo``, ``ibpo``, ``tempo``; off for ``spo``), so an
estimator name gives the same advantages as in TRL and in treecredit's own trainer.
``treecredit_options.norm_by_std``, when given, wins over both; ``norm_by_std=True`` bound in Python with the flag
False is refused at the first advantage step (until 2026-12-03 the flag silently won).

Steps from text. ``treecredit_options.step_pattern`` (a string, or a list of strings, matched
literally) or ``step_regex`` (a regular expression), with ``treecredit_options.tokenizer`` (a local
path, or a hub id already in the local Hugging Face cache: nothing is downloaded; loaded once), give
``step_ends`` from the decoded responses (:func:`treecredit.step_ends_from_text`); a batch with no step
boundary at all is warned about.
"""

from __future__ import annotations

import contextvars
import functools
import re
from typing import Any, Callable

import numpy as np

from treecredit._validation import fail, split_fix
from treecredit.api import compute_advantages
from treecredit.integrations import is_verl_available
from treecredit.integrations._fixes import host_estimator
from treecredit.integrations._verl_checks import (
    Source,
    check_bound,
    check_names,
    check_per_batch,
    check_structure,
    check_text_delimiter,
    text_step_pattern,
)
from treecredit.registry import estimators, get_estimator
from treecredit.step_text import (
    first_response_text,
    host_step_text,
    step_ends_from_text,
    vocabulary_size,
    warn_if_no_steps,
)

PREFIX = "treecredit_"
CONFIG_KEY = "treecredit_options"

# The response ids of the batch whose advantages verl is computing, set by `pass_response_ids`' wrapper.
_BATCH_FIELDS: contextvars.ContextVar = contextvars.ContextVar("treecredit_verl_batch_fields", default=None)
PER_BATCH = ("step_ends", "tree_nodes")  # optional fields of data.batch passed on when present
TEXT_STEP_OPTIONS = ("step_pattern", "step_regex", "tokenizer")  # handled here, not by the estimator
VERL_STEP_TEXT = (f"set +algorithm.{CONFIG_KEY}.step_pattern='\\n\\n' with +algorithm.{CONFIG_KEY}.tokenizer=<the "
                  "model's local path>, which find step ends in the decoded responses, and drop delimiter")
"""How a verl user gives steps as text, for the warning about a token-id delimiter that found none."""
VERL_STEP_TEXT_BOUND = ("pass step_pattern='\\n\\n' with tokenizer=<the tokenizer, or the model's local path> to "
                        "make_adv_estimator, which find step ends in the decoded responses, and drop delimiter")
"""The same, for a delimiter bound with ``make_adv_estimator``: the Python form."""
IDS_UNREAD = ("grpo", "rloo", "dr_grpo")
"""Estimators that give one advantage per response and never read token ids: they run on verl's v1 trainer,
which passes none (the others need the legacy trainer and :func:`pass_response_ids`)."""


def verl_advantages(estimator: str, *, token_level_rewards, response_mask, index, responses, **options):
    """verl's layout in, ``(advantages, returns)`` out, both ``(B, T)`` on the rewards' device.

    Args:
        estimator: a token-level treecredit name (``"tempo"``, ``"grpo"``, ...).
        token_level_rewards: ``(B, T)`` float tensor; a response's reward is the sum over its tokens
            (verl puts the score on the last response token, plus any in-reward KL terms).
        response_mask: ``(B, T)`` 0/1 tensor, 1 on the response tokens that are trained; right-padded, as verl
            pads responses (passed as ``padding_side="right"``, not guessed from the ids and mask).
        index: ``(B,)`` the prompt uid of each response (verl's ``non_tensor_batch["uid"]``).
        responses: ``(B, T)`` int tensor of response token ids (verl's ``batch["responses"]``).
        **options: options of ``estimator``.
    """
    if responses is None and estimator in IDS_UNREAD:  # one advantage per response: the ids change nothing
        responses = response_mask.new_zeros(response_mask.shape).long()  # placeholder ids, on the mask's device
    if responses is None:
        fail("responses", f"verl did not pass the response token ids, which {estimator!r} needs (it finds shared "
             f"prefixes or steps in them; only {', '.join(IDS_UNREAD)} run without them)",
             "use verl's legacy trainer (trainer.use_v1=False) and call "
             "treecredit.integrations.verl.pass_response_ids() in the trainer process (see docs/integrations.md)")
    if index is None:
        fail("index", "verl passed no prompt uids (non_tensor_batch['uid'])",
             "keep the uid that verl's RayPPOTrainer adds to every batch")
    rewards = token_level_rewards.sum(dim=-1)  # (B, T) -> (B,)
    advantages = compute_advantages(
        estimator,
        response_ids=responses,
        response_mask=response_mask,
        rewards=rewards,
        group_ids=np.asarray(index),
        padding_side="right",  # verl pads responses on the right (prompts on the left): said, not guessed
        **options,
    ).to(token_level_rewards.device)
    return advantages, advantages


def _config_options(config: Any) -> dict:
    """The dict at ``config.treecredit_options`` as plain Python values (empty when absent)."""
    if config is None:
        return {}
    options = config.get(CONFIG_KEY, None) if hasattr(config, "get") else getattr(config, CONFIG_KEY, None)
    if options is None:
        return {}
    if type(options).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        options = OmegaConf.to_container(options, resolve=True)
    if not isinstance(options, dict):
        fail(f"algorithm.{CONFIG_KEY}", f"is a {type(options).__name__}, not a mapping",
             "give a mapping of option names to values, e.g. +algorithm.treecredit_options.tau=0.5")
    return dict(options)


def _norm_flag(config: Any, accepted: set) -> dict:
    """``{"norm_by_std": False}`` when ``algorithm.norm_adv_by_std_in_grpo`` is False and the estimator has a
    ``norm_by_std`` option, else ``{}``: verl's flag can only switch the std off. Its True (verl's default)
    keeps the estimator's own default (``spo``'s is off), so one estimator name means the same advantages in
    verl, in TRL and in treecredit's own trainer."""
    if config is None or "norm_by_std" not in accepted:
        return {}
    flag = config.get("norm_adv_by_std_in_grpo", None) if hasattr(config, "get") else \
        getattr(config, "norm_adv_by_std_in_grpo", None)
    return {"norm_by_std": False} if flag is not None and not bool(flag) else {}


@functools.lru_cache(maxsize=4)
def _load_tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, local_files_only=True)  # a hub id: from the local cache only


def _loaded_tokenizer(name: str, option: str = f"algorithm.{CONFIG_KEY}.tokenizer"):
    """The tokenizer at ``name``: a local folder, or a Hugging Face hub id already in the local cache (nothing
    is downloaded: the machines verl trains on need not reach the hub); one that cannot be loaded so is refused
    naming ``option`` (transformers' own error, cut to its first line)."""
    try:
        return _load_tokenizer(name)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        fail(option, f"is {name!r}, which transformers' AutoTokenizer could not load from a local folder or the "
             f"local Hugging Face cache, nothing being downloaded ({type(error).__name__}: {first})",
             "set it to the local folder of the model's tokenizer (the actor's model path), or download the hub id "
             "where the hub can be reached (`hf download ORG/NAME`; `huggingface-cli download` with huggingface_hub "
             "before 0.34) into the cache this machine reads "
             "(HF_HUB_CACHE / HF_HOME)")


def _text_step_ends(estimator: str, responses, response_mask, text_steps: dict, source: Source,
                    found: tuple[str, re.Pattern]):
    """``step_ends`` from the decoded responses (``step_pattern``/``step_regex`` with ``tokenizer``,
    bound or from ``algorithm.treecredit_options``: ``source``); ``found``: their ``(key, regex)``, as
    :func:`~treecredit.integrations._verl_checks.text_step_pattern` checked them."""
    key, pattern = found
    tokenizer = text_steps["tokenizer"]
    tok = _loaded_tokenizer(tokenizer, source.name("tokenizer")) if isinstance(tokenizer, str) else tokenizer
    # verl's responses are the actor's own samples: an id beyond the tokenizer's vocabulary is one of the
    # model's extra embedding rows (Qwen2.5), not a wrong tokenizer, and must not stop the run; negative ids
    # are still refused
    try:
        sampled = int(responses.max()) + 1
    except (AttributeError, RuntimeError, TypeError, ValueError):  # empty or not an array: named below
        sampled = None
    known = vocabulary_size(tok)
    ends = step_ends_from_text(responses, tok, pattern, response_mask=response_mask, padding_side="right",
                               vocab_size=max(known, sampled) if known and sampled else None)
    given = pattern if key == "step_regex" else text_steps[key]  # the user's text, not its escaped regex
    warn_if_no_steps(estimator, ends, response_mask, source=f"pattern {given!r}", pattern=given,
                     sample=lambda: first_response_text(responses, tok, response_mask))
    return ends


def _check_text_steps(estimator: str, spec, text_steps: dict, name: Callable[[str], str]) -> None:
    """Refuse step options from text (``text_steps``) for an estimator that takes no step ends, naming the
    first as ``name(key)``: the estimator would never see them."""
    if text_steps and "step_ends" not in spec.options:
        takers = ", ".join(n for n in estimators("token") if "step_ends" in get_estimator(n).options
                           and not get_estimator(n).needs("mc_values"))
        keys = " and ".join(text_steps)
        fail(name(next(iter(text_steps))), f"gives step ends from the decoded text, but {estimator!r} takes no steps "
             "(one advantage per response)", f"drop {keys}, or use an estimator that takes steps ({takers})")


def _config_error(error: ValueError, user: dict, accepted, *, given: str = "config") -> ValueError | None:
    """``error`` about option NAME of ``algorithm.treecredit_options`` (``user``) naming
    ``algorithm.treecredit_options.NAME``, where the user wrote it; an estimator's refusal of rewards
    outside [0, 1] with its fix where the options were ``given``: Hydra overrides (``"config"``), keywords of
    ``make_adv_estimator`` (``"python"``: all were bound), or both (``""``: none were given); None for any
    other error."""
    from treecredit.training.reward_range import range_refusal

    problem, fix = split_fix(str(error))
    refusal = range_refusal(error)  # TreeRPO's OutOfRange, or an own estimator's plain ValueError
    settings = [(name, value) for name, value in refusal.settings if name in accepted] if refusal else []
    if refusal is not None:  # its fix's options where the user gives them
        overrides = " or ".join(f"+algorithm.{CONFIG_KEY}.{name}={value}" for name, value in settings)
        keywords = " or ".join(f"{name}={value!r}" for name, value in settings)
        if not settings:  # a fix that sets no option: as the estimator words it
            how = refusal.fix("python")
        elif given == "python":
            how = f"pass {keywords} to make_adv_estimator"
        else:
            how = f"set {overrides}" + ("" if given else f" (in Python: make_adv_estimator(..., {keywords}))")
        return ValueError(refusal.said(f"{how}, or give rewards in [0, 1] (the reward function's score plus any "
                                       "in-reward KL terms)", where="each response's reward: the sum of its "
                                       "token_level_rewards"))
    name, sep, rest = problem.partition(": ")
    if name == "step_ends" and "which was not given" in rest:  # no steps at all: say how a verl user gives them
        return ValueError(f"{problem} (verl's batch has no step_ends or tree_nodes, and no step option was set). "
                          f"Fix: set +algorithm.{CONFIG_KEY}.step_pattern='\\n\\n' with +algorithm.{CONFIG_KEY}."
                          "tokenizer=<the model's local path> (step ends from the decoded responses; in Python: "
                          "make_adv_estimator(name, step_pattern=..., tokenizer=...)), or put step_ends or "
                          "tree_nodes in the batch.")
    if not (sep and name in user):
        return None
    return ValueError(f"algorithm.{CONFIG_KEY}.{name}: {rest}. Fix: {fix or 'change or drop it'}.")


def make_adv_estimator(estimator: str, **options) -> Callable:
    """A function with verl's advantage-estimator signature that runs treecredit ``estimator``.

    ``options`` are bound now and checked now, before verl runs: their names (the estimator's options, plus
    the text-step options ``step_pattern``, ``step_regex`` and ``tokenizer``, a path or a tokenizer object),
    their values (the estimator runs once on a 4-response test batch) and their combinations; errors name
    them by keyword. ``algorithm.treecredit_options`` in verl's config overrides them per run, and its
    errors name ``algorithm.treecredit_options.NAME``.

    Raises:
        ValueError: for an estimator that needs Monte Carlo values (``vine``: verl's advantage step has
            none), an option it does not take or a value it refuses, text-step options for an estimator
            that takes no steps, an empty or non-text ``step_pattern`` (e.g. swapped with ``tokenizer``),
            ``step_pattern`` with ``step_regex``, either without a ``tokenizer``, a tokenizer path or hub id
            that does not load (from a local folder or the local hub cache), steps given twice
            (``step_pattern`` with ``step_tokens``, ``delimiter``), or ``step_ends`` or ``tree_nodes`` (one
            batch's rows, which verl's batch gives: ``data.batch['step_ends']``); at the first advantage step,
            ``norm_by_std=True`` bound here under ``algorithm.norm_adv_by_std_in_grpo=False`` (naming both).
    """
    spec = host_estimator(estimator)
    if spec.needs("mc_values"):
        fail("estimator", f"{estimator!r} needs Monte Carlo values of each prefix (mc_values), which verl's "
             "advantage step does not produce", "use another token estimator, e.g. treecredit_tempo or "
             "treecredit_treerl, or train it with treecredit's own trainer (mc_rollouts > 0)")
    bound_text = {k: options.pop(k) for k in TEXT_STEP_OPTIONS if k in options}
    check_names(estimator, spec, options, Source())
    spec.check_options(options)
    check_per_batch(options, Source())
    check_text_delimiter(options, Source())
    _check_text_steps(estimator, spec, bound_text, lambda key: key)
    with host_step_text(VERL_STEP_TEXT_BOUND):  # a fix about steps as text, in Python's terms
        check_bound(estimator, spec, options, bound_text, _loaded_tokenizer)
    accepted = set(spec.options)
    bound = bool(options or bound_text)
    checked: dict[str, tuple] = {}  # per distinct algorithm.treecredit_options (verl's config): its checked parts

    def check_config(user: dict) -> tuple[dict, dict, tuple | None]:
        """``algorithm.treecredit_options`` (``user``) checked, as ``(options, text-step options, (key, regex)
        of a step pattern or None)``: once per distinct value (verl's config is the same at every step)."""
        key = repr(sorted(user.items(), key=lambda item: str(item[0])))
        if key not in checked:
            user = dict(user)
            user_text = {k: user.pop(k) for k in TEXT_STEP_OPTIONS if k in user}
            _check_text_steps(estimator, spec, user_text, lambda name: f"algorithm.{CONFIG_KEY}.{name}")
            check_names(estimator, spec, user, Source(user))
            try:
                spec.check_options(user)
            except ValueError as error:
                raise (_config_error(error, user, accepted) or error) from error
            check_per_batch(user, Source(user))
            check_text_delimiter(user, Source(user))
            text_steps = {**bound_text, **user_text}
            found = text_step_pattern(text_steps, Source(user_text)) if text_steps else None
            if text_steps:
                check_structure(estimator, {**options, **user}, found and found[0], Source(set(user_text) | set(user)))
            if len(checked) >= 8:  # bounded: a config that changed at every step would be checked at every step
                checked.clear()
            checked[key] = (user, user_text, found)
        return checked[key]

    def adv_fn(token_level_rewards, response_mask, index=None, config=None, responses=None, **_verl_extras):
        fields = _BATCH_FIELDS.get() or {}
        ids = responses if responses is not None else fields.get("responses")
        raw = _config_options(config)
        configured = bool(raw)
        user, user_text, found = check_config(raw)
        flag = _norm_flag(config, accepted)
        if flag and options.get("norm_by_std") is True and "norm_by_std" not in user:  # which one is meant?
            fail("norm_by_std", f"is True (bound: make_adv_estimator({estimator!r}, norm_by_std=True)), but verl's "
                 "algorithm.norm_adv_by_std_in_grpo=False switches the division by the group std off",
                 "drop norm_by_std=True from make_adv_estimator to follow verl's flag, or set "
                 "algorithm.norm_adv_by_std_in_grpo=True (or +algorithm.treecredit_options.norm_by_std=true, which "
                 "wins over both)")
        merged = {**options, **flag, **user}
        text_steps = {**bound_text, **user_text}
        if ids is not None and found is not None:  # without ids a step estimator is refused below (responses)
            merged["step_ends"] = _text_step_ends(estimator, ids, response_mask, text_steps, Source(user_text), found)
        if not {"step_ends", "delimiter", "step_tokens"} & set(merged):  # the user's steps win
            # the batch's own: a sampled tree (which fixes the steps) before step ends, as the trainer does
            usable = [n for n in ("tree_nodes", "step_ends") if n in accepted and fields.get(n) is not None]
            if usable:
                merged[usable[0]] = fields[usable[0]]
        try:
            # a delimiter bound in Python (and not set in verl's config) gets the fix in Python's terms
            how = VERL_STEP_TEXT_BOUND if "delimiter" in options and "delimiter" not in user else VERL_STEP_TEXT
            with host_step_text(how):
                return verl_advantages(estimator, token_level_rewards=token_level_rewards,
                                       response_mask=response_mask, index=index, responses=ids, **merged)
        except ValueError as error:
            given = "config" if configured else "python" if bound else ""  # a fix in the terms of where they were
            raise (_config_error(error, user, accepted, given=given) or error) from error

    adv_fn.__name__ = f"{PREFIX}{estimator}"
    adv_fn.__doc__ = f"treecredit {estimator!r} as a verl advantage estimator (see treecredit.integrations.verl)."
    adv_fn.treecredit_estimator = estimator
    return adv_fn


def register(names: list[str] | None = None) -> list[str]:
    """Register ``treecredit_<name>`` in verl for each name (default: every token-level estimator but those
    that need Monte Carlo values, ``vine``, which verl's advantage step cannot give).

    Idempotent: a name that already holds a treecredit estimator is left as it is. Returns the verl names.
    """
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    registered = []
    default = [n for n in estimators("token") if not get_estimator(n).needs("mc_values")]
    for name in default if names is None else names:
        verl_name = f"{PREFIX}{name}"
        held = ADV_ESTIMATOR_REGISTRY.get(verl_name)
        if getattr(held, "treecredit_estimator", None) != name:
            register_adv_est(verl_name)(make_adv_estimator(name))
        registered.append(verl_name)
    return registered


def pass_response_ids() -> None:
    """Make verl's legacy ``compute_advantage`` hand ``data.batch["responses"]`` to treecredit estimators.

    Wraps ``verl.trainer.ppo.ray_trainer.compute_advantage``: the wrapper records the batch's response
    ids (and its ``step_ends`` and ``tree_nodes`` when present) for the duration of the call and then
    runs verl's own function unchanged. Call it once in the process that runs the trainer's ``fit``
    (verl's TaskRunner). Idempotent.
    """
    from verl.trainer.ppo import ray_trainer

    if not getattr(ray_trainer.compute_advantage, "treecredit_wrapped", False):
        ray_trainer.compute_advantage = with_batch_fields(ray_trainer.compute_advantage)


def with_batch_fields(compute_advantage: Callable) -> Callable:
    """Wrap a function ``compute_advantage(data, ...)`` of verl's (a ``DataProto`` first) so that, while it
    runs, treecredit estimators see ``data.batch``'s ``responses``, ``step_ends`` and ``tree_nodes``."""

    def wrapper(data, *args, **kwargs):
        keys = set(data.batch.keys())
        fields = {name: data.batch[name] for name in ("responses", *PER_BATCH) if name in keys}
        token = _BATCH_FIELDS.set(fields)
        try:
            return compute_advantage(data, *args, **kwargs)
        finally:
            _BATCH_FIELDS.reset(token)

    functools.update_wrapper(wrapper, compute_advantage)
    wrapper.treecredit_wrapped = True
    return wrapper


if is_verl_available():
    register()
