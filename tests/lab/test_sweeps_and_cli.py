"""The sweeps at a reduced size, the claims computed from them, and the ``treecredit lab`` command."""

import argparse
import csv
import json

import pytest

from treecredit.cli import main
from treecredit.lab import command
from treecredit.lab.claims import all_claims
from treecredit.lab.sweeps import cells, run_sweeps


def test_branching_sweep_at_tiny_size_gives_claims():
    records = run_sweeps(["branching"], size="tiny", seed=0, mc_rollouts=2, progress=False)
    assert not [r for r in records if "skipped" in r]
    assert {r["regime"] for r in records} == {"iid", "tree"}
    claims = all_claims(records)
    fitted = {c["estimator"] for c in claims["bias"]}
    assert {"spo", "rloo", "treerpo[scale=none]", "dr_grpo"} <= fitted
    assert not fitted & set(claims["excluded_normalised"])  # normalised estimators are not fitted
    assert {"grpo", "treerl", "tempo"} <= set(claims["excluded_normalised"])
    exact = next(c for c in claims["variance"] if c["estimator"] == "vine[mc=exact]")
    assert exact["verdict"].startswith("exact")
    assert not next(c for c in claims["variance"] if c["estimator"] == "rloo")["verdict"].startswith("exact")
    trees = [r for r in records if r["regime"] == "tree" and r["estimator"] == "spo"]
    assert trees and all(r["var_root"] > 0 for r in trees)  # first-segment metrics are recorded on trees
    assert {c["estimator"] for c in claims["variance_root"]} == fitted


def test_same_seed_same_figures():
    a = run_sweeps(["budget"], size="tiny", seed=3, mc_rollouts=2, progress=False)
    b = run_sweeps(["budget"], size="tiny", seed=3, mc_rollouts=2, progress=False)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_full_sweep_has_more_cells():
    assert len(cells(full=True)) > len(cells())


def test_cli_end_to_end_writes_the_report(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--size", "tiny", "--out", str(out), "--no-progress", "--mc-rollouts", "2"]) == 0
    assert "report:" in capsys.readouterr().out
    for name in ("report.md", "results.json", "results.csv", "claims.json", "branching.png", "budget.png",
                 "conditions.png", "map.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    for heading in ("## Headline: token MDP", "### C1", "### C2", "### C3", "## Turn level", "### Recommendations",
                    "### Equal generated tokens"):
        assert heading in md
    assert "## Skipped" not in md or "tree_nodes: was given together" not in md
    rows = list(csv.DictReader((out / "results.csv").open()))
    records = json.loads((out / "results.json").read_text())["records"]
    assert len(rows) == len(records) > 0
    assert {"estimator", "rmse", "rmse_lo", "rmse_hi", "grad_rel_var"} <= set(rows[0])
    assert (out / "branching.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _args(**over):
    base = dict(full=False, out="unused", sweeps=["headline"], size="tiny", seed=0, mc_rollouts=8, no_progress=True)
    base.update(over)
    return argparse.Namespace(**base)


@pytest.mark.parametrize("over,arg", [({"mc_rollouts": 0}, "--mc-rollouts"), ({"seed": -1}, "--seed"),
                                      ({"size": "huge"}, "size"), ({"sweeps": ["nope"]}, "sweeps")])
def test_bad_values_raise_value_errors_naming_the_argument(over, arg):
    with pytest.raises(ValueError, match=arg):
        command.run(_args(**over))


def test_cli_reports_bad_values_with_exit_code_2(tmp_path, capsys):
    assert main(["lab", "--mc-rollouts", "0", "--out", str(tmp_path)]) == 2
    assert "--mc-rollouts" in capsys.readouterr().err


def test_generated_tokens_count_shared_segments_once():
    from treecredit.lab.sweeps import generated_tokens

    by_shape = {(c.env, c.regime, c.branching, c.levels): generated_tokens(c) for c in cells(["headline"])}
    assert by_shape[("token", "iid", 16, 1)] == 16 * 6
    assert by_shape[("token", "tree", 4, 2)] == 4 * 3 + 16 * 3  # branch depths 0 and 3
    assert by_shape[("token", "tree", 2, 4)] == 2 * 1 + 4 * 2 + 8 * 1 + 16 * 2  # branch depths 0, 1, 3, 4
    assert by_shape[("step", "tree", 4, 2)] == (4 * 2 + 16 * 2) * 3  # 3 tokens per step


def test_one_refusal_is_one_skipped_line_whatever_range_each_cell_saw():
    from treecredit.lab.report import skipped_markdown

    def refused(low, high, label):
        return {"estimator": "treerpo", "label": label, "skipped": f"rewards: are outside [0, 1] (from {low} to "
                f"{high}), which scale='bernoulli' needs. Fix: pass scale='std'"}

    records = [refused(-0.34, 1.1, "D=3"), refused(-1.3, 2.5, "D=8"), refused(-0.4, 1.0, "D=3"), {"estimator": "x"},
               {"estimator": "ibpo", "label": "D=3", "skipped": "other: reason"}]
    lines = [line for line in skipped_markdown(records) if line.startswith("- ")]
    assert lines == ["- `ibpo` in 1 cell(s) (D=3): other: reason",
                     "- `treerpo` in 3 cell(s) (D=3; D=8): rewards: are outside [0, 1], which scale='bernoulli' "
                     "needs. Fix: pass scale='std'"]
    assert skipped_markdown([{"estimator": "x"}]) == []


def test_a_best_gain_without_a_significant_interval_says_so():
    """A tiny lab's intervals can be [nan, nan]: its summary's best gain is then not presented as a finding."""
    from treecredit.lab.token_map import _unsure

    assert _unsure({"tree_gain_lo": 2.7}, "tree") == ""
    assert _unsure({"tree_gain_lo": float("nan")}, "tree") == " (not significant at 95 %)"
    assert _unsure({"tree_gain_lo": 0.9}, "tree") == _unsure({}, "tree") == " (not significant at 95 %)"


def test_a_sweep_named_twice_runs_once_through_the_python_api_too():
    once = run_sweeps(["turns"], size="tiny", seed=1, progress=False)
    twice = run_sweeps(["turns", "turns"], size="tiny", seed=1, progress=False)
    assert json.dumps(twice, sort_keys=True) == json.dumps(once, sort_keys=True)
    assert cells(["map", "turns", "map"]) == cells(["map", "turns"])


def test_a_turns_sweep_left_out_is_said_so_not_that_no_estimator_exists():
    # was: "No turn-level estimator is registered yet" whenever the report had no turn-level record
    from treecredit.lab.report import turns_not_measured

    said = " ".join(turns_not_measured({"sweeps": ["headline"], "turn_estimators": ["rtmc"]}))
    assert said.startswith("Not run:") and "`turns` sweep" in said and "registered" not in said
    assert "registered" in " ".join(turns_not_measured({"sweeps": ["turns"], "turn_estimators": []}))
    assert "skipped" in " ".join(turns_not_measured({"sweeps": ["turns"], "turn_estimators": ["rtmc"]}))


def _head(estimator, regime, rel_var, cos, lo, hi, **extra):
    return dict(sweep="headline", env="token", estimator=estimator, regime=regime, budget=16, branching=16, levels=1,
                grad_rel_var=rel_var, grad_mean_cos_u=cos, grad_mean_cos_u_lo=lo, grad_mean_cos_u_hi=hi, **extra)


def test_summary_ranks_noise_only_among_arms_that_pass_the_direction_rule_and_shows_their_cosine():
    # was: "lowest ...: ibpo" with no word that ibpo's mean gradient is measurably biased
    from treecredit.lab.claims import summary_lines

    records = [_head("grpo", "iid", 16.6, 1.0, 0.99, 1.01), _head("ibpo", "iid", 5.0, 0.80, 0.75, 0.85),
               _head("spo", "iid", 9.0, 0.94, 0.92, 0.96)]
    line = summary_lines(records, {})[0]
    assert "lowest using only the leaf budget, among arms whose cos(E ĝ, ∇J) interval reaches 0.95: spo" in line
    assert "cos(E ĝ, ∇J) 0.94 [0.92, 0.96]; its interval excludes 1" in line
    assert "left out, their mean gradient pointing away from ∇J" in line and line.endswith(": ibpo.")


def test_map_text_states_the_direction_rule_it_applies():
    # was: "not measurably biased" while the rule applied is "interval entirely below 0.95" (e.g. [0.91, 0.97] kept)
    from treecredit.lab.map_report import equal_token_tables, map_markdown

    def arm(estimator, noise, lo, hi):
        return dict(sweep="map", estimator=estimator, regime="iid", branching=8, levels=1, depth=6, p_nominal=0.2,
                    reward="binary", decisive="late", budget=8, noise_per_token=noise, noise_per_token_lo=noise,
                    noise_per_token_hi=noise, tokens_per_group=48, leaves_at_budget=16, grad_mean_cos_u=(lo + hi) / 2,
                    grad_mean_cos_u_lo=lo, grad_mean_cos_u_hi=hi)

    records = [arm("grpo", 30, 0.99, 1.0), arm("ibpo", 10, 0.5, 0.6), arm("spo", 20, 0.91, 0.97)]
    for r in records:
        r.update(success_rate=0.2, reward_var=0.16, entropy="mid", cos_at_budget=0.9)
    text = "\n".join(map_markdown(records, None, "quick"))
    assert "not measurably biased" not in text and "whose 95 % interval of cos(E ĝ, ∇J) reaches 0.95" in text
    table = "\n".join(equal_token_tables(records))
    assert "spo (least noise)" in table and "ibpo" not in table
    table = "\n".join(equal_token_tables([arm("grpo", 30, 0.5, 0.6), arm("ibpo", 10, 0.5, 0.6)]))
    assert "ibpo (least noise; every cos interval below 0.95)" in table
