import math

import pytest
import torch

from treecredit.training.loss import ppo_loss


def _case():
    logp = torch.tensor([[math.log(0.5), math.log(0.9), 0.0], [math.log(0.2), 0.0, 0.0]])
    old = torch.tensor([[math.log(0.25), math.log(0.9), 0.0], [math.log(0.4), 0.0, 0.0]])
    adv = torch.tensor([[1.0, -1.0, 0.0], [-2.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    return logp, old, adv, mask


def test_loss_by_hand():
    logp, old, adv, mask = _case()
    # ratios: 2.0 (A=+1, clipped to 1.2 → −1.2), 1.0 (A=−1 → +1.0), 0.5 (A=−2: min(−1, −1.6) = −1.6 → +1.6)
    terms = [-1.2, 1.0, 1.6]
    loss, stats = ppo_loss(logp, old, adv, mask)
    assert float(loss) == pytest.approx(sum(terms) / 3)
    assert stats["clip_frac"] == pytest.approx(2 / 3)
    loss, _ = ppo_loss(logp, old, adv, mask, aggregation="seq_mean")
    assert float(loss) == pytest.approx(((-1.2 + 1.0) / 2 + 1.6) / 2)
    loss, _ = ppo_loss(logp, old, adv, mask, aggregation="constant", max_length=4)
    assert float(loss) == pytest.approx(sum(terms) / (2 * 4))
    # asymmetric clip: ε_high = 0.5 lets ratio 2 reach 1.5; ε_low = 0.6 lets 0.5 stay unclipped on A<0
    loss, _ = ppo_loss(logp, old, adv, mask, clip_low=0.6, clip_high=0.5)
    assert float(loss) == pytest.approx((-1.5 + 1.0 + 1.0) / 3)


def test_kl_k3_and_entropy_bonus():
    logp, old, adv, mask = _case()
    ref = logp + 0.1 * mask  # q − p = 0.1 on trained tokens
    k3 = math.exp(0.1) - 0.1 - 1
    entropy = torch.full_like(logp, 2.0)
    base, _ = ppo_loss(logp, old, adv, mask)
    loss, stats = ppo_loss(logp, old, adv, mask, ref_logprobs=ref, kl_coef=0.5, entropy=entropy, entropy_coef=0.1)
    assert float(loss) == pytest.approx(float(base) + 0.5 * k3 - 0.1 * 2.0)
    assert stats["kl"] == pytest.approx(k3, rel=1e-5)


def test_gradient_and_empty_batch():
    logp, old, adv, mask = _case()
    logp = logp.clone().requires_grad_(True)
    loss, _ = ppo_loss(logp, old, adv, mask)
    loss.backward()
    # clipped token gets no gradient; masked tokens none; unclipped token 2: d/dp (−r·A)/3 = −r·A/3 = 1/3
    assert logp.grad[0, 0] == 0 and logp.grad[0, 2] == 0
    assert float(logp.grad[0, 1]) == pytest.approx(1 / 3)
    empty = torch.zeros_like(mask)
    for agg in ("token_mean", "seq_mean", "constant"):
        value, _ = ppo_loss(logp, old, adv, empty, aggregation=agg)
        assert value.item() == 0.0


def test_bad_options():
    logp, old, adv, mask = _case()
    with pytest.raises(ValueError, match="^aggregation: .*Fix"):
        ppo_loss(logp, old, adv, mask, aggregation="sum")
    with pytest.raises(ValueError, match="^ref_logprobs: .*Fix"):
        ppo_loss(logp, old, adv, mask, kl_coef=0.1)
