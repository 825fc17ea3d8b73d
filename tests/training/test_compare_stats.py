"""compare_stats: the interval's quantile and the p-value come from the same exact t distribution (review42 #5)."""

import math

import numpy as np
import pytest

from treecredit.training.compare_stats import mean_ci, paired_t, t_quantile, t_two_sided_p

# standard two-sided 95% table values (any statistics text)
TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 10: 2.228, 11: 2.201, 14: 2.145, 31: 2.040, 40: 2.021,
         120: 1.980}


@pytest.mark.parametrize("dof", sorted(TABLE))
def test_quantile_is_exact_between_and_beyond_table_rows(dof):
    assert t_quantile(dof) == pytest.approx(TABLE[dof], abs=6e-4)
    assert t_two_sided_p(t_quantile(dof), dof) == pytest.approx(0.05, rel=1e-8)


def test_quantile_for_other_levels_and_bad_input():
    assert t_quantile(1, alpha=0.01) == pytest.approx(63.657, abs=1e-3)
    assert t_quantile(1e6) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0) == 0.0
    with pytest.raises(ValueError, match="^alpha: "):
        t_quantile(3, alpha=0.0)


def test_interval_excludes_zero_exactly_when_p_is_below_five_percent():
    rng = np.random.default_rng(0)
    checked = 0
    for n in (3, 15, 16, 40, 41):
        for _ in range(200):
            a, b = rng.normal(0.3, 1.0, n), rng.normal(0.0, 1.0, n)
            r = paired_t(a, b)
            if abs(abs(r["mean_diff"]) - r["ci95"]) < 1e-9:
                continue
            assert (abs(r["mean_diff"]) > r["ci95"]) == (r["p"] < 0.05), (n, r)
            checked += 1
    assert checked > 900
    mean, half = mean_ci(np.arange(41.0))
    assert half == pytest.approx(TABLE[40] * np.arange(41.0).std(ddof=1) / math.sqrt(41), rel=1e-3)


def test_a_constant_nonzero_difference_gives_p_zero_and_no_width():
    r = paired_t([0.75, 0.5, 0.25], [0.5, 0.25, 0.0])
    assert r["mean_diff"] == 0.25 and r["ci95"] == 0.0 and r["p"] == 0.0 and r["t"] == math.inf
    assert paired_t([0.5, 0.25], [0.75, 0.5])["t"] == -math.inf
    same = paired_t([0.5, 0.25], [0.5, 0.25])  # identical arms: nothing to test
    assert same["ci95"] == 0.0 and math.isnan(same["t"]) and math.isnan(same["p"])


def test_a_nan_score_leaves_the_paired_test_undecided():
    """review43 2: a run with no evaluation value gives a NaN score; the constant-difference branch read
    NaN != 0 as a constant non-zero difference and reported t = inf, p = 0 ("significant")."""
    import math

    from treecredit.training.compare_stats import paired_t

    out = paired_t([1.0, float("nan"), 2.0], [0.0, 0.0, 1.0])
    assert math.isnan(out["t"]) and math.isnan(out["p"])
    assert paired_t([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])["p"] == 0.0  # the real constant difference keeps p = 0


def test_t_quantile_at_infinite_and_nan_degrees_of_freedom():
    """review43 3: an infinite dof gave ~6e-61 (the bracket never closed); it is the normal quantile."""
    import math

    from treecredit.training.compare_stats import t_quantile

    assert abs(t_quantile(math.inf) - 1.959963984540054) < 1e-9
    assert abs(t_quantile(math.inf, 0.01) - 2.5758293035489) < 1e-9
    assert math.isnan(t_quantile(math.nan))
    assert abs(t_quantile(1e6) - t_quantile(math.inf)) < 1e-5
