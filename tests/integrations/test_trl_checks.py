"""TreeCreditGRPOTrainer refuses bad configuration when it is built, before TRL loads or runs the model.

TRL's own ``GRPOTrainer.__init__`` is replaced by a recorder here, so that a check that is not run at
construction lets the trainer be built and the ``pytest.raises`` fail; the model's ``forward`` and
``generate`` record their calls, which must stay empty.
"""

import re
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))

from test_trl import NUM_GENERATIONS, _tiny_model, _tokenizer, count_a  # noqa: E402
from test_trl_tree import _args  # noqa: E402

import treecredit  # noqa: E402
from treecredit.integrations._grpo_layout import check_trainer_estimator, rollout_input  # noqa: E402
from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402


@pytest.fixture
def trl_init(monkeypatch):
    """Replaces GRPOTrainer.__init__ (model loading, accelerator, vLLM) by a recorder of its calls."""
    calls = []
    monkeypatch.setattr(trl.GRPOTrainer, "__init__", lambda self, *args, **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
def model():
    """A tiny model whose forward and generate record their calls in ``model.calls``."""
    tiny = _tiny_model(_tokenizer())
    tiny.calls = []
    tiny.forward = lambda *args, **kwargs: tiny.calls.append("forward")
    tiny.generate = lambda *args, **kwargs: tiny.calls.append("generate")
    return tiny


def _build(tmp_path, model, args=None, **kwargs):
    return TreeCreditGRPOTrainer(model=model, reward_funcs=count_a, args=args or _args(tmp_path),
                                 processing_class=_tokenizer(), **kwargs)


BAD = [  # (argument the error names, trainer keyword arguments)
    ("estimator_options['scale']", dict(estimator="treerpo", estimator_options={"scale": "abc"}, step_pattern="\n\n")),
    ("estimator_options['tau']", dict(estimator="treerpo", estimator_options={"tau": -1.0}, sampler="tree")),
    ("estimator_options['epsilon']", dict(estimator="tempo", estimator_options={"epsilon": -1.0})),
    ("estimator_options['step_tokens']", dict(estimator="ibpo", estimator_options={"step_tokens": 0})),
    ("estimator_options['step_tokens']", dict(estimator="tempo", estimator_options={"step_tokens": "abc"})),
    ("estimator_options['weights']", dict(estimator="treepo", estimator_options={"weights": "bogus"}, sampler="tree")),
    ("estimator_options['max_alignment_cells']", dict(estimator="ibpo", estimator_options={"max_alignment_cells": -5})),
    ("estimator_options['norm_by_std']", dict(estimator="grpo", estimator_options={"norm_by_std": "no"})),
    ("estimator_options['tau']", dict(estimator="grpo", estimator_options={"tau": 0.5})),  # an unknown key
    ("estimator_options['step_tokens']",  # two sources of steps: only one would be used
     dict(estimator="ibpo", estimator_options={"step_tokens": 4}, step_pattern="\n\n")),
    ("branching_options['children']", dict(estimator="tempo", sampler="tree", branching_options={"children": -2})),
    ("branching_options['children']", dict(estimator="tempo", sampler="tree", branching="entropy",
                                           branching_options={"children": 0})),
    ("branching_options['every']", dict(estimator="tempo", sampler="tree", branching_options={"every": "x"})),
    ("branching_options", dict(estimator="tempo", sampler="tree", branching_options=[("children", 2)])),
    ("branching_options", dict(estimator="tempo", sampler="tree", branching_options={"bogus": 1})),
    ("branching", dict(estimator="tempo", sampler="tree", branching="nope")),
    ("step_pattern", dict(estimator="tempo", sampler="tree", step_pattern=["\n\n"])),
]


@pytest.mark.parametrize("argument,kwargs", BAD, ids=[f"{a}-{k['estimator']}" for a, k in BAD])
def test_a_bad_option_value_is_refused_at_construction_naming_it(tmp_path, trl_init, model, argument, kwargs):
    with pytest.raises(ValueError) as caught:
        _build(tmp_path, model, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{argument}: "), message
    assert ". Fix: " in message
    assert trl_init == [] and model.calls == []  # before TRL built anything, before any forward or generation


def test_the_test_run_is_the_estimators_own_check(tmp_path, trl_init, model):
    # The message is the estimator's own (treerpo's check_choice), under the trainer's argument name.
    with pytest.raises(ValueError, match=re.escape("estimator_options['scale']: is 'abc', not one of ['bernoulli'")):
        _build(tmp_path, model, estimator="treerpo", estimator_options={"scale": "abc"}, step_pattern="\n\n")
    with pytest.raises(ValueError, match="scale: is 'abc'"):
        treecredit.compute_advantages("treerpo", response_ids=[[1, 2]], response_mask=[[1, 1]], rewards=[1.0],
                                      group_ids=[0], step_tokens=1, scale="abc")


GOOD = [
    dict(estimator="treerpo", estimator_options={"scale": "std", "tau": 0.5}, step_pattern="\n\n"),
    dict(estimator="treerpo", estimator_options={"scale": "none"}, sampler="tree"),
    dict(estimator="tempo", estimator_options={"norm_by_std": False}, sampler="tree"),
    dict(estimator="ibpo", estimator_options={"step_tokens": 2}),
    dict(estimator="ibpo", estimator_options={"max_alignment_cells": 10**9}, sampler="tree", step_pattern="\n\n"),
    dict(estimator="treepo", estimator_options={"weights": "uniform"}, sampler="tree",
         branching="entropy", branching_options={"chains": 2, "children": 2}),
]


@pytest.mark.parametrize("kwargs", GOOD)
def test_good_options_are_accepted_without_warnings(tmp_path, trl_init, model, kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = _build(tmp_path, model, **kwargs)
    assert len(trl_init) == 1 and model.calls == []
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)
            and "site-packages" not in w.filename] == []
    assert trainer.estimator_options == kwargs["estimator_options"]


@pytest.mark.parametrize("name", [n for n in treecredit.estimators("token") if n != "vine"])
@pytest.mark.parametrize("sampler", ["iid", "tree"])
def test_every_estimators_defaults_pass_the_test_run(name, sampler):
    defaults = dict(treecredit.get_estimator(name).defaults)
    assert check_trainer_estimator(name, defaults, sampler, "\n\n") == defaults


WARNED = [  # (trainer keyword arguments, what the warning must say)
    (dict(estimator="grpo", sampler="tree"),
     r"sampler='tree': 'grpo' reads neither the sampled tree nor steps, so each completion gets one advantage"
     r".*use an estimator that reads it \(spo, tempo, treepo, treerl, treerpo\); or pass sampler='iid'"),
    (dict(estimator="ibpo", sampler="tree"),
     r"sampler='tree': 'ibpo' does not read the sampled tree .* gets no step ends .* single tokens\. "
     r"To give it steps, pass step_pattern='\\n\\n'"),
    (dict(estimator="tempo", sampler="tree", estimator_options={"step_tokens": 2}),
     r"estimator_options\['step_tokens'\] gives 'tempo' its steps, so it does not get the sampled tree"),
    (dict(estimator="rloo", step_pattern="a"),
     r"step_pattern='a' is not used: 'rloo' takes no step ends.*\(ibpo, spo, tempo, treepo, treerl, treerpo\)"),
]


@pytest.mark.parametrize("kwargs,match", WARNED)
def test_structure_the_estimator_ignores_is_warned_about_once_at_construction(tmp_path, trl_init, model, kwargs,
                                                                            match):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _build(tmp_path, model, **kwargs)
    ours = [str(w.message) for w in caught if issubclass(w.category, UserWarning) and "site-packages" not in w.filename]
    assert len(ours) == 1, ours
    assert re.search(match, ours[0]), ours[0]
    assert len(trl_init) == 1 and model.calls == []


@pytest.mark.parametrize("overrides,match", [
    ({"scale_rewards": "batch"}, r"does not apply GRPOConfig scale_rewards='batch' \(the estimator normalises "
                                 r"within each group; estimator_options=\{'norm_by_std': False\} leaves"),
    ({"multi_objective_aggregation": "normalize_then_sum"}, r"multi_objective_aggregation='normalize_then_sum'"),
])
def test_trl_settings_the_trainer_does_not_apply_are_warned_about(tmp_path, trl_init, model, overrides, match):
    with pytest.warns(UserWarning, match=match):
        _build(tmp_path, model, args=_args(tmp_path, **overrides), estimator="tempo")


@pytest.mark.parametrize("estimator,options,sampler,step_pattern,expected", [
    ("tempo", {}, "tree", None, "tree_nodes"),
    ("tempo", {}, "tree", "\n\n", "tree_nodes"),
    ("tempo", {"step_tokens": 2}, "tree", None, None),
    ("ibpo", {}, "tree", "\n\n", "step_ends"),
    ("ibpo", {}, "tree", None, None),
    ("ibpo", {"step_tokens": 2}, "iid", None, None),
    ("tempo", {}, "iid", "\n\n", "step_ends"),
    ("grpo", {}, "tree", "\n\n", None),
])
def test_rollout_input_is_what_the_trainer_gives_the_estimator(estimator, options, sampler, step_pattern, expected):
    assert rollout_input(estimator, options, sampler, step_pattern) == expected


def test_the_advised_step_pattern_gives_a_tree_blind_estimator_its_steps(tmp_path):
    # The warning for ibpo on trees advises step_pattern: with it, ibpo gets step ends from the decoded
    # completions of the tree rollouts, and no warning is given.
    from test_trl import count_letters
    from test_trl_tree import TREE
    from test_trl_tree import _train as train_tree

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = train_tree(tmp_path, estimator="ibpo", sampler="tree", branching_options=TREE, step_pattern="a")
    assert not [w for w in caught if "does not read the sampled tree" in str(w.message)]
    generated = trainer.generated[0]
    assert "tree_nodes" not in generated
    ids, mask = generated["completion_ids"], generated["completion_mask"]
    ends = treecredit.step_ends_from_text(ids, _tokenizer(), "a", response_mask=mask)
    assert ends.any(), "no step end in the batch: weak test"
    torch.testing.assert_close(generated["step_ends"], torch.as_tensor(ends))
    expected = treecredit.compute_advantages("ibpo", response_ids=ids, response_mask=mask,
                                             rewards=torch.tensor(count_letters(ids.tolist())),
                                             group_ids=torch.arange(ids.shape[0]) // NUM_GENERATIONS, step_ends=ends)
    torch.testing.assert_close(generated["advantages"], expected)


def test_a_grpo_config_given_by_position_is_read_like_a_keyword_one(tmp_path, monkeypatch, model):
    # GRPOTrainer(model, reward_funcs, args, train_dataset, ...): the tree sampler reads its settings from
    # the positional GRPOConfig, and its refusals name the setting, not a missing args
    seen = []
    monkeypatch.setattr(trl.GRPOTrainer, "__init__", lambda self, *args, **kwargs: seen.append((args, kwargs)))
    with pytest.raises(ValueError, match=r"^top_k: is 5"):
        TreeCreditGRPOTrainer(model, count_a, _args(tmp_path, top_k=5), None, processing_class=_tokenizer(),
                              estimator="tempo", sampler="tree")
    args = _args(tmp_path, max_completion_length=7, temperature=0.8)
    trainer = TreeCreditGRPOTrainer(model, count_a, args, None, processing_class=_tokenizer(), estimator="tempo",
                                    sampler="tree")
    assert (trainer.tree_sampler.max_new_tokens, trainer.tree_sampler.temperature) == (7, 0.8)
    assert seen[-1][0] == (model, count_a, args, None)  # TRL gets the arguments as they were given
    with pytest.warns(UserWarning, match="scale_rewards='batch'"):
        TreeCreditGRPOTrainer(model, count_a, _args(tmp_path, scale_rewards="batch"), estimator="tempo")
    with pytest.raises(ValueError, match=r"^reward_funcs: branching='adaptive'"):
        TreeCreditGRPOTrainer(model, "some/reward-model", args, estimator="tempo", sampler="tree",
                              branching="adaptive")


def test_an_unknown_estimator_lists_only_those_the_trainer_can_run():
    from treecredit.integrations._grpo_layout import check_trainer_estimator

    with pytest.raises(ValueError, match=r"^estimator: unknown token-level estimator 'tempoo' \(did you mean "
                                         r"'tempo'\?\)\. Fix: use one of: dr_grpo, grpo, .*treerpo\.$") as caught:
        check_trainer_estimator("tempoo", None, "iid", None)
    assert "vine" not in str(caught.value)
