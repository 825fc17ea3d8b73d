"""Arms of ``treecredit compare``: their syntax, parsing and validated configs.

An *arm* is an estimator, optionally with a sampler, a branching strategy and its own options::

    ARM     := ESTIMATOR [ "@" SAMPLER [ ":" BRANCHING ] ] [ "[" OPTION { "," OPTION } "]" ]
    OPTION  := KEY "=" VALUE          (VALUE read as JSON when it parses, else as text)

    grpo                                   GRPO on i.i.d. groups
    treerpo@tree[scale=none]               TreeRPO on sampled trees, one estimator option
    grpo@tree:fixed[branching.children=4,branching.depth=2]   a 2-level tree with 4 children per node

A ``KEY`` is an estimator option (``scale``), a ``TrainConfig`` field (``group_size``, ``lr``, …; the
per-run fields ``estimator``, ``seed``, ``out``, ``steps``, ``token_budget``, ``progress`` excepted), or a
dotted key into a dict field: ``estimator.K``, ``sampler.K``, ``branching.K``, ``task.K``, ``env.K``.

Agent runs (``env`` set in the base config): every run is
:func:`treecredit.training.agent_loop.train_agent`; an arm is a turn-level estimator (``rtmc``, ``gigpo``,
``grpo`` = GRPO over episodes) or a token-level one, with options such as ``env.signature=history`` or
``sampler.fork_children=2``; there is no ``@SAMPLER`` (episodes are the sampler; fork them for every arm
with ``--sampler-option fork_at=[1]``, since an arm's option list cannot hold brackets). The options
between brackets belong to that arm alone; the option may also be written before the sampler
(``treerpo[scale=none]@tree``, the lab's label form). A global ``--estimator-option`` goes to every arm
whose estimator accepts it (and must be accepted by at least one). Every arm is validated before any run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from treecredit._validation import did_you_mean, fail, split_fix
from treecredit.training.config import TrainConfig

PREFERRED = ("grpo", "tempo", "treerl", "treerpo", "spo", "treepo", "dr_grpo", "rloo")
PER_RUN = ("estimator", "seed", "out", "steps", "token_budget", "progress")
DICT_PREFIXES = {"estimator": "estimator_options", "sampler": "sampler_options", "branching": "branching_options",
                 "task": "task_options", "env": "env_options"}
AGENT_PREFERRED = ("grpo", "rtmc", "gigpo")


def default_estimators(limit: int = 3, env: str = "") -> list[str]:
    """GRPO plus the first registered tree estimators in ``PREFERRED`` order (outcome ones fill in); with an
    ``env``, GRPO and the registered turn-level estimators of ``AGENT_PREFERRED``."""
    import treecredit

    if env:
        turn = set(treecredit.estimators("turn"))
        return [name for name in AGENT_PREFERRED if name in turn][:limit]
    known = set(treecredit.estimators("token"))
    return [name for name in PREFERRED if name in known][:limit]


def _split_top(text: str, argument: str) -> list[str]:
    """``text`` split at the commas outside brackets (``"a,b[x=1,y=[1,2]]"`` → ``["a", "b[x=1,y=[1,2]]"]``).
    Raises ``ValueError`` (``argument``) for a ``]`` with no ``[`` or a ``[`` left open."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if depth < 0:
            fail(argument, f"a ']' closes no '[' in {text!r}", "write each arm as name@sampler[key=value,...]")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        fail(argument, f"unclosed '[' in {text!r}", "close every option list: treerpo@tree[scale=none]")
    parts.append(current.strip())
    return parts


def split_arms(text: str) -> list[str]:
    """Split a comma-separated list of arms, keeping commas inside ``[...]``: ``"a,b[x=1,y=2]"`` → 2 arms
    (an option's value may be a list: ``rtmc[sampler.fork_at=[1,2]]``)."""
    arms = _split_top(text, "estimators")
    if not all(arms):
        fail("estimators", f"{text!r} has an empty arm", "remove the doubled or trailing comma")
    if len(set(arms)) != len(arms):
        fail("estimators", f"{text!r} names an arm twice", "list each arm once")
    return arms


@dataclass(frozen=True)
class Arm:
    """A parsed arm: ``label`` (as written), estimator, sampler and branching ('' = base's), its options."""

    label: str
    estimator: str
    sampler: str = ""
    branching: str = ""
    options: dict = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """A file-system-safe name for the arm's run folders."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.label)


def parse_arm(label: str) -> Arm:
    """Parse ``ESTIMATOR[@SAMPLER[:BRANCHING]][[k=v,...]]`` (see the module docstring)."""
    from treecredit.training.train_cli import parse_key_values

    head, options, bracket = label, {}, ""
    if "[" in label:
        start, depth = label.index("["), 0
        for end in range(start, len(label)):  # the ']' that closes the first '['
            depth += (label[end] == "[") - (label[end] == "]")
            if depth == 0:
                break
        if depth:
            fail("estimators", f"unclosed '[' in {label!r}", "close every option list: treerpo@tree[scale=none]")
        body = label[start + 1:end]
        head, bracket = label[:start] + label[end + 1:], label[start:end + 1]
        options = parse_key_values([p for p in _split_top(body, "estimators") if p], f"arm {label!r}")
    estimator, at, spec = head.partition("@")
    sampler, colon, branching = spec.partition(":")
    if not estimator:
        fail("estimators", f"arm {label!r} has no estimator name", "start the arm with an estimator, e.g. grpo@tree")
    _check_not_empty(label, estimator.strip(), sampler.strip() if at else None, branching.strip() if colon else None,
                     bracket)
    return Arm(label, estimator.strip(), sampler.strip(), branching.strip(), options)


def _check_not_empty(label: str, estimator: str, sampler: str | None, branching: str | None, options: str) -> None:
    """Refuse an ``@`` with no sampler after it (``tempo@``) and a ``:`` with no branching (``tempo@tree:``), which
    were read as the base's sampler and branching (``tempo@`` was ``tempo``: one run twice in ``tempo,tempo@``);
    ``sampler``/``branching``: None where there is no mark, what follows the mark otherwise (``options``: the arm's
    ``[...]``, for the fix)."""
    from treecredit.sampling.branching import BRANCHINGS

    if sampler == "":
        fail("estimators", f"arm {label!r} has '@' but no sampler after it",
             f"write {estimator}@tree{':' + branching if branching else ''}{options} for trees, or "
             f"{estimator}{options} for the sampler of --sampler (iid unless set)")
    if branching == "":
        fail("estimators", f"arm {label!r} has ':' but no branching after it",
             f"write {estimator}@{sampler}{options} for the branching of --branching (fixed unless set), or "
             f"{estimator}@{sampler}:BRANCHING{options} with BRANCHING one of {', '.join(sorted(BRANCHINGS))}")


def arm_config(base: TrainConfig, label: str, global_estimator_options: dict | None = None) -> TrainConfig:
    """The config of one arm: ``base`` with the arm's estimator, sampler, branching and options.

    Raises ``ValueError`` naming the arm as written, with the fix in the arm's own syntax, for an unknown
    sampler or branching (``treerl@tre`` → ``treerl@tree``), an unknown key, a per-run field, a field value
    the config refuses (``lr=-1``), or an option its estimator does not take or refuses (a dry run:
    :func:`~treecredit.training.dry_run.check_estimator_options`)."""
    import treecredit

    arm = parse_arm(label)
    if base.env:
        if arm.sampler or arm.branching:
            fail(f"arm {label!r}", "agent runs (--env) have no tree sampler: episodes are sampled turn by turn",
                 "drop '@...'; to fork episodes pass --sampler-option fork_at=[1] (every arm)")
    check_arm_names([label], env=bool(base.env))
    if base.env:
        from treecredit.agents.credit import estimator_level
    level = estimator_level(arm.estimator) if base.env else "token"
    spec = treecredit.get_estimator(arm.estimator, level=level)
    accepted = set(spec.options)
    glob = dict(base.estimator_options if global_estimator_options is None else global_estimator_options)
    changes: dict = {"estimator": arm.estimator,
                     "estimator_options": {k: v for k, v in glob.items() if k in accepted}}
    if arm.sampler:
        changes["sampler"] = arm.sampler
    if arm.branching:
        changes["branching"] = arm.branching
    _check_names(arm)
    names = {f.name for f in fields(TrainConfig)}
    for key, value in arm.options.items():
        prefix, dot, sub = key.partition(".")
        if dot:
            if prefix not in DICT_PREFIXES or not sub:
                fail(f"arm {label!r}", f"option {key!r} has an unknown prefix",
                     f"use one of {', '.join(p + '.KEY' for p in DICT_PREFIXES)}")
            target = DICT_PREFIXES[prefix]
            changes[target] = {**changes.get(target, getattr(base, target)), sub: value}
        elif key in PER_RUN:
            fail(f"arm {label!r}", f"option {key!r} is set per run by compare", "remove it from the arm")
        elif key in names:
            changes[key] = value
        elif key in accepted:
            changes["estimator_options"][key] = value
        else:
            fail(f"arm {label!r}", f"{key!r} is neither an option of estimator {arm.estimator!r} "
                 f"({', '.join(spec.options) or 'none'}) nor a TrainConfig field"
                 f"{did_you_mean(key, [*spec.options, *names])}",
                 f"check the spelling, or prefix it: {', '.join(p + '.K' for p in DICT_PREFIXES)}")
    if not base.env and changes.get("sampler", base.sampler) != "tree":
        changes.update(_without_tree_options(base, arm, changes.get("sampler", base.sampler)))
    try:
        spec.check_options(changes["estimator_options"])
        config = base.replaced(**changes)
    except ValueError as exc:  # a value from the arm (lr=-1): its error names the arm as written
        raise ValueError(_in_arm_syntax(str(exc), arm)) from None
    from treecredit.training.dry_run import check_estimator_options

    own = {key.removeprefix("estimator.") for key in arm.options if key.removeprefix("estimator.") in accepted}
    check_estimator_options(config, arm=(label, own))  # option values, named in the arm's own syntax
    if config.env:
        from treecredit.training.reward_range import check_env_reward_range

        check_env_reward_range(config, arm=label)  # with the arm's own options (treerpo[scale=std] passes)
    return config


def _in_arm_syntax(message: str, arm: Arm) -> str:
    """``message`` (``ARGUMENT: problem. Fix: fix.``) with the arm named after the argument and, where the arm's
    ``[...]`` set the value at fault, the fix in the arm's syntax (``treerl@tree:fixed[branching.children=VALUE]``)
    rather than the flag's (``--branching-option children=...``)."""
    argument, _, rest = message.partition(": ")
    problem, fix = split_fix(rest)
    prefix = next((p for p, target in DICT_PREFIXES.items() if target == argument), "")
    key = argument if argument in arm.options else f"estimator.{argument}" \
        if f"estimator.{argument}" in arm.options else ""
    if prefix and not key:  # a dict field (branching_options): the arm's key its problem names
        own = [k for k in arm.options if k.startswith(prefix + ".")]
        key = next((k for k in own if k.partition(".")[2] in problem), own[0] if own else "")
        if key:
            problem = problem.replace(f"--{prefix}-option {key.partition('.')[2]}=", f"{key}=")
    if key and "has no option" in problem:  # a misspelt key: the owner's list (and its suggestion) is the fix
        pass
    elif key and (example := re.match(r"pass (.+?), e\.g\. --env-option [\w.]+=(\S+) \(in Python", fix or "")):
        # an env option's type: the example value in the arm's syntax, not the flag's and Python's
        fix = f"write {arm_with_option(arm.label, key, example.group(2))} ({example.group(1)})"
    elif key:  # set in the arm's [...]: fixed there, not with the flag
        fix = f"write {arm_with_option(arm.label, key)} ({fix or 'another value'})"
    elif argument == "group_size" and (size := re.search(r"multiple of (?:\S+ = )?(\d+)", problem)):
        fix = f"give the arm its own group size, {arm_with_option(arm.label, 'group_size', size.group(1))}, or {fix}"
    return f"{argument} (arm {arm.label!r}): {problem}. Fix: {fix}."


def check_arm_names(labels: list[str], env: bool = False) -> None:
    """Each arm's estimator registered (token-level; or turn-level too for agent runs, ``env``) and, for task
    runs, no branching given to the i.i.d. sampler; each error names the arm and the fix in its syntax. Cheap:
    ``compare`` calls it before it builds the shared config from the first arm."""
    import treecredit

    known = sorted(set(treecredit.estimators("token")) | (set(treecredit.estimators("turn")) if env else set()))
    for label in labels:
        arm = parse_arm(label)
        if arm.estimator not in known:
            if not env and arm.estimator in treecredit.estimators("turn"):  # as `train --estimator rtmc` says
                fail("estimators", f"arm {arm.label!r}: {arm.estimator!r} is a turn-level estimator: it credits an "
                     "agent's turns in episodes, and task runs have no turns",
                     f"compare agents on an environment with --env NAME (e.g. --env gridworld) to keep "
                     f"{arm.estimator!r}, or use a token-level estimator: one of {', '.join(known)}")
            _unknown_estimator(arm, known, "turn- or token" if env else "token")
        if not env:
            _check_sampler_branching(arm)


def _unknown_estimator(arm: Arm, known: list[str], level: str) -> None:
    """Refuse the arm's unknown estimator, naming the arm and the arm with the closest estimator (or, for
    ``tree:fixed`` written without one, the arm with an estimator before ``@``)."""
    from treecredit.sampling.branching import BRANCHINGS
    from treecredit.sampling.registry import samplers

    head, colon, branching = arm.estimator.partition(":")
    if colon and not arm.sampler and head in samplers():  # 'tree:fixed': a sampler and branching, no estimator
        example = "treerl" if "treerl" in known else known[0]
        near = _closest(branching, sorted(BRANCHINGS), cutoff=0.5)
        meant = arm.label.replace(":" + branching, ":" + near[0], 1) if near else arm.label
        fail("estimators", f"arm {arm.label!r} has a sampler and branching but no estimator before them",
             f"write ESTIMATOR@{meant}, e.g. {example}@{meant} (ESTIMATOR one of {', '.join(known)})")
    close = _closest(arm.estimator, known, cutoff=0.6)  # train's: "none" is not "vine"
    fix = (f"write {_known_names(close[0] + arm.label[len(arm.estimator):])}"
           if close and arm.label.startswith(arm.estimator) else f"start the arm with one of {', '.join(known)}")
    fail("estimators", f"arm {arm.label!r}: {arm.estimator!r} is no registered {level}-level estimator "
         f"({', '.join(known)})", fix)


def _check_sampler_branching(arm: Arm) -> None:
    """Refuse ``ESTIMATOR@iid:BRANCHING``: a branching shapes the tree sampler's trees, i.i.d. groups have none
    (``train --sampler iid --branching ...`` is refused the same way)."""
    if arm.branching and arm.sampler == "iid":
        fail("branching", f"arm {arm.label!r} gives the i.i.d. sampler a branching ({arm.branching!r}), which "
             "only shapes the tree sampler's trees",
             f"write {arm.label.replace('@iid:' + arm.branching, '@tree:' + arm.branching, 1)} for a tree arm, "
             f"or {arm.label.replace(':' + arm.branching, '', 1)} for an i.i.d. one")


def _check_names(arm: Arm) -> None:
    """The arm's ``@SAMPLER`` and ``:BRANCHING`` against the registered names; the error names the arm as
    written and the arm with the closest name."""
    from treecredit.sampling.branching import BRANCHINGS
    from treecredit.sampling.registry import samplers

    for what, given, known in (("sampler", arm.sampler, samplers()), ("branching", arm.branching,
                                                                       sorted(BRANCHINGS))):
        if not given or given in known:
            continue
        mark = "@" if what == "sampler" else ":"
        fixed = _known_names(arm.label)  # the sampler and the branching both: tempo@Tree:Entropy → tempo@tree:entropy
        fail(what, f"{given!r} in arm {arm.label!r} is not one of {known}",
             f"write {fixed}" if _closest(given, known, cutoff=0.5) and fixed != arm.label
             else f"write the {what} after {mark!r} as one of {known}")


def _known_names(label: str) -> str:
    """``label`` with its ``@SAMPLER`` and ``:BRANCHING`` replaced by the closest registered names where they are
    not registered (``grpo@IID`` → ``grpo@iid``), so that a fix for the estimator does not keep another fault."""
    from treecredit.sampling.branching import BRANCHINGS
    from treecredit.sampling.registry import samplers

    arm = parse_arm(label)
    for mark, given, known in (("@", arm.sampler, samplers()), (":", arm.branching, sorted(BRANCHINGS))):
        close = _closest(given, known, cutoff=0.5) if given and given not in known else []
        if close and mark + given in label:
            label = label.replace(mark + given, mark + close[0], 1)
    return label


def _closest(given: str, known: list[str], cutoff: float) -> list[str]:
    """``[name]``: the one of ``known`` that ``given`` is but for case (``GRPO`` → ``grpo``), else the closest one
    by :func:`difflib.get_close_matches` ignoring case (``Tre`` → ``tree``) at ``cutoff``; ``[]``: none."""
    import difflib

    lower = {name.lower(): name for name in known}
    close = difflib.get_close_matches(given.lower(), list(lower), n=1, cutoff=cutoff)
    return [lower[close[0]]] if close else []


def arm_with_option(label: str, key: str, value: str = "VALUE") -> str:
    """``label`` with the option ``key`` set to ``value`` (the text shown in a fix): the value replaced where the
    arm's ``[...]`` sets ``key`` (or ``estimator.key``), else ``key=value`` added to its options."""
    if "[" not in label:
        return f"{label}[{key}={value}]"
    start, end = label.index("["), label.index("]")
    parts = [p.strip() for p in label[start + 1:end].split(",") if p.strip()]
    for i, part in enumerate(parts):
        name = part.partition("=")[0].strip()
        if name in (key, f"estimator.{key}"):
            parts[i] = f"{name}={value}"
            break
    else:
        parts.append(f"{key}={value}")
    return f"{label[:start]}[{','.join(parts)}]{label[end + 1:]}"


def _without_tree_options(base: TrainConfig, arm: Arm, sampler: str) -> dict:
    """The tree sampler's fields (``branching_options``, ``mc_rollouts``, ...) at their defaults for an arm of another
    ``sampler``: a global ``--branching-option`` is for the tree arms (``train --resume`` refuses it in an i.i.d.
    run's config.json). One the arm sets (``tempo[mc_rollouts=2]``) is refused, naming its tree form."""
    from treecredit.training.config import field_default
    from treecredit.training.train_cli import TREE_ONLY_FIELDS

    for key in arm.options:
        if key in TREE_ONLY_FIELDS or key.partition(".")[0] == "branching":
            tree = arm.label.replace("@" + arm.sampler, "", 1) if arm.sampler else arm.label
            tree = tree.replace(arm.estimator, arm.estimator + "@tree", 1)
            fail(f"arm {arm.label!r}", f"option {key!r} shapes the tree sampler's trees; the {sampler!r} sampler "
                 "of this arm would ignore it", f"write {tree} for a tree arm, or drop {key}")
    return {name: field_default(TrainConfig.__dataclass_fields__[name]) for name in TREE_ONLY_FIELDS}


def arm_configs(base: TrainConfig, labels: list[str]) -> dict[str, TrainConfig]:
    """Validated configs of every arm; a global estimator option no arm accepts is an error, and so is a tree
    sampler's option (``--branching-option``, ``--mc-rollouts``, ...) given where no arm grows trees."""
    from treecredit.training.train_cli import TREE_ONLY_FIELDS

    configs = {label: arm_config(base, label) for label in labels}
    if not base.env and not any(config.sampler == "tree" for config in configs.values()):
        for name, flag in TREE_ONLY_FIELDS.items():
            if base.was_given(name):
                fail(name, f"{flag} shapes the tree sampler's trees, and no arm of --estimators grows trees, so every "
                     "run would ignore it", f"add a tree arm (e.g. {parse_arm(labels[-1]).estimator}@tree), or "
                     f"drop {flag}")
    _check_distinct(base, configs)
    for key in base.estimator_options:
        if not any(key in _spec(c).options for c in configs.values()):
            fail("estimator_options", f"no arm's estimator takes {key!r}",
                 "remove --estimator-option " + key + ", or give it to one arm: name[" + key + "=...]")
    return configs


def _check_distinct(base: TrainConfig, configs: dict[str, TrainConfig]) -> None:
    """Refuse two arms written differently whose configs are the same (``tempo`` and ``tempo@iid``, ``tempo@tree``
    and ``tempo@tree:fixed`` with the default --sampler and --branching): they would train the same runs twice
    (split_arms only catches the same text twice)."""
    seen: list[tuple[str, TrainConfig]] = []
    for label, config in configs.items():
        same = next((earlier for earlier, other in seen if other == config), None)  # dicts: equal in any order
        if same is not None:
            fail("estimators", f"arms {same!r} and {label!r} are the same arm (an arm without @SAMPLER or "
                 f":BRANCHING takes those of --sampler and --branching, here {base.sampler} and {base.branching}), "
                 "so compare would train the same runs twice", f"list that arm once: drop {label!r}")
        seen.append((label, config))


def _spec(config: TrainConfig):
    import treecredit

    if config.env:
        from treecredit.agents.credit import estimator_level

        return treecredit.get_estimator(config.estimator, level=estimator_level(config.estimator))
    return treecredit.get_estimator(config.estimator)
