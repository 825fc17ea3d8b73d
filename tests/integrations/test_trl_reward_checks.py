"""TreeCreditGRPOTrainer checks the reward functions' signatures and the dataset's columns when it is built, and
what a reward function returns per batch, each error naming the function or column and the fix (was: TRL's terse
TypeError, KeyError or shape error after the first generation)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

sys.path.insert(0, str(Path(__file__).parent))

import test_trl_checks  # noqa: E402
from test_trl_tree import _args, _tokenizer  # noqa: E402
from test_trl_tree import _train as train  # noqa: E402

from treecredit.integrations._trl_reward_checks import checked_reward  # noqa: E402
from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402

trl_init, model = test_trl_checks.trl_init, test_trl_checks.model  # fixtures: TRL's __init__ recorded, a tiny model
ROWS = {"prompt": ["1+2=", "ab"], "answer": ["3", "ba"]}


def good(prompts, completions, answer, **kwargs):
    return [float(c.startswith(a)) for c, a in zip(completions, answer)]


def no_kwargs(prompts, completions):
    return [0.0] * len(completions)


def needs_solution(prompts, completions, solution, **kwargs):
    return [0.0] * len(completions)


def positional(prompts, /, completions, **kwargs):
    return [0.0] * len(completions)


def _build(tmp_path, model, reward_funcs, rows=ROWS, **kwargs):
    return TreeCreditGRPOTrainer(model=model, reward_funcs=reward_funcs, args=_args(tmp_path),
                                 train_dataset=datasets.Dataset.from_dict(rows), processing_class=_tokenizer(),
                                 estimator="grpo", **kwargs)


@pytest.mark.parametrize("reward, rows, message", [
    (no_kwargs, ROWS, r"^reward_funcs: reward function 'no_kwargs' \(prompts, completions\) takes no \*\*kwargs, but "
                      r"GRPOTrainer calls it with the keyword arguments \['answer', 'completion_ids', .*'trainer_state'"
                      r"\] too .*Fix: add \*\*kwargs to its parameters: def no_kwargs\(prompts, completions, "
                      r"\*\*kwargs\)\.$"),
    (needs_solution, ROWS, r"^reward_funcs: reward function 'needs_solution' needs the argument 'solution', which "
                           r"GRPOTrainer passes only from a dataset column of that name, and train_dataset has none "
                           r"\(its columns: \['prompt', 'answer'\]\)\. Fix: add a 'solution' column"),
    (positional, ROWS, r"^reward_funcs: reward function 'positional' takes 'prompts' by position only"),
    (good, {"question": ["1+2="], "answer": ["3"]}, r"^train_dataset: has no 'prompt' column \(its columns: "
                                                    r"\['question', 'answer'\]\).*Fix: rename the column that holds "
                                                    r"the prompts, e\.g\. train_dataset = dataset\.rename_column\("
                                                    r"'question', 'prompt'\)\.$"),
])
@pytest.mark.parametrize("sampler", ["iid", "tree"])
def test_reward_and_column_mistakes_are_refused_when_the_trainer_is_built(tmp_path, trl_init, model, reward, rows,
                                                                           message, sampler):
    with pytest.raises(ValueError, match=message):
        _build(tmp_path, model, [reward], rows, sampler=sampler)
    assert trl_init == [] and model.calls == []  # before TRL built anything


def test_rewards_that_take_what_trl_passes_are_accepted(tmp_path, trl_init, model):
    def named_all(prompts, completions, completion_ids, trainer_state, answer, log_extra=None, log_metric=None):
        return [0.0] * len(completions)

    _build(tmp_path, model, [good, named_all, "some/reward-model"])
    assert len(trl_init) == 1


@pytest.mark.parametrize("returned, message", [
    (None, r"^reward_funcs: reward function 'bad' returned None, not a list of 3 rewards \(missing return\?\)"),
    (1.0, r"^reward_funcs: reward function 'bad' returned float 1\.0, not a list of 3 rewards"),
    (["1", "1", "1"], r"^reward_funcs: reward function 'bad' returned '1' \(str\) for completion 0, not a number"),
    ([1.0, 0.0], r"^reward_funcs: reward function 'bad' returned 2 rewards for 3 completions"),
])
def test_a_bad_return_value_is_named_per_batch(returned, message):
    def bad(prompts, completions, **kwargs):
        return returned

    checked = checked_reward(bad)
    assert checked.__name__ == "bad"
    with pytest.raises(ValueError, match=message):
        checked(prompts=["p"] * 3, completions=["a", "b", "c"])
    assert checked_reward(good)(prompts=["p"], completions=["3"], answer=["3"]) == [1.0]
    assert checked_reward(lambda **kwargs: [None])(completions=["x"])[0] != 0.0  # None: NaN, as TRL reads it


def test_a_reward_returning_none_in_training_names_the_function(tmp_path):
    def returns_none(prompts, completions, **kwargs):
        [1.0] * len(completions)

    with pytest.raises(ValueError, match=r"^reward_funcs: reward function 'returns_none' returned None"):
        train(tmp_path, estimator="grpo", reward=returns_none)
