"""Mistakes in an own env (``--env module:Class``) are refused before any work, naming the method and the fix."""

import pytest
from own_env_helpers import OwnInit

from treecredit.envs import make_env
from treecredit.training.config import TrainConfig

NO_BASE_INIT = (r"^env: OwnInit\.__init__ did not call TextEnv\.__init__ \(max_turns, the signature mode and the "
                r"episode state are unset\)\. Fix: call super\(\)\.__init__\(\*\*kwargs\) in OwnInit\.__init__\.$")


def test_an_init_without_super_init_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=NO_BASE_INIT):
        make_env("own_env_helpers:OwnInit")
    with pytest.raises(ValueError, match=NO_BASE_INIT):  # a run's config builds the env first (was: AttributeError)
        TrainConfig(env="own_env_helpers:OwnInit", estimator="rtmc", out=str(tmp_path / "run"), group_size=2)
    with pytest.raises(ValueError, match=NO_BASE_INIT):  # built by hand, then reset
        OwnInit().reset(1)
