"""Fixtures shared by the agent tests."""

import pytest


@pytest.fixture
def no_warm_start(monkeypatch):
    """The warm start must not run: the checks come before it."""
    import treecredit.agents.policy as agent_policy

    def refuse(*args, **kwargs):
        raise AssertionError("the warm start ran before the check")

    monkeypatch.setattr(agent_policy, "warm_start_agent", refuse)
