"""Estimator requirements declared in the registry, and the check compute_advantages makes with them."""

import numpy as np
import pytest

import treecredit
from treecredit.registry import REQUIREMENTS, available_from_options, get_estimator, register_estimator

EXPECTED = {
    ("token", "grpo"): (), ("token", "dr_grpo"): (), ("token", "rloo"): (),
    ("token", "tempo"): (), ("token", "spo"): (), ("token", "treerl"): (), ("token", "treepo"): (),
    ("token", "ibpo"): (),
    ("token", "treerpo"): ("steps|tree",),
    ("token", "vine"): ("steps", "mc_values"),
    ("turn", "grpo"): ("turns",), ("turn", "dr_grpo"): ("turns",), ("turn", "rloo"): ("turns",),
    ("turn", "rtmc"): ("turns",), ("turn", "gigpo"): ("turns",),
}


def test_every_registered_estimator_declares_its_requirements():
    registered = {(level, name) for level in ("token", "turn") for name in treecredit.estimators(level)}
    assert registered == set(EXPECTED)  # a new estimator must be added here with its needs
    for (level, name), needs in EXPECTED.items():
        assert get_estimator(name, level=level).requires == needs, (level, name)


def test_missing_reports_unmet_needs_with_alternatives():
    spec = get_estimator("treerpo")
    assert spec.missing([]) == ["steps|tree"]
    assert spec.missing(["tree"]) == [] and spec.missing(["steps"]) == []
    vine = get_estimator("vine")
    assert vine.missing(["steps"]) == ["mc_values"]
    assert vine.missing(["tree", "mc_values"]) == ["steps"]
    assert get_estimator("grpo").missing([]) == []
    with pytest.raises(ValueError, match=r"^available: unknown input name 'step'\. Fix: use names from \["):
        spec.missing(["step"])  # a misspelt "steps" is not read as nothing given


def test_needs_reads_a_need_or_one_of_its_alternatives():
    assert get_estimator("vine").needs("mc_values") and get_estimator("vine").needs("steps")
    assert get_estimator("treerpo").needs("tree") and get_estimator("treerpo").needs("steps")
    assert not get_estimator("tempo").needs("mc_values") and not get_estimator("vine").needs("tree")
    with pytest.raises(ValueError, match=r"^part: unknown input name 'mc_value'\. Fix: use a name from \["):
        get_estimator("vine").needs("mc_value")


def test_available_from_options_ignores_none():
    assert available_from_options({"delimiter": [3], "tree_nodes": None}) == {"steps"}
    assert available_from_options({"tree_nodes": np.zeros((1, 1)), "mc_values": np.zeros((1, 1))}) == {
        "tree", "mc_values"}


def test_unknown_requirement_refused():
    with pytest.raises(ValueError, match="^requires: unknown need 'critic'"):
        register_estimator("never_registered", requires=("steps|critic",))
    assert set(REQUIREMENTS) == {"steps", "tree", "mc_values", "turns"}


BATCH = dict(response_ids=[[1, 2], [1, 3]], response_mask=[[1, 1], [1, 1]], rewards=[1.0, 0.0], group_ids=[0, 0])


@pytest.mark.parametrize("name, options, match", [
    ("treerpo", {}, r"^step_ends: estimator 'treerpo' needs steps or tree.*Fix: .*delimiter.*tree_nodes"),
    ("vine", {}, r"^step_ends: estimator 'vine' needs steps"),
    ("vine", {"step_tokens": 1}, r"^mc_values: estimator 'vine' needs mc_values.*mc_rollouts"),
])
def test_compute_advantages_checks_requirements_first(name, options, match):
    with pytest.raises(ValueError, match=match):
        treecredit.compute_advantages(name, **BATCH, **options)
    # before any work: even an invalid batch gets the requirement error first
    with pytest.raises(ValueError, match=match):
        treecredit.compute_advantages(name, **{**BATCH, "rewards": [np.nan, 0.0]}, **options)


def test_wrong_typed_string_options_and_empty_delimiters_get_fixes_that_work():
    import treecredit

    rewards, groups = [1.0, 0.0, 1.0, 0.0], [0, 0, 0, 0]
    ids = [[1, 2, 3]] * 4
    with pytest.raises(ValueError, match=r"^weights: is list .* Fix: pass weights as a string, e\.g\. "
                                         r"weights='size' \(the default"):
        treecredit.compute_advantages("treepo", rewards=rewards, group_ids=groups, response_ids=ids,
                                      response_mask=[[1, 1, 1]] * 4, weights=[1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"^delimiter: .*Fix: pass a list of ints, e\.g\. "
                                         r"delimiter=tokenizer\.encode\('\\n\\n', add_special_tokens=False\)"):
        treecredit.compute_advantages("treerpo", rewards=rewards, group_ids=groups, response_ids=ids,
                                      response_mask=[[1, 1, 1]] * 4, delimiter=[])


def test_the_evaluation_plan_writes_small_parameter_counts_readably():
    from treecredit.models.param_count import parameter_count_text
    from treecredit.training.evaluation import LARGE_MODEL_PARAMS

    assert parameter_count_text(19_800) == "19.8k" and parameter_count_text(LARGE_MODEL_PARAMS) == "50M"


@pytest.mark.parametrize("level", ["tokens", "Token", "TURN", 3])
def test_an_unknown_level_is_refused_naming_it_and_the_levels(level):
    near = r" \(did you mean '(token|turn)'\?\)" if isinstance(level, str) else ""
    with pytest.raises(ValueError, match=rf"^level: is {level!r}, not one of \['token', 'turn'\]{near}\. Fix: pass"):
        treecredit.estimators(level)
    with pytest.raises(ValueError, match=r"^level: "):
        treecredit.get_estimator("grpo", level=level)


@pytest.mark.parametrize("name,meant", [("GRPO", "grpo"), ("TreeRPO", "treerpo"), ("Dr_GRPO", "dr_grpo")])
def test_an_estimator_name_in_the_wrong_case_gets_the_right_one(name, meant):
    with pytest.raises(ValueError, match=rf"^estimator: unknown token-level estimator '{name}' \(did you mean "
                                         rf"'{meant}'\?\)"):
        treecredit.compute_advantages(name, response_ids=[[1]], response_mask=[[1]], rewards=[1.0], group_ids=[0])
