"""What an agent run's set-up asks of the env: ``valid_actions()`` only when something of the run picks from it
(the small GPT's warm start at ``expert_noise`` > 0, or a turn whose expert has no action), and one env built
for the draws and the checks (was: ``valid_actions()`` asked before any work whatever the run, so an env that
cannot list its actions was refused even at ``expert_noise=0``; and two envs built to set up)."""

import pytest
from own_env_helpers import Unlisted
from test_own_env_mistakes import TINY

from treecredit.training import agent_loop
from treecredit.training.config import TrainConfig


class Stop(Exception):
    pass


def _set_up(tmp_path, monkeypatch, **changes) -> tuple[int, int]:
    """``(envs built, valid_actions() calls)`` of ``train_agent``'s set-up, up to building the policy."""
    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(agent_loop, "build_agent_policy", stop)
    config = TrainConfig(**{**TINY, **changes}, env="own_env_helpers:Unlisted", out=str(tmp_path / "run"))
    Unlisted.built = Unlisted.listed = 0
    with pytest.raises(Stop):
        agent_loop.train_agent(config, log=lambda *a: None)
    return Unlisted.built, Unlisted.listed


@pytest.mark.parametrize("changes", [
    {"warm_start_steps": 0},  # no warm start
    {"warm_start_steps": 2, "sampler_options": {**TINY["sampler_options"], "expert_noise": 0}},  # no noise
])
def test_valid_actions_is_not_asked_when_nothing_picks_from_it_and_one_env_sets_up(tmp_path, monkeypatch, changes):
    assert _set_up(tmp_path, monkeypatch, **changes) == (1, 0)


def test_a_noisy_warm_start_still_has_valid_actions_checked_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"^env: Unlisted failed before any work \(one step of instance \d+, in "
                                         r"Unlisted\.valid_actions\(\)\): NotImplementedError: cannot list"):
        _set_up(tmp_path, monkeypatch, warm_start_steps=2)
    assert Unlisted.listed == 1 and not (tmp_path / "run").exists()


def test_a_run_at_expert_noise_0_trains_on_an_env_that_cannot_list_its_actions(tmp_path):
    options = {**TINY["sampler_options"], "expert_noise": 0}
    config = TrainConfig(**{**TINY, "warm_start_steps": 2, "sampler_options": options},
                         env="own_env_helpers:Unlisted", out=str(tmp_path / "run"))
    Unlisted.listed = 0
    records = agent_loop.train_agent(config, log=lambda *a: None)
    assert any(r["kind"] == "train" for r in records) and Unlisted.listed == 0
