"""Writing the lab's report directory: ``report.md``, ``results.json``, ``results.csv``, ``claims.json``, PNGs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from treecredit.lab.map_report import cutoff_markdown, map_markdown, plot_map
from treecredit.lab.plots import plot_branching, plot_budget, plot_conditions
from treecredit.lab.token_map import shape_label

HEADLINE_METRICS = ("rmse", "rms_bias", "sd", "gain", "rank_corr", "sign_agree", "grad_cos", "grad_rel_var")
TURN_METRICS = ("rmse", "rms_bias", "sd", "gain", "rank_corr", "sign_agree", "grad_cos", "grad_rel_var")

DEFINITIONS = """\
**What is compared with what.** Every token's advantage Â is compared with the exact advantage
A*(s, a) = Q*(s, a) − V*(s) of the state-action node it was generated in (token MDP: the prefix and the
token; step MDP: the step prefix and the step, on each of the step's tokens; state graph: turn, state,
action), computed by dynamic programming. Token metrics count every response token once (a shared tree
segment counts once per leaf below it, which is its on-policy weight).

- **rmse**: √E(Â − A*)². **rms_bias** = √E_node[(E[Â | node] − A*)²] and **sd** = √E_node[Var(Â | node)],
  so rmse² = rms_bias² + sd² (nodes visited at least twice; unbiased per-node correction).
- **gain**: least-squares slope of Â on A* (1 = right scale; a leave-self-in sibling mean gives 1 − 1/B).
- **rank_corr**: Spearman ρ(Â, A*) within a group; **sign_agree**: share of tokens with A* ≠ 0 whose
  sign Â matches (Â = 0 counts one half).
- **grad_cos**: cosine between the per-group policy-gradient estimate ĝ = (1/G) Σ Σ Â ∇log π(a|s) and the
  exact gradient ∇J of the softmax tabular policy; **grad_rel_var** = tr Cov(ĝ) / ‖E ĝ‖², the
  noise-to-signal ratio of ĝ (lower is better).
- **Normalised estimators** (GRPO's 1/σ, Bernoulli or std scales, 1/√|L|) are not on A*'s scale: their
  rmse, rms_bias and sd carry that scale. Compare them by gain, rank_corr, sign_agree, grad_cos and
  grad_rel_var, which are scale-free, or by their unnormalised variants (`[norm_by_std=False]`,
  `[scale=none]`), which the lab adds wherever an estimator has such an option.
- **Inputs**: on sampled trees every estimator that takes `tree_nodes` gets the sampled tree; on i.i.d.
  groups tree estimators get `step_ends` (the step trie of the group; in the token MDP each action is one
  token, so it is the token trie). `ibpo` and `vine` always get `step_ends`; the core refuses both at once.
- `(oracle A*)` is not an estimator: it uses the exact A* and shows the floor of gradient noise.
- `[mc=K]` (VinePPO) uses K fresh rollouts per prefix, not counted in the leaf budget (column
  extra_rollouts per response); `[mc=exact]` uses the exact V*.
- ± is the 95 % half-width from the delete-one-batch jackknife over independent batches.
"""


def fmt(row: dict, metric: str, digits: int = 3) -> str:
    v = row.get(metric)
    if v is None:
        return "–"
    lo, hi = row.get(metric + "_lo"), row.get(metric + "_hi")
    if lo is None or hi is None:
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g} ±{(hi - lo) / 2:.2g}"


def _regime(row: dict) -> str:
    return shape_label(row)


def table(rows: list[dict], metrics, first=("estimator", "regime")) -> str:
    head = list(first) + list(metrics)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["estimator"] if c == "estimator" else _regime(r) if c == "regime" else str(r.get(c, ""))
                 for c in first]
        lines.append("| " + " | ".join(cells + [fmt(r, m) for m in metrics]) + " |")
    return "\n".join(lines)


def headline_rows(records: list[dict], env: str = "token") -> list[dict]:
    rows = [r for r in records if r.get("sweep") == "headline" and r["env"] == env and "skipped" not in r]
    return sorted(rows, key=lambda r: (r["estimator"], r["regime"] != "iid", -r["branching"]))


def _num(v, digits=3) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def _interval(row, key, lo, hi) -> str:
    if row.get(key) is None:
        return "–"
    if row.get(lo) is None:
        return _num(row[key])
    return f"{row[key]:.3g} [{row[lo]:.3g}, {row[hi]:.3g}]"


def _c1_table(rows: list[dict]) -> list[str]:
    out = ["| estimator | slope of rms_bias vs B [95 %] | verdict | slope of abs(1 − gain) vs B [95 %] | verdict |",
           "|---|---|---|---|---|"]
    for c in rows:
        out.append(f"| {c['estimator']} | {_interval(c, 'bias_slope', 'bias_lo', 'bias_hi')} | {c['verdict']} | "
                   f"{_interval(c, 'atten_slope', 'atten_lo', 'atten_hi')} | {c.get('atten_verdict', '–')} |")
    return out


def _c2_table(rows: list[dict]) -> list[str]:
    out = ["| estimator | log–log slope of var [95 %] | verdict | a [95 %] | tree term c [95 %] | reduced χ² |",
           "|---|---|---|---|---|---|"]
    for c in rows:
        out.append(f"| {c['estimator']} | {_interval(c, 'var_slope', 'var_slope_lo', 'var_slope_hi')} | "
                   f"{c['verdict']} | "
                   f"{_interval(c, 'a', 'a_lo', 'a_hi')} | {_interval(c, 'tree_term', 'tree_lo', 'tree_hi')} | "
                   f"{_num(c.get('chi2_red'))} |")
    return out


def _not_run(sweep: str, what: str = "this claim needs") -> list[str]:
    return [f"Not run: {what} the `{sweep}` sweep, which this run left out (`treecredit lab --sweeps "
            f"{sweep}`, or no `--sweeps` for all)."]


SUMMARY_SWEEPS = ("headline", "branching", "conditions", "map")
"""The sweeps that :func:`treecredit.lab.claims.summary_lines` and ``map_summary_lines`` draw on."""


def summary_markdown(summary: list[str], sweeps) -> list[str]:
    """The lines of the report's summary, or what to run when the sweeps it draws on were left out."""
    if summary:
        return [f"- {line}" for line in summary]
    ran = [s for s in SUMMARY_SWEEPS if s in (sweeps or ())]
    names = ", ".join(f"`{s}`" for s in SUMMARY_SWEEPS)
    if ran:
        return [f"No figure to summarise: the sweeps it draws on ({', '.join(ran)}) gave none; see the sections "
                "below."]
    return [f"Not run: the summary draws on the {names} sweeps, which this run left out (`treecredit lab "
            "--sweeps headline`, or no `--sweeps` for all)."]


def claims_markdown(claims: dict) -> str:
    out = ["## The seed's claims, tested", "",
           "### C1: does the bias fall like 1/B? (two-level trees, branching B, budget B²)", "",
           "Only estimators on A*'s scale are fitted in C1 and C2; left out as normalised (their bias and "
           "variance carry a data-dependent scale): " + (", ".join(claims.get("excluded_normalised", [])) or "none")
           + ". rms_bias is against the per-token A*, so it keeps a floor that branching cannot remove (one "
           "advantage per tree segment or per response, whatever the tokens inside it did); |1 − gain| isolates "
           "the O(1/B) shrinkage of a leave-self-in sibling mean. A verdict of *inconclusive* means the 95 % "
           "interval holds both −1 and 0.", "",
           ]
    out += _c1_table(claims["bias"]) if claims["bias"] else _not_run("branching")
    if claims.get("bias_root"):
        out += ["", "The same on the tokens of the first tree segment only (depth < the second branch depth), "
                "where a tree estimator's values average the most leaves:", ""] + _c1_table(claims["bias_root"])
    out += ["", "### C2: does the variance fall like σ²/B, and what is the tree term?", "",
            "Fit var(B) = a/B + c over the branching sweep (c = the tree term that more branching does not remove). "
            "var is the mean over nodes of Var(Â | node): it holds the noise of every token, including the leaf "
            "segment's r − V̂(parent), which keeps one leaf's reward noise whatever B is.", ""]
    out += _c2_table(claims["variance"]) if claims["variance"] else _not_run("branching")
    if claims.get("variance_root"):
        out += ["", "The same on the first tree segment's tokens only:", ""] + _c2_table(claims["variance_root"])
    out += ["", "### C3: variance reduction over GRPO, by condition (tree B=4, L=2 vs i.i.d. G=16)", ""]
    out += ["grad factor = grad_rel_var(grpo, i.i.d.) / grad_rel_var(estimator, tree); mse factor = "
            "mse(dr_grpo, i.i.d.) / mse(estimator, tree), only for estimators on A*'s scale that are not exact "
            "(– otherwise); > 1 means the tree estimator is less noisy.", "",
            "| D | p | reward | entropy | decisive | Var r | estimator | grad factor [95 %] | mse factor [95 %] "
            "| same estimator, tree vs i.i.d. |",
            "|---|---|---|---|---|---|---|---|---|---|"] if claims["reduction"] else _not_run("conditions")
    for c in claims["reduction"]:
        out.append(f"| {c['depth']} | {c['success_rate']:g} | {c['reward']} | {c['entropy']} | {c['decisive']} | "
                   f"{_num(c.get('reward_var'))} | {c['estimator']} | "
                   f"{_interval(c, 'grad_ratio', 'grad_lo', 'grad_hi')} | "
                   f"{_interval(c, 'mse_ratio', 'mse_lo', 'mse_hi')} | "
                   f"{_interval(c, 'tree_vs_iid', 'tree_vs_iid_lo', 'tree_vs_iid_hi')} |")
    out += ["", "### C4: gradient noise against the leaf budget", ""]
    out += ["| regime | estimator | slope of grad_rel_var vs budget [95 %] | verdict | slope of mse [95 %] |",
            "|---|---|---|---|---|"] if claims["budget"] else _not_run("budget")
    for c in claims["budget"]:
        out.append(f"| {c['regime']} | {c['estimator']} | {_interval(c, 'grad_slope', 'grad_lo', 'grad_hi')} | "
                   f"{c['verdict']} | {_interval(c, 'mse_slope', 'mse_lo', 'mse_hi')} |")
    return "\n".join(out)


def write_report(records: list[dict], claims: dict, out_dir: Path, *, command: str, meta: dict,
                 summary: list[str]) -> dict:
    """Write every file of the report; return their paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "csv": out_dir / "results.csv", "claims": out_dir / "claims.json",
             "md": out_dir / "report.md"}
    paths["json"].write_text(json.dumps(dict(meta=meta, records=records), indent=1))
    paths["claims"].write_text(json.dumps(claims, indent=1))
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
    plots = {"branching": plot_branching(records, out_dir / "branching.png"),
             "budget": plot_budget(records, out_dir / "budget.png"),
             "conditions": plot_conditions(claims["reduction"], out_dir / "conditions.png"),
             "map": plot_map(records, out_dir / "map.png")}
    paths.update({k: v for k, v in plots.items() if v is not None})
    md = ["# treecredit lab: every estimator against exact advantages", "",
          f"Command: `{command}` ({meta['size']} size: {meta['blocks']} independent batches × "
          f"{meta['groups_per_block']} groups per cell, map and cutoff cells as stated below; "
          f"seed {meta['seed']}; {meta['seconds']:.0f} s).", "",
          f"Estimators measured (token level): {', '.join(meta['token_estimators']) or 'none'}; "
          f"turn level: {', '.join(meta['turn_estimators']) or 'none registered'}.", "",
          "## Summary", ""] + summary_markdown(summary, meta.get("sweeps")) + [""]
    md += map_markdown(records, plots.get("map"), meta.get("size"))
    md += cutoff_markdown(records)
    md += [DEFINITIONS, "## Headline: token MDP", ""]
    first = headline_rows(records)
    if first:
        md += [f"Environment: {first[0]['label']} (exact success rate {first[0]['success_rate']:.3g}, "
               f"reward variance {first[0]['reward_var']:.3g}).", "", table(first, HEADLINE_METRICS), ""]
    else:
        md += _not_run("headline", "this section needs") + [""]
    step = headline_rows(records, "step")
    if step:
        md += ["## Step MDP (step-level credit; each step is a short token sequence)", "",
               f"Environment: {step[0]['label']}.", "", table(step, HEADLINE_METRICS), ""]
    if "branching" in plots and plots["branching"]:
        md += ["## Bias and variance against the branching", "", "![branching](branching.png)", ""]
    md += [claims_markdown(claims), ""]
    if plots.get("budget"):
        md += ["![budget](budget.png)", ""]
    if plots.get("conditions"):
        md += ["![conditions](conditions.png)", ""]
    turns = [r for r in records if r.get("sweep") == "turns" and "skipped" not in r]
    md += ["## Turn level: state graph", ""]
    if turns:
        md += [f"Environment: {turns[0]['label']} (exact success rate {turns[0]['success_rate']:.3g}).", "",
               table(sorted(turns, key=lambda r: (r["estimator"], r["signature"], r["budget"])), TURN_METRICS,
                     first=("estimator", "regime", "signature")), ""]
    else:
        md += turns_not_measured(meta) + [""]
    md += skipped_markdown(records)
    md += ["## Files", "", "`results.json` / `results.csv`: every figure with its interval (`_lo`, `_hi`); "
           "`claims.json`: the fits above.", ""]
    paths["md"].write_text("\n".join(md))
    return paths


def turns_not_measured(meta: dict) -> list[str]:
    """Why the report has no turn-level table: the ``turns`` sweep was left out (``meta["sweeps"]``: the sweeps
    this run selected; absent: all of them), no turn-level estimator is registered, or every cell was skipped."""
    sweeps = meta.get("sweeps")
    if sweeps is not None and "turns" not in sweeps:
        return _not_run("turns", "this section needs")
    if not meta.get("turn_estimators"):
        return ["No turn-level estimator is registered (`treecredit.estimators(\"turn\")` is empty)."]
    return ["The `turns` sweep ran, but every turn-level cell was skipped (see \"Skipped\" below)."]


def skipped_markdown(records: list[dict]) -> list[str]:
    """The report's "Skipped" section (no lines when no cell was skipped): one line per estimator and reason,
    with the cells it names. The observed range that an error names (``(from -0.34 to 1.1)``, which differs
    from cell to cell) is left out of the reason, so that one refusal is one line."""
    skipped: dict = {}
    for r in records:
        if "skipped" in r:
            why = re.sub(r" \(from \S+ to \S+\)", "", r["skipped"])
            skipped.setdefault((r["estimator"], why), []).append(r.get("label", r.get("env", "")))
    if not skipped:
        return []
    return ["## Skipped", "", "Cells where an estimator refused the lab's inputs with a `ValueError` (its "
            "documented domain, e.g. a Bernoulli scale on rewards outside [0, 1]):", ""] + [
        f"- `{name}` in {len(envs)} cell(s) ({'; '.join(sorted(set(envs)))}): {why}"
        for (name, why), envs in sorted(skipped.items())] + [""]
