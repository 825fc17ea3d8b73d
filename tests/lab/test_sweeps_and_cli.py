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
