"""VinePPO: step differences of given Monte Carlo values, and its required inputs."""

import numpy as np
import pytest
from tree_cases import IDS, degenerate_checks, run, run_distinct

MC = np.array([[0.2, 0.4, 0.9, 0.0], [0.3, 0.1, 0.0, 0.0], [0.6, 0.7, 0.0, 0.0],
               [0.5, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.0]])


def test_hand_computed_steps():
    adv = run("vine", mc_values=MC, step_tokens=2)
    # row A: steps [0,1], [2,3]; V̂(prompt) = group mean 0.5, V̂ after step 0 = MC[0, 1] = 0.4, after the last = r = 1
    np.testing.assert_allclose(adv[0], [0.4 - 0.5, 0.4 - 0.5, 1 - 0.4, 1 - 0.4], rtol=1e-6)
    np.testing.assert_allclose(adv[1, :3], [0.1 - 0.5, 0.1 - 0.5, 0 - 0.1], rtol=1e-6)
    np.testing.assert_allclose(adv[3, :2], [0 - 0.5, 0 - 0.5], rtol=1e-6)
    with_prompt = run("vine", mc_values=MC, step_tokens=2, prompt_values=np.full(5, 0.2))
    np.testing.assert_allclose(with_prompt[0, :2], 0.4 - 0.2, rtol=1e-6)


def test_one_step_responses_reduce_to_dr_grpo():
    mc = np.zeros((4, 3))
    np.testing.assert_allclose(run_distinct("vine", mc_values=mc, step_tokens=3), run_distinct("dr_grpo"), atol=1e-7)


def test_degenerate_cases():
    degenerate_checks("vine", mc_values=np.full(IDS.shape, 0.5), step_tokens=1)


def test_required_inputs_are_named():
    with pytest.raises(ValueError, match="^mc_values: .*tree sampler"):
        run("vine", step_tokens=2)
    with pytest.raises(ValueError, match="^step_ends: "):
        run("vine", mc_values=MC)
    with pytest.raises(ValueError, match="^mc_values: "):
        run("vine", mc_values=MC[:, :2], step_tokens=2)
    bad = MC.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="^mc_values"):
        run("vine", mc_values=bad, step_tokens=2)
    with pytest.raises(ValueError, match="^prompt_values: "):
        run("vine", mc_values=MC, step_tokens=2, prompt_values=np.zeros(3))


def test_bad_mc_values_are_named_with_their_row_and_column():
    """review42 #7: a NaN was reported at its index among the gathered step ends; a huge finite value overflowed
    float32 and the error blamed the estimator's code."""
    from treecredit import compute_advantages

    args = dict(response_ids=np.array([[1, 2, 3], [1, 3, 2]]), response_mask=np.ones((2, 3), int),
                rewards=np.array([1.0, 0.0]), group_ids=[0, 0], step_tokens=1)
    mc = np.zeros((2, 3))
    mc[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"^mc_values: is NaN or infinite at step ends \(row, column\) \[\(1, 0\)\]"):
        compute_advantages("vine", **args, mc_values=mc)
    mc[1, 0] = 0.0
    mc[1, 1] = -1e39
    with pytest.raises(ValueError, match=r"^mc_values: reaches -1e\+39 at \(row, column\) \(1, 1\).*Fix: rescale"):
        compute_advantages("vine", **args, mc_values=mc)
    with pytest.raises(ValueError, match=r"^prompt_values: reaches 1e\+39 at row 1"):
        compute_advantages("vine", **args, mc_values=np.zeros((2, 3)), prompt_values=[0.0, 1e39])
    mc[1, 1], mc[0, 2] = 0.0, np.nan  # the last step's end is never read: no refusal
    assert np.isfinite(compute_advantages("vine", **args, mc_values=mc)).all()
