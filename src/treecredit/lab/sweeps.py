"""The lab's sweeps: which environments and sampling regimes are measured, at which sizes.

A *cell* is one environment × one sampling regime; every registered estimator variant is measured in
every cell on the same batches. Sweeps:

- ``headline``: the default token MDP and a step MDP; i.i.d. groups vs trees at the same leaf budget.
- ``branching``: two-level trees of branching B (budget B²) and i.i.d. groups of G = B²; tests the
  claimed O(1/B) bias and σ²/B + tree-term variance.
- ``budget``: i.i.d. G vs binary trees (B = 2, L levels) at budgets 2^L.
- ``conditions``: chain length × success rate × reward kind (binary / noisy graded), plus the entropy
  profile and the place of the decisive tokens: where does tree credit beat GRPO?
- ``map``: chain length × success rate (× reward kind, decisive place with ``full``), i.i.d. groups,
  trees of several shapes and adaptive trees (the trainer's ``AdaptiveBranching`` rule,
  :mod:`treecredit.lab.adaptive`), a few estimators, compared per generated token
  (:mod:`treecredit.lab.token_map`).
- ``cutoff``: a partial verifier stops responses after a wrong step (``sound`` on binary rewards, where the
  cut value is exact; ``any`` on graded rewards, where it is biased): tokens saved, value bias, noise per token.
- ``turns``: the state graph, i.i.d. episode groups of G, exact Markov signatures and turn-free
  (colliding) signatures.

``size`` sets blocks × groups per block: ``tiny`` (tests), ``quick`` (default, < 2 min) or ``full``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from treecredit._validation import check_choice
from treecredit.lab.runner import run_token_cell, run_turn_cell, variants
from treecredit.lab.sampling import branch_schedule
from treecredit.lab.state_graph import make_state_graph
from treecredit.lab.tabular import make_tabular_mdp
from treecredit.lab.token_map import MAP_ESTIMATORS, MAP_SIZES, add_per_token_metrics, map_environments, map_shapes

CUTOFF_SHAPES = (("iid", 16, 1), ("tree", 4, 2), ("tree", 2, 3))
SIZES = {"tiny": (4, 8), "quick": (20, 32), "full": (60, 64)}  # (blocks, groups per block)
SWEEPS = ("headline", "branching", "budget", "conditions", "turns", "map", "cutoff")
BASE_TOKEN = dict(n_actions=3, depth=6, entropy="flat", decisive="late", n_decisive=2, reward="binary",
                  success_rate=0.3, seed=1)
BASE_STEP = dict(BASE_TOKEN, depth=4, step_len=3, token_vocab=6)


@dataclass(frozen=True)
class Cell:
    """One environment × regime. ``env`` is ``token``/``step`` (tabular) or ``graph`` (turns)."""

    sweep: str
    env: str
    env_args: tuple
    regime: str  # "iid", "tree" or "adaptive" (the trainer's adaptive rule, at most ``branching`` leaves)
    branching: int
    levels: int = 1
    signature: str = "state+turn"
    cutoff: str = "off"
    chains: int = 0  # adaptive only: initial chains per group (AdaptiveBranching.chains)

    @property
    def budget(self) -> int:
        return self.branching ** self.levels

    def describe(self) -> dict:
        return dict(sweep=self.sweep, env=self.env, **dict(self.env_args), regime=self.regime,
                    branching=self.branching, levels=self.levels, budget=self.budget,
                    **({"signature": self.signature} if self.env == "graph" else {}),
                    **({"chains": self.chains} if self.regime == "adaptive" else {}), cutoff=self.cutoff)


def _pair(sweep: str, env: str, args: dict, budget_b: int, levels: int) -> list[Cell]:
    """The tree cell (B, L) and the i.i.d. cell with G = B^L at the same leaf budget."""
    key = tuple(sorted(args.items()))
    return [Cell(sweep, env, key, "iid", budget_b ** levels), Cell(sweep, env, key, "tree", budget_b, levels)]


def sweep_names(sweeps) -> list[str]:
    """``sweeps``, each checked (one of :data:`SWEEPS`) and named once, in the order given: ``["map", "map"]``
    runs the map's cells once, not twice."""
    for sweep in sweeps:
        check_choice(sweep, SWEEPS, "sweeps")
    return list(dict.fromkeys(sweeps))


def cells(sweeps=SWEEPS, full: bool = False) -> list[Cell]:
    """The cells of the requested sweeps, each sweep once (``full`` adds larger branchings, budgets and
    depths)."""
    out: list[Cell] = []
    for sweep in sweep_names(sweeps):
        if sweep == "headline":
            out += _pair(sweep, "token", BASE_TOKEN, 4, 2)
            out.append(Cell(sweep, "token", tuple(sorted(BASE_TOKEN.items())), "tree", 2, 4))
            out += _pair(sweep, "step", BASE_STEP, 4, 2)
        elif sweep == "branching":
            for b in ((2, 3, 4, 6, 8, 12) if full else (2, 3, 4, 6, 8)):
                out += _pair(sweep, "token", BASE_TOKEN, b, 2)
        elif sweep == "budget":
            for levels in range(2, 7):
                out += _pair(sweep, "token", BASE_TOKEN, 2, levels)
        elif sweep == "conditions":
            for depth in ((3, 6, 9) if full else (3, 8)):
                for p in (0.1, 0.5):
                    for reward in ("binary", "noisy"):
                        out += _pair(sweep, "token", dict(BASE_TOKEN, depth=depth, success_rate=p, reward=reward), 4, 2)
            for entropy in ("peaked_early", "peaked_late"):
                out += _pair(sweep, "token", dict(BASE_TOKEN, entropy=entropy), 4, 2)
            for decisive in ("early", "spread"):
                out += _pair(sweep, "token", dict(BASE_TOKEN, decisive=decisive), 4, 2)
        elif sweep == "map":
            for env in map_environments(full):
                key = tuple(sorted(env.items()))
                out += [Cell(sweep, "token", key, regime, b, 1, chains=third) if regime == "adaptive"
                        else Cell(sweep, "token", key, regime, b, third)
                        for regime, b, third in map_shapes(env["depth"], full)]
        elif sweep == "cutoff":
            for reward, mode in (("binary", "sound"), ("graded", "any")):
                env = dict(map_environments(False)[0], depth=6, success_rate=0.2, reward=reward, decisive="spread",
                           n_decisive=3)
                key = tuple(sorted(env.items()))
                out += [Cell(sweep, "token", key, regime, b, levels, cutoff=m) for regime, b, levels in CUTOFF_SHAPES
                        for m in ("off", mode)]
        elif sweep == "turns":
            for g in ((4, 8, 16, 32, 64) if full else (4, 8, 16, 32)):
                out.append(Cell(sweep, "graph", (("seed", 0),), "iid", g))
            out.append(Cell(sweep, "graph", (("seed", 0),), "iid", 8, signature="state"))
    return out


def run_cell(cell: Cell, *, size: str, seed: int, mc_rollouts: int = 8, tick=None, token_variants=None,
             turn_variants=None):
    """Measure one cell; returns a :class:`~treecredit.lab.runner.CellResult` (map cells: ``MAP_SIZES``)."""
    check_choice(size, tuple(SIZES), "size")
    n_blocks, per_block = (MAP_SIZES if cell.sweep in ("map", "cutoff") else SIZES)[size]
    args = dict(cell.env_args)
    if cell.env == "graph":
        env = make_state_graph(**args)
        return run_turn_cell(env, group_size=cell.branching, n_blocks=n_blocks, groups_per_block=per_block,
                             variant_list=turn_variants if turn_variants is not None else variants("turn"),
                             seed=seed, signature=cell.signature, tick=tick)
    mdp = make_tabular_mdp(**args)
    depths = [0] if cell.regime in ("iid", "adaptive") else branch_schedule(mdp.depth, cell.levels)
    if len(depths) != cell.levels and cell.regime == "tree":
        cell_levels = len(depths)
        raise ValueError(f"levels: {cell.levels} levels do not fit depth {mdp.depth} ({cell_levels} fit). "
                         f"Fix: use at most {mdp.depth} levels.")
    return run_token_cell(mdp, branching=cell.branching, branch_depths=depths, n_blocks=n_blocks,
                          groups_per_block=per_block,
                          variant_list=(token_variants if token_variants is not None
                                        else variants("token", mc_rollouts=mc_rollouts)),
                          seed=seed, mc_rollouts=mc_rollouts, tick=tick, cutoff=cell.cutoff,
                          adaptive=dict(chains=cell.chains) if cell.regime == "adaptive" else None)


def generated_tokens(cell: Cell) -> int | None:
    """Tokens generated per group: Σ over tree levels of (nodes at that level) × (segment length).

    i.i.d. G: G·D·L. A tree shares its segments, so at the same leaf budget it generates fewer tokens.
    None where it depends on the sample (graph, adaptive cells: the run measures it)."""
    if cell.env == "graph" or cell.regime == "adaptive":
        return None
    args = dict(cell.env_args)
    mdp_depth, step_len = args["depth"], args.get("step_len", 1)
    depths = [0] if cell.regime == "iid" else list(branch_schedule(mdp_depth, cell.levels))
    bounds = depths + [mdp_depth]
    return int(sum(cell.branching ** (i + 1) * (bounds[i + 1] - bounds[i]) * step_len for i in range(len(depths))))


def environment_facts(cell: Cell) -> dict:
    """Exact properties of the cell's environment (success rate, reward variance)."""
    args = dict(cell.env_args)
    if cell.env == "graph":
        env = make_state_graph(**args)
        return dict(success_rate=env.success_rate, reward_var=env.success_rate * (1 - env.success_rate),
                    label=env.description)
    mdp = make_tabular_mdp(**args)
    return dict(success_rate=mdp.success_rate, reward_var=mdp.reward_variance, label=mdp.description)


def run_sweeps(sweeps=SWEEPS, *, size: str = "quick", full: bool = False, seed: int = 0, mc_rollouts: int = 8,
               progress: bool = True) -> list[dict]:
    """Run every cell; return flat records ``{cell fields, estimator, metric: value, metric_lo, metric_hi}``."""
    from tqdm.auto import tqdm

    check_choice(size, tuple(SIZES), "size")
    todo = cells(sweeps, full=full)
    token_vars, turn_vars = variants("token", mc_rollouts=mc_rollouts), variants("turn")
    map_vars = [v for v in token_vars if v.name in MAP_ESTIMATORS and not v.options and v.mc is None]
    normalised = {"token": {v.label: v.normalised for v in token_vars},
                  "turn": {v.label: v.normalised for v in turn_vars}}
    records: list[dict] = []
    total = sum((MAP_SIZES if c.sweep in ("map", "cutoff") else SIZES)[size][0] for c in todo)
    with tqdm(total=total, desc="treecredit lab", unit="batch", disable=not progress) as bar:
        for i, cell in enumerate(todo):
            bar.set_postfix_str(f"{cell.sweep}:{cell.env}:{cell.regime}:B{cell.branching}L{cell.levels}"
                                f"{f'M{cell.chains}' if cell.chains else ''}")
            result = run_cell(cell, size=size, seed=seed * 100_003 + i, mc_rollouts=mc_rollouts,
                              tick=lambda: bar.update(1),
                              token_variants=map_vars if cell.sweep in ("map", "cutoff") else token_vars,
                              turn_variants=turn_vars)
            measured = getattr(result, "tokens_per_group", None)
            leaves = getattr(result, "leaves_per_group", None)
            n_blocks = (MAP_SIZES if cell.sweep in ("map", "cutoff") else SIZES)[size][0]
            base = dict(cell.describe(), **environment_facts(cell), p_nominal=dict(cell.env_args).get("success_rate"),
                        n_blocks=n_blocks,
                        tokens_per_group=generated_tokens(cell) if measured is None else measured,
                        **({"leaves_per_group": leaves} if leaves is not None else {}),
                        **({f"cutoff_{k}": v for k, v in result.cutoff.items()} if cell.cutoff != "off" else {}))
            for label, metrics in result.metrics.items():
                level = "turn" if cell.env == "graph" else "token"
                row = dict(base, estimator=label, normalised=normalised[level].get(label, False),
                           extra_rollouts=result.extra_rollouts.get(label, 0))
                for m, (v, lo, hi) in metrics.items():
                    row[m], row[m + "_lo"], row[m + "_hi"] = _clean(v), _clean(lo), _clean(hi)
                records.append(add_per_token_metrics(row) if cell.env != "graph" else row)
            for label, why in result.skipped.items():
                records.append(dict(base, estimator=label, skipped=why))
    return records


def _clean(x: float):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
