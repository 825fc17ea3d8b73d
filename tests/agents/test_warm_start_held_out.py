"""The agent warm start never trains on a held-out (evaluation) instance."""

import numpy as np

from treecredit.agents.episodes import EpisodeSettings
from treecredit.envs import env_factory
from treecredit.training import agent_loop
from treecredit.training.config import TrainConfig


def test_warm_start_draws_no_held_out_instance(tmp_path, monkeypatch):
    import treecredit.agents.policy as agent_policy

    config = TrainConfig(env="gridworld", n_layer=1, n_head=2, n_embd=16, warm_start_steps=1, warm_start_batch=4,
                         eval_problems=40, cache_dir=str(tmp_path), progress=False, tensorboard=False)
    env_fn = env_factory("gridworld", size=3, holes=0.0)   # few distinct maps: random draws hit held-out ones
    probe = env_fn()
    held_out = agent_loop.eval_instances(probe, config.eval_problems).keys
    drawn = []

    def fake_warm_start(policy, make_env, instances, **kwargs):
        seeds = instances(np.random.default_rng(0), 200)
        for seed in seeds:
            probe.reset(seed)
            drawn.append(probe.instance_key())
        return [0.0]

    monkeypatch.setattr(agent_policy, "warm_start_agent", fake_warm_start)
    unfiltered = set()
    for seed in probe.instances(np.random.default_rng(0), 200):
        probe.reset(seed)
        unfiltered.add(probe.instance_key())
    assert unfiltered & held_out  # without the filter the warm start would see held-out maps
    agent_loop.build_agent_policy(config, env_fn, EpisodeSettings(action_max_tokens=6), {}, lambda *a: None)
    assert len(drawn) == 200 and not set(drawn) & held_out



def test_an_env_option_at_its_default_finds_the_same_warm_start(tmp_path, monkeypatch):
    import treecredit.agents.policy as agent_policy
    from treecredit.envs import env_options

    keys = []
    monkeypatch.setattr(agent_policy, "cached_warm_start", lambda key, *a, **k: keys.append(key))
    size = env_options("gridworld")["size"]
    for options in ({}, {"size": size}, {"size": size, "signature": "history"}, {"size": size + 1}):
        config = TrainConfig(env="gridworld", env_options=options, n_layer=1, n_head=2, n_embd=16,
                             warm_start_steps=1, eval_problems=4, cache_dir=str(tmp_path), progress=False,
                             tensorboard=False)
        agent_loop.build_agent_policy(config, env_factory("gridworld", **options),
                                      EpisodeSettings(action_max_tokens=6), {}, lambda *a: None)
    assert keys[0] == keys[1] == keys[2] and keys[0]["env_options"] == {}  # --env-option size=4 (default): cached
    assert keys[3]["env_options"] == {"size": size + 1}


def test_editing_an_own_env_rebuilds_its_cached_warm_start(tmp_path, monkeypatch):
    import sys

    from treecredit.envs import env_code_hash

    (tmp_path / "tc_edited_env.py").write_text(
        "from treecredit.envs.gridworld import GridWorld\n\nclass Walk(GridWorld):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert env_code_hash("gridworld") is None  # built in: keyed by its name (its code is treecredit's)

    def warm_start(**overrides) -> list:
        config = TrainConfig(env="tc_edited_env:Walk", env_options={"size": 3, "holes": 0.0}, n_layer=1, n_head=2,
                             n_embd=16, warm_start_steps=1, warm_start_batch=2, eval_problems=2,
                             cache_dir=str(tmp_path / "cache"), progress=False, tensorboard=False)
        lines = []
        agent_loop.build_agent_policy(config, env_factory(config.env, **config.env_options),
                                      EpisodeSettings(action_max_tokens=6), {}, lines.append)
        return [line.split(" ")[2] for line in lines if line.startswith("warm start: ") and "steps done" not in line]

    before = env_code_hash("tc_edited_env:Walk")
    assert warm_start() == ["1"] and warm_start() == ["loaded"]  # trained once, then found in the cache
    with open(tmp_path / "tc_edited_env.py", "a") as handle:  # the env's expert or observations edited
        handle.write("\n    def expert_action(self):\n        return 'up'\n")
    assert env_code_hash("tc_edited_env:Walk") != before
    assert warm_start() == ["1"]  # was: "loaded", the old env's warm start
    assert len(list((tmp_path / "cache").glob("agent-warmstart-*.pt"))) == 2
