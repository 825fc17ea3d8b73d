"""Built-in verifiers, TRL-convention user functions, weighted sets and failure handling."""

import sys
import textwrap

import pytest

from treecredit.rewards import (
    RewardSet,
    exact_reward,
    final_answer,
    math_reward,
    numeric_reward,
    parse_spec,
)

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)


@pytest.mark.parametrize("completion, answer, expected", [
    ("so the result is \\boxed{\\frac{1}{2}}", "0.5", 1.0),
    ("... #### 288", "#### 288", 1.0),
    ("Therefore \\boxed{288}.", "288", 1.0),
    ("\\boxed{1/2}", "\\frac{1}{2}", 1.0),
    ("\\boxed{x^2+2x}", "x(x+2)", 1.0),
    ("\\boxed{0.25}", "1/4", 1.0),
    ("#### 287", "288", 0.0),
    ("\\boxed{\\frac{1}{3}}", "0.5", 0.0),
])
def test_math_reward_reads_many_notations(completion, answer, expected):
    assert math_reward(prompts=["q"], completions=[completion], answer=[answer], timeout=SECONDS) == [expected]


def test_final_answer_takes_the_last_balanced_box_then_hashes():
    assert final_answer("a \\boxed{1} then \\boxed{\\frac{3}{4}} end") == "\\frac{3}{4}"
    assert final_answer("work\n#### 42\nextra") == "42"
    assert final_answer("  7 ") == "7"


def test_exact_and_numeric():
    assert exact_reward(prompts=["q"] * 3, completions=["Paris", " paris ", "\\boxed{Paris}"],
                        answer=["Paris"] * 3) == [1.0, 0.0, 1.0]
    assert exact_reward(prompts=["q"], completions=["PARIS"], answer=["paris"], ignore_case=True) == [1.0]


@pytest.mark.parametrize("completion,score", [
    ("**Paris**", 1.0), ("*Paris*", 1.0), ("__Paris__", 1.0), ("\\boxed{**Paris**}", 1.0),  # emphasis, as math has it
    ("**London**", 0.0), ("*Pari*s", 0.0), ("**Paris", 0.0), ("Paris__", 0.0)])  # wrong values, unclosed markers
def test_exact_reads_the_answer_through_markdown_emphasis(completion, score):
    assert exact_reward(prompts=["q"], completions=[completion], answer=["Paris"]) == [score]


def test_exact_leaves_products_and_powers():
    assert exact_reward(prompts=["q"] * 3, completions=["2*3*4", "3**2", "24"], answer=["2*3*4", "3**2", "2*3*4"]) \
        == [1.0, 1.0, 0.0]
    out = numeric_reward(prompts=["q"] * 3, completions=["about 3.1416", "#### 1,000", "3.2"],
                         answer=["3.14159", "1000", "3.14159"], tolerance=1e-3)
    assert out == [1.0, 1.0, 0.0]
    assert numeric_reward(prompts=["q"], completions=["x"], answer=[None]) == [None]


def test_spec_grammar():
    assert parse_spec("math") == ("math", {}, 1.0)
    assert parse_spec("numeric:tolerance=0.01,relative=0@0.5") == ("numeric", {"tolerance": 0.01, "relative": 0}, 0.5)
    assert parse_spec("my.mod:score_fn@2") == ("my.mod:score_fn", {}, 2.0)
    with pytest.raises(ValueError, match="reward: weight"):
        parse_spec("math@heavy")


def test_a_misspelled_option_of_a_built_in_reward_is_refused_not_ignored():
    from treecredit.rewards.load import make_reward

    _, fn, _ = make_reward("numeric:tolerance=0.5")
    assert fn(["q"], ["x = 2.3"], answer=["2"]) == [1.0]
    with pytest.raises(ValueError, match=r"reward: 'numeric' takes no option\(s\) \['tol'\].*tolerance"):
        make_reward("numeric:tol=0.5")
    with pytest.raises(ValueError, match="ignore_case"):
        make_reward("exact:ignore_cas=true")
    with pytest.raises(ValueError,
                       match=r"'math' takes no option\(s\) \['x'\]; its options are \['literal', 'timeout'\]"):
        make_reward("math:x=1")


@pytest.mark.parametrize("spec, match", [
    ("numeric:tolerance=abc", r"reward: option tolerance='abc' of 'numeric' is not a finite number ≥ 0\. "
                              r"Fix: write e\.g\. numeric:tolerance=1e-06"),
    ("numeric:relative=-0.1", r"option relative=-0\.1 of 'numeric' is not a finite number ≥ 0"),
    ("numeric:tolerance=NaN", r"option tolerance=nan of 'numeric'"),
    ("exact:ignore_case=yes", r"option ignore_case='yes' of 'exact' is not true or false\. Fix: write "
                              r"exact:ignore_case=true or exact:ignore_case=false"),
    ("exact:ignore_case=1", r"option ignore_case=1 of 'exact' is not true or false"),
    ("code:timeout=0", r"option timeout=0 of 'code' is not a finite number > 0"),
])
def test_a_built_in_reward_option_of_the_wrong_type_is_refused_when_parsed(spec, match):
    from treecredit.rewards.load import make_reward

    with pytest.raises(ValueError, match=match):
        make_reward(spec)
    name = spec.split(":")[0]
    make_reward(f"{name}:{spec.split(':')[1].split('=')[0]}={'true' if 'case' in spec else '2'}")  # accepted


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(textwrap.dedent("""
        CALLS = []
        NOT_A_FUNCTION = 3

        def correctness(prompts, completions, answer, difficulty, **kwargs):
            CALLS.append({"prompts": prompts, "completions": completions, "answer": answer,
                          "difficulty": difficulty, "extra": sorted(kwargs)})
            return [1.0 if c.strip() == a else 0.0 for c, a in zip(completions, answer)]

        def flaky(prompts, completions, **kwargs):
            return [None if "skip" in c else (1 / 0 if "boom" in c else 0.5) for c in completions]

        def wrong_count(prompts, completions, **kwargs):
            return [1.0]

        def strict(prompts, completions, scale=1.0):
            return [scale] * len(completions)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_rewards"
    sys.modules.pop("my_rewards", None)


def test_trl_convention_function_gets_prompts_completions_and_columns(user_module):
    rewards = RewardSet([f"{user_module}:correctness"])
    out = rewards(["1+1?", "2+2?"], ["2", "5"], answer=["2", "4"], difficulty=[1, 2], source=["a", "b"])
    assert out == [1.0, 0.0]
    call = sys.modules[user_module].CALLS[-1]
    assert call["prompts"] == ["1+1?", "2+2?"] and call["completions"] == ["2", "5"]
    assert call["answer"] == ["2", "4"] and call["difficulty"] == [1, 2] and call["extra"] == ["source"]


def test_weights_add_and_none_means_not_applicable(user_module):
    quarter = (lambda prompts, completions, **kw: [0.25] * len(completions), 4)
    both = RewardSet([f"{user_module}:correctness@2", quarter])
    assert both(["p"], ["2"], answer=["2"], difficulty=[0]) == [2.0 + 1.0]
    flaky = RewardSet([f"{user_module}:flaky"])
    assert flaky(["p"] * 2, ["ok", "skip"]) == [0.5, None]  # every function gave None: no reward
    assert flaky.failed == 1
    assert flaky(["p"], ["boom"]) == [None] and flaky.failed == 2 and "ZeroDivisionError" in flaky.errors[-1]
    mixed = RewardSet([f"{user_module}:flaky", "exact"])
    assert mixed(["p"], ["skip"], answer=["skip"]) == [1.0]  # TRL: a None is left out of the sum


def test_bad_reward_functions_are_named(user_module):
    with pytest.raises(ValueError, match="reward: .*returned 1 values for 2"):
        RewardSet([f"{user_module}:wrong_count"])(["p", "q"], ["a", "b"])
    forgot = RewardSet([lambda prompts, completions, **kw: None])  # a bare None: a missing return, not [None]*n
    with pytest.raises(ValueError, match=r"reward: <lambda> returned None, not a list of 2 values \(missing return"):
        forgot(["p", "q"], ["a", "b"])
    scores = RewardSet([lambda prompts, completions, **kw: {f"row {i}": 1.0 for i in range(100)}])
    with pytest.raises(ValueError, match=r"reward: <lambda> returned dict \{'row 0': 1\.0, .{40,60}\.\.\. "
                                         r"\(a dict\), not a list of 2 values\. Fix: return a list with one float"):
        scores(["p", "q"], ["a", "b"])  # what it returned, cut (as TRL's integration shows it): 100 rows were shown
    with pytest.raises(ValueError, match="reward: module 'no_such_module_xyz' .*does not import"):
        RewardSet(["no_such_module_xyz:fn"])
    with pytest.raises(ValueError, match="reward: .*not callable"):
        RewardSet([f"{user_module}:NOT_A_FUNCTION"])
    with pytest.raises(ValueError, match="reward: .*has no attribute"):
        RewardSet([f"{user_module}:missing"])
    with pytest.raises(ValueError, match="reward: unknown reward 'maths'"):
        RewardSet(["maths"])


def test_neutralise_failed_rewards_zeroes_their_advantage():
    import torch

    import treecredit
    from treecredit.rewards.failed import neutralise_failed_rewards
    from treecredit.sampling.rollout import RolloutBatch, weighted_advantages

    rewards = torch.tensor([1.0, float("nan"), 0.0, float("nan"), float("nan")])
    batch = RolloutBatch(response_ids=torch.ones(5, 3, dtype=torch.long),
                         response_mask=torch.ones(5, 3, dtype=torch.bool),
                         rewards=rewards, group_ids=torch.tensor([0, 0, 0, 1, 1]), old_logprobs=torch.zeros(5, 3),
                         prompt_ids=[[1]] * 5, prompt_texts=["p"] * 5, response_texts=["r"] * 5,
                         problem_index=torch.tensor([0, 0, 0, 1, 1]))
    assert neutralise_failed_rewards(batch) == 3
    assert batch.rewards.tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
    adv = weighted_advantages(treecredit.compute_advantages("grpo", **batch.estimator_inputs()), batch)
    assert adv[1].abs().sum() == 0 and adv[3:].abs().sum() == 0 and adv[0].sum() > 0 > adv[2].sum()


def test_python_callables_and_registered_names(tmp_path):
    import json

    from treecredit.rewards import register_reward
    from treecredit.tasks import DatasetTask

    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}?", "answer": str(i)}) + "\n" for i in range(4)))

    def short(prompts, completions, **kwargs):
        return [1.0 / (1 + len(c)) for c in completions]

    register_reward("short_answers", short)
    by_name = DatasetTask(path=str(path), rewards=["short_answers", "exact@2"], held_out=1)
    direct = DatasetTask(path=str(path), rewards=[short, ("exact", 2.0)], held_out=1)
    problem = by_name.train_problems[0]
    assert by_name.reward(problem, problem.answer) == direct.reward(problem, problem.answer) == 0.5 + 2.0
    with pytest.raises(ValueError, match="name: 'math' is a built-in reward"):
        register_reward("math", short)


def test_a_batch_call_that_raises_loses_only_the_failing_completions(user_module):
    flaky = RewardSet([f"{user_module}:flaky"])
    assert flaky(["p"] * 3, ["ok", "boom", "ok"]) == [0.5, None, 0.5]  # the batch raised: called one by one
    assert flaky.failed == 1 and "ZeroDivisionError" in flaky.errors[-1]


def test_options_of_a_users_function_open_with_kwargs_closed_without(user_module):
    import importlib

    from treecredit.rewards.load import _REGISTERED, make_reward, register_reward

    module = importlib.import_module(user_module)
    register_reward("open_kw", module.flaky)
    register_reward("strict_kw", module.strict)
    try:
        assert make_reward("open_kw:anything=1")[1](["p"], ["x"]) == [0.5]  # **kwargs: any name is the user's
        assert make_reward("strict_kw:scale=2")[1](["p"], ["x"]) == [2]
        with pytest.raises(ValueError, match=r"takes no option\(s\) \['scal'\]; its options are \['scale'\]"):
            make_reward("strict_kw:scal=2")
    finally:
        _REGISTERED.pop("open_kw", None), _REGISTERED.pop("strict_kw", None)


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan (float)"), (float("inf"), "inf (float)"),
                                          ("1", "'1' (str)"), ("yes", "'yes' (str)"), ([1.0], "[1.0] (list)")])
def test_a_reward_that_is_not_a_finite_number_fails_its_completion_naming_the_function(value, shown):
    import numpy as np

    def odd(prompts, completions, **kw):
        return [value, 1.0]

    rewards = RewardSet([odd])
    assert rewards(["p", "q"], ["a", "b"]) == [None, 1.0] and rewards.failed == 1
    assert rewards.errors[-1] == f"odd returned {shown}, not a finite number"

    def never(prompts, completions, **kw):
        return [value] * len(completions)

    probe = RewardSet([never])  # before any work: refused by name, as a function that raises is
    with pytest.raises(ValueError, match=r"reward: never returned .*not a finite number, on every one of the 2"):
        with probe.probing(2, solutions=True):
            probe(["p", "q"], ["a", "b"])
    def no_kwargs(prompts, completions):
        return [1.0] * len(completions)

    probe = RewardSet([no_kwargs])  # a column it does not take: the fix names **kwargs
    with pytest.raises(ValueError, match=r"unexpected keyword argument 'answer', on every one of the 2 completions.*"
                                         r"Fix: add \*\*kwargs to its parameters"):
        with probe.probing(2, solutions=True):
            probe(["p", "q"], ["a", "b"], answer=["1", "2"])
    numbers = RewardSet([lambda prompts, completions, **kw: [np.float32(0.5), True]])
    assert numbers(["p", "q"], ["a", "b"]) == [0.5, 1.0]  # NumPy numbers and bools are numbers


def test_reward_specs_a_trial_got_wrong_are_refused_with_a_suggestion(tmp_path, monkeypatch):
    """A weight of 0 (the reward is off), two weights, a misspelt built-in or function name."""
    import warnings as warnings_module

    from treecredit.rewards import RewardSet
    from treecredit.rewards.load import make_reward

    (tmp_path / "my_rewards_trial.py").write_text("def fmt(prompts, completions, **_):\n"
                                                  "    return [1.0] * len(completions)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, match in [("math@0", r"^reward: 'math@0' has weight 0, which turns the reward off"),
                        ("my_rewards_trial:fmt@0.2@0.3", r"has more than one @weight\. Fix: write one weight, e\.g\. "
                                                         r"--reward my_rewards_trial:fmt@0\.3"),
                        ("mth", r"unknown reward 'mth' \(did you mean 'math'\?\)"),
                        ("my_rewards_trial:fmtt", r"has no attribute 'fmtt' \(did you mean 'fmt'\?\)\. Fix: check the "
                                                  r"function name \(the module's functions: fmt\)")]:
        with pytest.raises(ValueError, match=match):
            make_reward(spec)
    assert make_reward("my_rewards_trial:fmt@-0.5")[2] == -0.5  # a penalty is a weight like any other
    with pytest.warns(UserWarning, match=r"^reward: every weight is negative \(math@-1\)"):
        RewardSet(["math@-1"])
    with warnings_module.catch_warnings():
        warnings_module.simplefilter("error")
        RewardSet(["math", "my_rewards_trial:fmt@-0.1"])  # a penalty beside a positive reward: no warning


def test_a_reward_module_that_fails_its_own_import_is_not_called_missing(tmp_path, monkeypatch):
    """A module that is there but whose code fails (here: imports a missing package) is told apart from a
    module that is not found; a dotted name gets the module:function hint."""
    (tmp_path / "broken_reward_mod.py").write_text("x = 1\nimport numpyy_not_a_package\n\ndef f(**kw):\n    pass\n")
    (tmp_path / "numpy_ok_mod.py").write_text("import no_such_pkg_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"module 'broken_reward_mod' of 'broken_reward_mod:f' \(.*broken_reward_mod"
                                         r"\.py\) was found but failed while it was imported: ModuleNotFoundError: "
                                         r"No module named 'numpyy_not_a_package' \(line 2 of .*\)\. Fix: fix that"):
        RewardSet(["broken_reward_mod:f"])
    with pytest.raises(ValueError, match=r"'numpy_ok_mod' .*was found but failed"):
        RewardSet(["numpy_ok_mod:f"])
    with pytest.raises(ValueError, match=r"unknown reward 'my_rewards\.fmt' \(did you mean my_rewards:fmt\?"):
        RewardSet(["my_rewards.fmt"])
