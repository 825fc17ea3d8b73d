"""``--reward code:workers=N`` takes a positive integer: 0 (or 2.5, -1, true) is refused by the spec check, naming
``code:workers`` and the fix, before any model loads (it was refused only by the reward probe, after the task and
its checks were set up)."""

import json

import pytest

from treecredit.cli import main
from treecredit.rewards.code import DEFAULT_WORKERS
from treecredit.rewards.load import make_reward


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "true", "abc"])
def test_code_workers_must_be_a_positive_integer(value):
    with pytest.raises(ValueError, match=r"^reward: option code:workers=.* is not a positive integer \(the programs "
                       rf"run at once\)\. Fix: write code:workers=N with N a positive integer, e.g\. "
                       rf"code:workers={DEFAULT_WORKERS}\.$"):
        make_reward(f"code:workers={value}")
    assert make_reward("code:workers=3")[1].keywords == {"workers": 3}


def test_train_refuses_code_workers_0_before_any_model_loads(tmp_path, monkeypatch, capsys):
    import treecredit.training.loop as loop

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(loop, "build_policy", no_model)
    data = tmp_path / "code.jsonl"
    data.write_text(json.dumps({"prompt": "def add(a, b):\n", "test": "def check(f):\n    assert f(1, 2) == 3\n",
                                "entry_point": "add"}) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(data), "--task-option", "held_out=0", "--reward", "code:workers=0",
                 "--out", str(out), "--no-progress"]) == 2
    assert "reward: option code:workers=0 is not a positive integer" in capsys.readouterr().err
    assert not out.exists()  # refused before the run folder, the warm start or the model
