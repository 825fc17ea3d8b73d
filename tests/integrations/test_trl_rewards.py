"""TreeCreditGRPOTrainer and TRL's rewards: an estimator that needs rewards in [0, 1] (TreeRPO's default
``scale="bernoulli"``) is refused when the trainer is built if the weighted reward functions can leave
[0, 1]; a reward that leaves it during training stops with the fix in the trainer's terms
(``estimator_options``), not the CLI's flags. GRPOConfig ``scale_rewards="none"`` becomes ``norm_by_std=False``."""

import re
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))

import test_trl_checks  # noqa: E402
from test_trl import count_a, count_letters  # noqa: E402
from test_trl_tree import _args, _tokenizer  # noqa: E402
from test_trl_tree import _train as train  # noqa: E402

from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402

trl_init, model = test_trl_checks.trl_init, test_trl_checks.model  # fixtures: TRL's __init__ recorded, a tiny model


def _build(tmp_path, model, reward_funcs, args=None, **kwargs):
    return TreeCreditGRPOTrainer(model=model, reward_funcs=reward_funcs, args=args or _args(tmp_path),
                                 processing_class=_tokenizer(), **kwargs)


@pytest.mark.parametrize("reward_funcs,weights,why", [
    ([count_a, count_letters], None, r"the 2 reward function\(s\) \[count_a, count_letters\] with reward_weights 1 "
                                     r"each \(GRPOConfig's default\) add up to a reward in \[0, 2\]"),
    ([count_a, count_letters], [1.0, -0.5], r"reward_weights=\[1.0, -0.5\] add up to a reward in \[-0.5, 1\]"),
    ([count_a], [2.0], r"reward_weights=\[2.0\] add up to a reward in \[0, 2\]"),
    ("some/reward-model", None, r"reward_funcs \[some/reward-model\] hold a reward model"),
])
@pytest.mark.parametrize("sampler", ["iid", "tree"])
def test_rewards_that_can_leave_the_unit_interval_are_refused_when_the_trainer_is_built(
        tmp_path, trl_init, model, reward_funcs, weights, why, sampler):
    with pytest.raises(ValueError) as caught:
        _build(tmp_path, model, reward_funcs, args=_args(tmp_path, reward_weights=weights), estimator="treerpo",
               estimator_options={"tau": 0.2}, sampler=sampler, step_pattern="\n\n" if sampler == "iid" else None)
    message = str(caught.value)
    assert message.startswith("estimator: 'treerpo' with estimator_options={'tau': 0.2} needs rewards in [0, 1]")
    assert re.search(why, message), message
    assert "Fix: pass estimator_options={'tau': 0.2, 'scale': 'std'} or {'tau': 0.2, 'scale': 'none'}" in message
    assert "--estimator-option" not in message and "treecredit train" not in message
    assert trl_init == [] and model.calls == []  # before TRL built anything


def test_weights_that_sum_to_one_up_to_rounding_are_accepted(tmp_path, trl_init, model):
    weights = [0.2, 0.4, 0.3, 0.1]  # sum to 1.0000000000000002 in floats; the estimator accepts such a rounding
    _build(tmp_path, model, [count_a, count_letters, count_a, count_letters],
           args=_args(tmp_path, reward_weights=weights), estimator="treerpo", step_pattern="\n\n")
    assert len(trl_init) == 1


@pytest.mark.parametrize("estimator,options,weights", [
    ("treerpo", {"scale": "std"}, None),  # the fix: no Bernoulli variance
    ("treerpo", {"scale": "none"}, [1.0, 3.0]),
    ("treerpo", {}, [0.5, 0.5]),  # each 0 to 1: the sum stays in [0, 1]
    ("tempo", {}, [1.0, 3.0]),  # any range
])
def test_rewards_the_estimator_takes_are_accepted(tmp_path, trl_init, model, estimator, options, weights):
    _build(tmp_path, model, [count_a, count_letters], args=_args(tmp_path, reward_weights=weights),
           estimator=estimator, estimator_options=options, step_pattern="\n\n")
    assert len(trl_init) == 1


def completion_length(completion_ids, **kwargs):
    """Reward: the completion's length in tokens (above 1 for every completion longer than one token)."""
    return [float(len(ids)) for ids in completion_ids]


def test_a_reward_leaving_the_unit_interval_during_training_names_the_trainers_fix(tmp_path):
    # One plain function with weight 1 passes the check when the trainer is built (its range is unknown);
    # its rewards above 1 stop the first step with the fix in the trainer's terms
    with pytest.raises(ValueError) as caught:
        train(tmp_path, estimator="treerpo", reward=completion_length, estimator_options={"step_tokens": 2})
    message = str(caught.value)
    assert re.match(r"rewards: are outside \[0, 1\] \(from \S+ to \S+\), which scale='bernoulli' needs .* \(the "
                    r"weighted sum of the reward functions, at global step 0\)\. Fix: pass estimator_options="
                    r"\{'step_tokens': 2, 'scale': 'std'\} or \{'step_tokens': 2, 'scale': 'none'\}", message), message
    assert "--estimator-option" not in message and "treecredit train" not in message


def _built_quietly(tmp_path, model, **kwargs):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = _build(tmp_path, model, count_a, **kwargs)
    return trainer, [str(w.message) for w in caught if "does not apply GRPOConfig" in str(w.message)]


@pytest.mark.parametrize("scale", ["none", False])
@pytest.mark.parametrize("estimator,options", [("grpo", {}), ("tempo", {}), ("spo", {}),
                                               ("grpo", {"norm_by_std": False}), ("ibpo", {"epsilon": 0.1})])
def test_scale_rewards_none_switches_the_group_std_off(tmp_path, trl_init, model, scale, estimator, options):
    # as verl's norm_adv_by_std_in_grpo=False: one estimator name, the same advantages in every host
    trainer, warned = _built_quietly(tmp_path, model, args=_args(tmp_path, scale_rewards=scale), estimator=estimator,
                                     estimator_options=options)
    assert trainer.estimator_options == {**options, "norm_by_std": False} and warned == []


@pytest.mark.parametrize("estimator", ["grpo", "spo"])
def test_trls_default_scale_rewards_keeps_the_estimators_own_default(tmp_path, trl_init, model, estimator):
    trainer, warned = _built_quietly(tmp_path, model, args=_args(tmp_path, scale_rewards="group"), estimator=estimator)
    assert trainer.estimator_options == {} and warned == []


def test_scale_rewards_none_against_norm_by_std_true_is_refused_naming_both(tmp_path, trl_init, model):
    with pytest.raises(ValueError, match=r"^estimator_options\['norm_by_std'\]: is True, but GRPOConfig "
                                         r"scale_rewards='none' asks for no division .*Fix: drop one of them"):
        _build(tmp_path, model, count_a, args=_args(tmp_path, scale_rewards="none"), estimator="tempo",
               estimator_options={"norm_by_std": True})
    assert trl_init == []


def test_scale_rewards_the_estimator_cannot_apply_is_still_warned_about(tmp_path, trl_init, model):
    trainer, warned = _built_quietly(tmp_path, model, args=_args(tmp_path, scale_rewards="none"), estimator="treerpo",
                                     estimator_options={"scale": "std"}, step_pattern="\n\n")
    assert trainer.estimator_options == {"scale": "std"}
    assert len(warned) == 1 and "'treerpo' has no norm_by_std option" in warned[0]


def test_an_estimator_name_in_the_wrong_case_gets_the_right_one():
    with pytest.raises(ValueError, match=r"^estimator: unknown token-level estimator 'GRPO' \(did you mean 'grpo'\?\)"):
        TreeCreditGRPOTrainer(model=None, estimator="GRPO")


@pytest.mark.parametrize("options,weights,refused", [
    ({"tau": 0.2}, None, True),  # needs [0, 1], and two functions can reach 2: refused
    ({"scale": "std"}, [1.0, 3.0], False),  # takes any range: accepted
])
def test_the_test_batch_runs_once_per_reward_range(tmp_path, trl_init, model, monkeypatch, options, weights, refused):
    # The option check's test run (rewards [1, 0, 0, 1]) also tells the range check that rewards in [0, 1] pass:
    # only rewards outside [0, 1] are tried again
    from treecredit.integrations import _grpo_layout

    runs = []
    real = _grpo_layout.grouped_completion_advantages
    monkeypatch.setattr(_grpo_layout, "grouped_completion_advantages",
                        lambda *a, rewards, **k: runs.append(rewards.tolist()) or real(*a, rewards=rewards, **k))
    build = lambda: _build(tmp_path, model, [count_a, count_letters], args=_args(tmp_path, reward_weights=weights),  # noqa: E731
                           estimator="treerpo", estimator_options=options, step_pattern="\n\n")
    if refused:
        with pytest.raises(ValueError, match="needs rewards in"):
            build()
    else:
        build()
    assert runs.count([1.0, 0.0, 0.0, 1.0]) == 1, runs
    assert len(runs) == (2 if refused else 3)  # the option check, then one or both rewards outside [0, 1]


def test_the_range_check_shares_the_clis_range_arithmetic():
    from treecredit.integrations._trl_checks import weighted_reward_range

    assert weighted_reward_range([count_a, count_letters], [1.0, -0.5]) == (-0.5, 1.0)
    assert weighted_reward_range(["some/reward-model"], [1.0]) is None
