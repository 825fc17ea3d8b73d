"""A seed outside NumPy's range is refused by name before anything loads: ``--seed -1`` failed with NumPy's
"Seed must be between 0 and 2**32 - 1" once the run seeded NumPy, after ~5 s of start-up (trial 32)."""

import sys

import pytest

from treecredit.cli import main


@pytest.mark.parametrize("flag, value", [("--seed", "-1"), ("--seed", "4294967296"), ("--warm-start-seed", "-2")])
def test_a_seed_out_of_range_is_refused_by_name_before_torch_loads(tmp_path, monkeypatch, capsys, flag, value):
    import treecredit.training.startup as startup

    def never(*args, **kwargs):
        raise AssertionError("the run started before the seed was checked")

    monkeypatch.setattr(startup, "start_run", never)
    monkeypatch.setitem(sys.modules, "treecredit.training.warmstart", None)  # importing it fails: nothing loads
    assert main(["train", flag, value, "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    name = flag[2:].replace("-", "_")
    assert f"treecredit train: error: {name}: is {value}, must be an integer from 0 to 4294967295" in err, err
    assert f"Fix: pass {flag} 0 or another whole number in that range" in err
    assert not (tmp_path / "run").exists()
