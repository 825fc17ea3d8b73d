"""TreeCreditGRPOTrainer without ``estimator=`` is refused with the project's error naming ``estimator`` and the
choices (trial38 finding 11: Python's bare TypeError "missing 1 required keyword-only argument: 'estimator'")."""

import pytest

pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402


def test_a_trainer_without_an_estimator_names_it_and_the_choices(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("TRL's GRPOTrainer was built")

    monkeypatch.setattr(trl.GRPOTrainer, "__init__", never)
    with pytest.raises(ValueError, match=r"^estimator: is required: .*Fix: pass estimator= one of: dr_grpo, grpo, "
                                         r"ibpo, .*tempo.*estimator='grpo' gives TRL's GRPO advantages") as info:
        TreeCreditGRPOTrainer(model="no-such-model", reward_funcs=lambda prompts, completions, **kw: [0.0])
    assert "vine" not in str(info.value)  # it needs Monte Carlo values, which TRL cannot give
    with pytest.raises(ValueError, match=r"^estimator: is required"):
        TreeCreditGRPOTrainer(model="no-such-model", estimator=None)
