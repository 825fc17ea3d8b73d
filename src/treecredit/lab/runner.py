"""Calling every registered estimator by name, with the inputs it needs, on lab batches.

The lab never copies estimator code: it lists ``treecredit.estimators(level)`` and calls
``treecredit.compute_advantages`` / ``compute_turn_advantages``, so a newly registered estimator
appears in every sweep. From each estimator's accepted options it decides what to pass:

- explicit trees: ``tree_nodes`` (the sampled segment ids) to every estimator that takes it; an
  estimator that takes no tree but takes step boundaries (``ibpo``, ``vine``) gets ``step_ends``;
- i.i.d. groups: ``step_ends`` (True on the last token of every action: a token in the token MDP, a step
  in the step MDP) to every estimator that takes step boundaries, so tree estimators build the step
  trie of the group (in the token MDP, where every action is one token, that is the token trie);
  estimators with neither option (``grpo``, ``rloo``, ``dr_grpo``) get the four batch arrays only.

  The core refuses ``tree_nodes`` together with a step option, so exactly one of them is passed.
- ``mc_values`` (and ``prompt_values`` if taken): value estimates from ``mc_rollouts`` fresh rollouts per
  prefix (variant ``[mc=K]``) and the exact V* (variant ``[mc=exact]``, VinePPO with a perfect oracle).

and which variants to measure besides the defaults: ``[norm_by_std=False]`` where ``norm_by_std`` is
taken, ``[scale=none]`` where ``scale`` is, ``[gamma=1]`` where a turn estimator discounts by default
(the exact values are undiscounted). An estimator that raises ``ValueError`` on lab inputs is recorded
as skipped, with its message.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

import treecredit
from treecredit._validation import fail
from treecredit.lab.measure import Accumulator, GradientTerms, block_stats
from treecredit.lab.sampling import LabBatch, sample_forest
from treecredit.lab.state_graph import StateGraph, sample_episodes
from treecredit.lab.tabular import TabularMDP

ORACLE = "(oracle A*)"


@dataclass(frozen=True)
class Variant:
    """One measured configuration of an estimator: ``label`` = name plus non-default options."""

    label: str
    name: str
    options: tuple = ()
    mc: str | None = None  # None, "exact" or "sampled"
    normalised: bool = False  # its advantages carry a data-dependent scale, so they are not on A*'s scale

    @property
    def option_dict(self) -> dict:
        return dict(self.options)


def _label(name: str, extra: dict) -> str:
    return name if not extra else name + "[" + ",".join(f"{k}={v}" for k, v in extra.items()) + "]"


def variants(level: str = "token", names: list[str] | None = None, mc_rollouts: int = 8) -> list[Variant]:
    """The variants of every registered estimator at ``level`` (or of ``names``)."""
    out = []
    for name in names or treecredit.estimators(level):
        spec = treecredit.get_estimator(name, level=level)
        defaults = {p.name: p.default for p in inspect.signature(spec.fn).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY}
        extras: list[dict] = [{}]
        if defaults.get("norm_by_std") is True:
            extras.append({"norm_by_std": False})
        if "scale" in defaults and defaults["scale"] != "none":
            extras.append({"scale": "none"})
        if defaults.get("whiten") is True:
            extras.append({"whiten": False})
        if level == "turn" and isinstance(defaults.get("gamma"), float) and defaults["gamma"] != 1.0:
            extras.append({"gamma": 1.0})
        for extra in extras:
            norm = is_normalised(name, {**defaults, **extra})
            if "mc_values" in spec.options:
                out.append(Variant(_label(name, {**extra, "mc": mc_rollouts}), name, tuple(extra.items()), "sampled",
                                   norm))
                out.append(Variant(_label(name, {**extra, "mc": "exact"}), name, tuple(extra.items()), "exact", norm))
            else:
                out.append(Variant(_label(name, extra), name, tuple(extra.items()), normalised=norm))
    return out


# Estimators whose scale no option removes: TreeRL divides by √|L(s)| (leaves below the node).
ALWAYS_SCALED = frozenset({"treerl"})


def is_normalised(name: str, options: dict) -> bool:
    """True when the estimator's output carries a data-dependent scale (1/σ, Bernoulli or std scale,
    batch whitening, 1/√|L|), so its bias, variance and mse against A* mix error with that scale."""
    return (options.get("norm_by_std") is True or options.get("whiten") is True
            or options.get("scale", "none") != "none" or name in ALWAYS_SCALED)


def token_gradient_terms(batch: LabBatch) -> GradientTerms:
    """The score function of every action of the batch, for the softmax tabular policy."""
    mdp = batch.mdp
    V, D = mdp.n_actions, mdp.depth
    base = mdp.param_offset[:-1][None, :] + batch.prefixes * V  # (R, D)
    index = (base[:, :, None] + np.arange(V)).reshape(-1, V)
    probs = np.stack([mdp.probs[d][batch.prefixes[:, d]] for d in range(D)], axis=1)  # (R, D, V)
    score = ((batch.actions[:, :, None] == np.arange(V)) - probs).reshape(-1, V)
    group = np.repeat(batch.group_index, D)
    sizes = np.bincount(batch.group_index, minlength=batch.n_groups)  # leaves per group (adaptive: unequal)
    return GradientTerms(index, score, group, mdp.true_gradient, sizes)


@dataclass
class CellResult:
    """Metrics per variant label, plus skipped variants with the reason."""

    metrics: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    extra_rollouts: dict = field(default_factory=dict)
    tokens_per_group: float | None = None  # measured generated tokens per group (token cells)
    leaves_per_group: float | None = None  # measured responses per group (token cells; adaptive: ≤ its budget)
    cutoff: dict = field(default_factory=dict)  # tokens_saved, cut_share, value_bias, value_rmse


def token_options(variant: Variant, spec, batch: LabBatch, *, explicit_tree: bool, mc_cache: dict,
                  mc_rollouts: int, rng: np.random.Generator) -> dict:
    """The keyword options of one estimator call: the variant's options plus the structure it needs.

    ``explicit_tree``: the batch was sampled as trees (pass ``tree_nodes`` where taken), else as i.i.d.
    groups (pass ``step_ends`` where taken). Never both: the core refuses that combination.
    """
    opts = variant.option_dict
    if explicit_tree and "tree_nodes" in spec.options:
        opts["tree_nodes"] = batch.tree_nodes
    elif "step_ends" in spec.options:
        opts["step_ends"] = batch.step_ends
    if variant.mc is not None:
        if variant.mc not in mc_cache:
            mc_cache[variant.mc] = (batch.exact_mc_values() if variant.mc == "exact"
                                    else batch.sampled_mc_values(mc_rollouts, rng))
        values, prompt = mc_cache[variant.mc]
        opts["mc_values"] = values
        if "prompt_values" in spec.options:
            opts["prompt_values"] = prompt
    return opts


def run_token_cell(mdp: TabularMDP, *, branching: int, branch_depths, n_blocks: int, groups_per_block: int,
                   variant_list: list[Variant], seed: int, mc_rollouts: int = 8, oracle: bool = True,
                   tick=None, cutoff: str = "off", adaptive: dict | None = None) -> CellResult:
    """Measure every variant on ``n_blocks`` batches of ``groups_per_block`` independent trees (or groups).

    All variants see the same sampled batches (common random numbers), so their differences are sharper.
    On explicit trees the bias/variance metrics are measured once more on the first segment's tokens
    (``ROOT_METRICS`` with suffix ``_root``). With ``oracle``, the row ``ORACLE`` uses the exact A* as its
    advantages: not an estimator, the floor
    of the gradient variance that per-token credit can reach with these samples.

    ``cutoff`` (``off``, ``sound``, ``any``; :mod:`treecredit.lab.cutoff`): a partial verifier stops each
    response after a wrong step; its later tokens are masked (not generated, no gradient term) and it gets
    the verifier's value as reward. ``result.tokens_per_group`` is measured (shared segments once),
    ``result.cutoff`` holds the share of tokens saved and the value bias against the exact values.

    ``adaptive`` (a dict of :class:`~treecredit.sampling.branching.AdaptiveBranching` options, ``{}`` for its
    lab defaults): grow adaptive trees of at most ``branching`` leaves instead (:mod:`treecredit.lab.adaptive`;
    ``branch_depths`` is ignored, no ``_root`` metrics, cutoff must be ``off``).
    """
    from treecredit.lab.adaptive import sample_adaptive
    from treecredit.lab.cutoff import apply_cutoff, generated_per_group

    if adaptive is not None and cutoff != "off":
        fail("cutoff", f"is {cutoff!r} with adaptive trees; the lab cuts only fixed shapes after sampling, which "
             "would not be the trainer's adaptive rule (it sees the cut rewards while it allocates)",
             "pass cutoff='off' for adaptive cells")
    rng = np.random.default_rng(seed)
    explicit_tree = adaptive is not None or len(set(int(b) for b in branch_depths)) > 1
    accs = {v.label: Accumulator() for v in variant_list}
    fixed_tree = explicit_tree and adaptive is None
    root_accs = {v.label: Accumulator() for v in variant_list} if fixed_tree else {}
    root_end = sorted(set(int(b) for b in branch_depths))[1] if fixed_tree else 0
    if oracle:
        accs[ORACLE] = Accumulator()
    result = CellResult()
    tokens, full_tokens, value_errors, rows = [], [], [], 0
    for _ in range(n_blocks):
        if adaptive is not None:
            batch = sample_adaptive(mdp, rng, n_groups=groups_per_block, group_size=branching, **adaptive)
        else:
            batch = sample_forest(mdp, rng, n_groups=groups_per_block, branching=branching,
                                  branch_depths=branch_depths)
        rows += batch.n_rows
        cut = apply_cutoff(batch, cutoff)
        alive = cut["alive"].reshape(-1).astype(np.float64)  # per action: generated or not
        keep = batch.per_token(cut["alive"]).reshape(-1)  # per token
        tokens.append(generated_per_group(batch, cut["alive"]))
        full_tokens.append(generated_per_group(batch, np.ones_like(cut["alive"])))
        value_errors.append(cut["value_error"])
        inputs = dict(batch.estimator_inputs(), rewards=cut["rewards"], response_mask=batch.per_token(cut["alive"]))
        grad = token_gradient_terms(batch)
        target = batch.per_token(batch.target_per_action).reshape(-1)
        node = batch.per_token(batch.node_keys).reshape(-1)
        tok_group = np.repeat(batch.group_index, batch.response_ids.shape[1])
        tok_depth = np.tile(np.repeat(np.arange(mdp.depth), mdp.step_len), batch.n_rows)
        in_root = (tok_depth < root_end) & keep
        mc_cache: dict = {}
        if oracle:
            accs[ORACLE].add(block_stats(target[keep], target[keep], node[keep], mdp.n_params, tok_group[keep],
                                         batch.n_groups, grad, batch.target_per_action.reshape(-1) * alive))
        for v in variant_list:
            if v.label in result.skipped:
                continue
            spec = treecredit.get_estimator(v.name)
            try:
                opts = token_options(v, spec, batch, explicit_tree=explicit_tree, mc_cache=mc_cache,
                                     mc_rollouts=mc_rollouts, rng=rng)
                adv = np.asarray(treecredit.compute_advantages(v.name, **inputs, **opts))
            except ValueError as exc:
                result.skipped[v.label] = str(exc)
                continue
            weight = adv.reshape(batch.n_rows, mdp.depth, mdp.step_len).mean(axis=2).reshape(-1) * alive
            accs[v.label].add(block_stats(adv.reshape(-1)[keep], target[keep], node[keep], mdp.n_params,
                                          tok_group[keep], batch.n_groups, grad, weight))
            if root_accs:
                root_accs[v.label].add(block_stats(adv.reshape(-1)[in_root], target[in_root], node[in_root],
                                                   mdp.n_params, tok_group[in_root], batch.n_groups))
            if v.mc == "sampled":
                result.extra_rollouts[v.label] = mc_rollouts * mdp.depth
        if tick is not None:
            tick()
    result.metrics = {label: acc.result() for label, acc in accs.items() if acc.blocks}
    result.tokens_per_group = float(np.mean(tokens))
    result.leaves_per_group = rows / (n_blocks * groups_per_block)
    errors = np.concatenate(value_errors)
    result.cutoff = dict(tokens_saved=1.0 - float(np.sum(tokens)) / float(np.sum(full_tokens)),
                         cut_share=errors.size / rows,
                         value_bias=float(errors.mean()) if errors.size else 0.0,
                         value_rmse=float(np.sqrt((errors ** 2).mean())) if errors.size else 0.0)
    for label, acc in root_accs.items():
        if acc.blocks and label in result.metrics:
            result.metrics[label].update({m + "_root": v for m, v in acc.result().items() if m in ROOT_METRICS})
    return result


# Also measured on the tokens of the first tree segment alone (depth < the second branch depth), where a
# tree estimator's value estimates average the most leaves: suffix ``_root`` in the records.
ROOT_METRICS = ("rms_bias", "sd", "var", "gain")


def run_turn_cell(env: StateGraph, *, group_size: int, n_blocks: int, groups_per_block: int,
                  variant_list: list[Variant], seed: int, signature: str = "state+turn", tick=None) -> CellResult:
    """Measure every turn-level variant on ``n_blocks`` batches of i.i.d. episode groups."""
    rng = np.random.default_rng(seed)
    accs = {v.label: Accumulator() for v in variant_list}
    result = CellResult()
    for _ in range(n_blocks):
        sample = sample_episodes(env, rng, n_groups=groups_per_block, group_size=group_size)
        grad = sample.gradient_terms(env)
        target, node = sample.targets(env), sample.node_keys(env)
        inputs = sample.estimator_inputs(env, signature)
        for v in variant_list:
            if v.label in result.skipped:
                continue
            try:
                adv = np.asarray(treecredit.compute_turn_advantages(v.name, **inputs, **v.option_dict))
            except ValueError as exc:
                result.skipped[v.label] = str(exc)
                continue
            accs[v.label].add(block_stats(adv, target, node, env.n_nodes, sample.group, sample.n_groups, grad,
                                          adv.astype(np.float64)))
        if tick is not None:
            tick()
    result.metrics = {label: acc.result() for label, acc in accs.items() if acc.blocks}
    return result
