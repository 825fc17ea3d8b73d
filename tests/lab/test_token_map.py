"""The lab at equal generated tokens: per-token noise, the map, its recommendations."""

import math

import pytest

from treecredit.lab.sweeps import Cell, cells, generated_tokens, run_sweeps
from treecredit.lab.token_map import (
    REFERENCE_RESPONSES,
    add_per_token_metrics,
    best_per_environment,
    map_environments,
    recommendation,
)


def test_per_token_metrics_follow_from_the_group_figures():
    row = {"depth": 4, "budget": 8, "tokens_per_group": 32, "grad_rel_var_u": 3.0, "grad_rel_var_u_lo": 2.0,
               "grad_rel_var_u_hi": 4.0, "grad_mean_cos_u": 0.9, "grad_mean_cos_u_lo": 0.8, "grad_mean_cos_u_hi": 1.0}
    add_per_token_metrics(row)
    assert (row["noise_per_token"], row["noise_per_token_lo"], row["noise_per_token_hi"]) == (96.0, 64.0, 128.0)
    k = REFERENCE_RESPONSES * 4 / 32  # groups in a budget of 128 responses' tokens
    assert row["leaves_at_budget"] == pytest.approx(k * 8)
    assert row["cos_at_budget"] == pytest.approx(0.9 / math.sqrt(1 + 3.0 / k))
    assert row["cos_at_budget_lo"] < row["cos_at_budget"] < row["cos_at_budget_hi"]
    assert row["nmse_at_budget"] == pytest.approx(1 - row["cos_at_budget"] ** 2)


def test_map_cells_charge_trees_their_shared_segments_once():
    map_cells = [c for c in cells(["map"]) if c.sweep == "map"]
    assert {c.regime for c in map_cells} == {"iid", "tree", "adaptive"}
    assert all(c.chains >= 1 and generated_tokens(c) is None for c in map_cells if c.regime == "adaptive")
    assert len(cells(["map"], full=True)) > len(map_cells)
    key = tuple(sorted(dict(map_environments(False)[0]).items()))
    assert generated_tokens(Cell("map", "token", key, "tree", 2, 3)) == 2 + 4 + 8  # D = 3: one action per level
    assert generated_tokens(Cell("map", "token", key, "iid", 8, 1)) == 8 * 3


def test_map_sweep_finds_a_best_arm_per_environment():
    records = run_sweeps(["map"], size="tiny", seed=0, progress=False)
    rows = [r for r in records if "skipped" not in r and r.get("noise_per_token") is not None]
    assert rows and all(r["noise_per_token"] == pytest.approx(r["grad_rel_var_u"] * r["tokens_per_group"])
                        for r in rows)
    entries = best_per_environment(records)
    assert len(entries) == len(map_environments(False))
    for e in entries:
        assert e["grpo"].startswith("grpo @ i.i.d.") and e["tree_regime"] == "tree" and e["iid_step_regime"] == "iid"
        assert e["adaptive"].split(" @ ")[1] == "adaptive G=16 M=2" and e["adaptive_token_share"] < 1
        assert e["iid_step_estimator"] not in ("grpo", "rloo", "dr_grpo")
        assert e["best_gain"] >= max(e["tree_gain"], e["adaptive_gain"], e["iid_step_gain"]) - 1e-12  # the best arm
        assert "GRPO" in recommendation(e)


def test_cutoff_saves_tokens_and_sound_cut_values_are_exact():
    import numpy as np

    from treecredit.lab.cutoff import apply_cutoff, generated_per_group
    from treecredit.lab.sampling import branch_schedule, sample_forest
    from treecredit.lab.tabular import make_tabular_mdp

    binary = make_tabular_mdp(depth=5, success_rate=0.2, decisive="spread", n_decisive=3, seed=2)
    graded = make_tabular_mdp(depth=5, success_rate=0.2, decisive="spread", n_decisive=3, reward="graded", seed=2)
    for mdp, mode in ((binary, "sound"), (graded, "any")):
        batch = sample_forest(mdp, np.random.default_rng(0), n_groups=8, branching=2,
                              branch_depths=branch_schedule(5, 3))
        off, cut = apply_cutoff(batch, "off"), apply_cutoff(batch, mode)
        assert generated_per_group(batch, off["alive"]) == 2 + 4 * 2 + 8 * 2  # levels at depths 0, 1, 3
        assert generated_per_group(batch, cut["alive"]) < generated_per_group(batch, off["alive"])
        assert cut["cut_rows"].any() and (cut["alive"][:, 0]).all()
        assert (cut["alive"][:, 1:] <= cut["alive"][:, :-1]).all()  # a cut response stays cut
        if mode == "sound":
            assert np.abs(cut["value_error"]).max() == 0.0  # the assigned value is the exact one
        else:
            assert cut["value_error"].mean() < 0  # a wrong step is not fatal: V* > 0 but 0 is assigned
    assert not apply_cutoff(sample_forest(graded, np.random.default_rng(0), n_groups=4, branching=4,
                                          branch_depths=[0]), "sound")["cut_rows"].any()  # never constant


def test_cutoff_sweep_records_savings():
    records = run_sweeps(["cutoff"], size="tiny", seed=0, progress=False)
    cut = [r for r in records if r.get("cutoff") != "off" and "skipped" not in r]
    assert cut and all(0 < r["cutoff_tokens_saved"] < 1 for r in cut)
    assert {r["cutoff_value_bias"] for r in cut if r["cutoff"] == "sound"} == {0.0}


def test_an_arm_with_a_biased_gradient_direction_is_not_recommended():
    from treecredit.lab.token_map import direction_ok

    def row(estimator, regime, noise, cos_hi, budget=16):
        return dict(sweep="map", estimator=estimator, regime=regime, branching=4 if regime == "tree" else budget,
                    levels=2 if regime == "tree" else 1, budget=budget, tokens_per_group=10, depth=3, p_nominal=0.2,
                    reward="binary", decisive="late", success_rate=0.2, reward_var=0.16, noise_per_token=noise,
                    noise_per_token_lo=noise * 0.9, noise_per_token_hi=noise * 1.1, grad_mean_cos_u=cos_hi - 0.05,
                    grad_mean_cos_u_hi=cos_hi)

    rows = [row("grpo", "iid", 100.0, 1.0), row("ibpo", "tree", 10.0, 0.9), row("treerl", "tree", 50.0, 0.99),
            row("tempo", "iid", 80.0, 1.0)]
    assert not direction_ok(rows[1]) and direction_ok(rows[2])
    (entry,) = best_per_environment(rows)
    assert entry["best_estimator"] == "treerl" and entry["best_gain"] == pytest.approx(2.0)
    assert entry["iid_step_estimator"] == "tempo" and entry["excluded_biased"] == ["ibpo on 1 shape (cos 0.85–0.85)"]


def test_a_map_cell_without_an_interval_says_so_instead_of_printing_nan():
    """A tiny lab has too few batches for a gain interval: the table says "no interval", the recommendation
    says why, instead of "[nan, nan]" and "not significantly better"."""
    from treecredit.lab.map_report import recommendations_table

    entry = dict(depth=6, p_nominal=0.1, success_exact=0.1, reward="binary", reward_var=0.09, decisive="late",
                 best_estimator="treerl", best_regime="tree", best_levels=3, best_branching=2, best_gain=7.2,
                 best_gain_lo=math.nan, best_gain_hi=math.nan, tree="treerl @ tree B=2 L=3", tree_gain=7.2,
                 tree_gain_lo=math.nan, tree_gain_hi=math.nan, grpo="grpo @ i.i.d. G=8")
    assert recommendation(entry).endswith("(no 95 % interval: too few batches at this size; run --size quick or full)")
    row = recommendations_table([entry])[-1]
    assert "nan" not in row and "treerl @ tree B=2 L=3: 7.2 [no interval]" in row
    entry.update(best_gain_lo=0.8, best_gain_hi=9.0)
    assert recommendation(entry).endswith("(not significantly better than GRPO at 95 %)")
