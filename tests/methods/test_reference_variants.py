"""Where the public reference code differs from the paper: each variant on a hand-computed case (issue 8)."""

import math

import numpy as np
import pytest

from treecredit import compute_advantages


def adv(name, ids, rewards, **options):
    ids = np.asarray(ids)
    return compute_advantages(name, response_ids=ids, response_mask=(ids > 0).astype(int),
                              rewards=np.asarray(rewards, float), group_ids=np.zeros(len(ids), int), **options)


# A = [1 2] r=1, B = [1 3] r=0, C = [4] r=0: node X = [1] holds A and B; centred rewards 2/3, −1/3, −1/3.
TREERL_IDS = [[1, 2], [1, 3], [4, 0]]


def test_treerl_paper_scales_the_sum():
    out = adv("treerl", TREERL_IDS, [1, 0, 0])
    vx = 1 / 6
    np.testing.assert_allclose(out[:, 0], [2 * vx / math.sqrt(2), 2 * vx / math.sqrt(2), -2 / 3], rtol=1e-6)
    # leaf A: GA = 2/3, LA = 2/3 − 1/6; leaf B: GA = −1/3, LA = −1/3 − 1/6
    np.testing.assert_allclose(out[:2, 1], [2 / 3 + 1 / 2, -1 / 3 - 1 / 2], rtol=1e-6)


def test_treerl_reference_code_scales_values_before_the_differences():
    out = adv("treerl", TREERL_IDS, [1, 0, 0], scale_values="before")
    wx = (1 / 6) / math.sqrt(2)  # W(X) = V(X)/√2, W(root) = 0
    np.testing.assert_allclose(out[:, 0], [2 * wx, 2 * wx, -2 / 3], rtol=1e-6)
    np.testing.assert_allclose(out[:2, 1], [2 / 3 + (2 / 3 - wx), -1 / 3 + (-1 / 3 - wx)], rtol=1e-6)
    assert (adv("treerl", TREERL_IDS, [1, 1, 1], scale_values="before") == 0).all()
    with pytest.raises(ValueError, match="^scale_values: "):
        adv("treerl", TREERL_IDS, [1, 0, 0], scale_values="during")


# A = [1 2 5] r=1, B = [1 2 6] r=1, C = [1 3] r=0, D = [4] r=0: X = [1] (A, B, C), Y = [1 2] (A, B).
SPO_IDS = [[1, 2, 5], [1, 2, 6], [1, 3, 0], [4, 0, 0]]


def test_spo_leaf_mean_and_children_mean():
    paper = adv("spo", SPO_IDS, [1, 1, 0, 0])
    # leaf means of centred rewards: V(X) = 1/6, V(Y) = 1/2, V(C) = V(D) = −1/2, V(root) = 0
    np.testing.assert_allclose(paper[0], [1 / 6, 1 / 3, 0], atol=1e-7)
    np.testing.assert_allclose(paper[2, :2], [1 / 6, -2 / 3], rtol=1e-6)
    np.testing.assert_allclose(paper[3, 0], -1 / 2, rtol=1e-6)
    code = adv("spo", SPO_IDS, [1, 1, 0, 0], node_value="children_mean")
    # children means: V(Y) = 1/2, V(X) = mean(1/2, −1/2) = 0, V(root) = mean(0, −1/2) = −1/4
    np.testing.assert_allclose(code[0], [1 / 4, 1 / 2, 0], atol=1e-7)
    np.testing.assert_allclose(code[2, :2], [1 / 4, -1 / 2], rtol=1e-6)
    np.testing.assert_allclose(code[3, 0], -1 / 4, rtol=1e-6)


def test_spo_population_std():
    # under X the centred rewards are 1/2, 1/2, −1/2: Bessel std √(1/3), population std √(2/9)
    sample = adv("spo", SPO_IDS, [1, 1, 0, 0], norm_by_std=True, epsilon=0.0)
    population = adv("spo", SPO_IDS, [1, 1, 0, 0], norm_by_std=True, epsilon=0.0, std="population")
    np.testing.assert_allclose(sample[0, 1], (1 / 3) / math.sqrt(1 / 3), rtol=1e-6)
    np.testing.assert_allclose(population[0, 1], (1 / 3) / math.sqrt(2 / 9), rtol=1e-6)
    with pytest.raises(ValueError, match="^std: "):
        adv("spo", SPO_IDS, [1, 1, 0, 0], std="biased")


def test_treepo_whitening_over_tokens():
    ids = [[1, 2, 3], [2, 0, 0]]  # no shared prefix: values r − μ = 1/2, −1/2 on 3 and 1 tokens
    per_response = adv("treepo", ids, [1, 0], epsilon=0.0)
    np.testing.assert_allclose(per_response[:, 0], [1 / math.sqrt(2), -1 / math.sqrt(2)], rtol=1e-6)
    per_token = adv("treepo", ids, [1, 0], epsilon=0.0, whiten_over="tokens")
    # token mean (3·½ − ½)/4 = ¼; Bessel variance over 4 tokens (3·(¼)² + (¾)²)/3 = ¼
    np.testing.assert_allclose(per_token[0], [0.5, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(per_token[1, 0], -1.5, rtol=1e-6)
    assert (adv("treepo", ids, [1, 1], whiten_over="tokens") == 0).all()
    with pytest.raises(ValueError, match="^whiten_over: "):
        adv("treepo", ids, [1, 0], whiten_over="rows")
