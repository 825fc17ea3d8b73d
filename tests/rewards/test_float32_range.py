"""A reward beyond float32's range (the dtype training holds rewards in) is refused by the probe before any work,
naming the function (it failed after the warm start with 'rewards: contains NaN or infinite values'); during
training such a value is a failure of that function, logged, not a crash."""

import json
import logging

import pytest

from treecredit.rewards import RewardSet


def huge(prompts, completions, **_):
    return [1e300 if "9" in str(c) else 1.0 for c in completions]


def test_the_probe_refuses_a_value_beyond_float32_naming_the_function():
    rewards = RewardSet([huge])
    with pytest.raises(ValueError, match=r"^reward: huge returned 1e\+300, beyond the range of float32 .*Fix: return "
                                         r"rewards on a smaller scale from huge"):
        with rewards.probing(2, solutions=True):
            rewards(["p"] * 2, ["9", "8"])
    with rewards.probing(2, solutions=True):  # a value within float32 passes
        assert rewards(["p"] * 2, ["8", "7"]) == [1.0, 1.0]


def test_a_weight_can_push_a_value_past_float32():
    def big(prompts, completions, **_):
        return [3e38] * len(completions)

    assert RewardSet([big])(["p"], ["x"]) == [3e38]
    with pytest.raises(ValueError, match=r"big returned 3e\+38 \(at weight 10\)"):
        with (rewards := RewardSet([(big, 10.0)])).probing(1, solutions=True):
            rewards(["p"], ["x"])


def test_in_training_it_is_a_logged_failure(caplog):
    rewards = RewardSet([huge])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert rewards(["p"] * 2, ["9", "8"]) == [None, 1.0]
    assert any("huge returned 1e+300 (weight 1), beyond the range of float32" in r.getMessage()
               for r in caplog.records)


def test_the_run_probe_refuses_it_before_any_work(tmp_path, monkeypatch):
    from treecredit.tasks import DatasetTask
    from treecredit.training.reward_probe import check_rewards

    (tmp_path / "huge_rewards.py").write_text("def huge(prompts, completions, **_):\n"
                                              "    return [1e300 for c in completions]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+{i}=", "answer": str(2 * i)}) + "\n" for i in range(4)))
    task = DatasetTask(path=str(path), rewards=["huge_rewards:huge"], held_out=1)
    with pytest.raises(ValueError, match=r"^reward: huge_rewards:huge returned 1e\+300, beyond the range of float32"):
        check_rewards(task)


def test_a_sum_of_values_within_float32_can_pass_it(caplog):
    def big(prompts, completions, **_):
        return [3e38] * len(completions)

    def also_big(prompts, completions, **_):
        return [3e38 if c == "x" else 1.0 for c in completions]

    with pytest.raises(ValueError, match=r"^reward: the weighted sum of big, also_big is 6e\+38 for a completion, "
                                         r"beyond the range of float32 .*Fix: return rewards on a smaller scale"):
        with (rewards := RewardSet([big, also_big])).probing(1, solutions=True):
            rewards(["p"], ["x"])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):  # in training: a logged failure
        assert rewards(["p"] * 2, ["x", "y"]) == [None, 3e38 + 1.0]
    assert any("the weighted sum of big, also_big is 6e+38, beyond the range of float32" in r.getMessage()
               for r in caplog.records)
    assert RewardSet([big, (also_big, -1.0)])(["p"], ["x"]) == [0.0]  # a sum back within range is kept
