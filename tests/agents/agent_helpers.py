"""A scripted policy (writes given action texts, never looks at observations) and small helpers."""

import collections

import pytest
import torch

from treecredit.agents.policy import AGENT_ALPHABET
from treecredit.envs.base import TextEnv
from treecredit.envs.gridworld import GridWorld
from treecredit.models.tokenizer import CharTokenizer
from treecredit.sampling.policy import DecodeState


class ScriptedPolicy:
    """A ``Policy`` whose row r writes ``scripts[r % len(scripts)]``: action texts, each followed by ``marker``.

    Its position in the script is ``next_pos − 1`` (which the sampler holds for rows that wait for others);
    observations arrive through ``extend``, which does not move it. Log-probabilities of scripted tokens
    are 0 (all mass on the script).
    """

    def __init__(self, scripts: list[list[str]], marker: str = "\n") -> None:
        self.tokenizer = CharTokenizer(AGENT_ALPHABET)
        self.pad_id, self.eos_id = self.tokenizer.pad_id, self.tokenizer.eos_id
        self.vocab_size = self.tokenizer.vocab_size
        self.scripts = [self.tokenizer.encode("".join(a + marker for a in s)) for s in scripts]
        self.model = torch.nn.Linear(1, 1)

    @property
    def module(self):
        return self.model

    def encode_prompt(self, text):
        return self.tokenizer.encode_prompt(text)

    def encode(self, text):
        return self.tokenizer.encode(text)

    def decode(self, ids):
        return self.tokenizer.decode(ids)

    def _logits(self, script_row, pointer):
        logits = torch.full((len(pointer), self.vocab_size), -1e4)
        for i, (s, p) in enumerate(zip(script_row.tolist(), pointer.tolist())):
            script = self.scripts[s % len(self.scripts)]
            logits[i, script[p] if p < len(script) else self.eos_id] = 0.0
        return logits

    def prefill(self, prompts):
        B = len(prompts)
        state = DecodeState(torch.arange(B), torch.ones(B, 1, dtype=torch.bool), torch.ones(B, dtype=torch.long))
        return self._logits(state.cache, state.next_pos - 1), state

    def step(self, state, tokens):
        key_valid = torch.cat([state.key_valid, torch.ones_like(state.key_valid[:, :1])], 1)
        return self._logits(state.cache, state.next_pos), DecodeState(state.cache, key_valid, state.next_pos + 1)

    def extend(self, state, sequences):
        return self._logits(state.cache, state.next_pos - 1), state

    def select(self, state, rows):
        return DecodeState(state.cache.index_select(0, rows), state.key_valid.index_select(0, rows),
                           state.next_pos.index_select(0, rows))


class ForcedPolicy:
    """Wraps a real policy whose cache path runs as usual (``prefill``, ``step``, ``select``, and observations
    appended by :func:`treecredit.agents.decode.extend_state`), but row r writes ``scripts[r % len(scripts)]``.

    The state's cache is ``(inner cache, script row (B,), offset (B,))``; ``offset`` counts the row's prompt
    and observation tokens, so its position in the script is its number of real keys minus ``offset``.
    """

    def __init__(self, inner, scripts: list[list[str]], marker: str = "\n") -> None:
        self.inner = inner
        self.pad_id, self.eos_id, self.vocab_size = inner.pad_id, inner.eos_id, inner.vocab_size
        self.scripts = [inner.encode("".join(a + marker for a in s)) for s in scripts]

    @property
    def module(self):
        return self.inner.module

    def encode(self, text):
        return self.inner.encode(text)

    def decode(self, ids):
        return self.inner.decode(ids)

    def _wrap(self, inner_state, rows, offset):
        logits = torch.full((len(rows), self.vocab_size), -1e4)
        pointer = inner_state.key_valid.sum(1) - offset
        for i, (s, p) in enumerate(zip(rows.tolist(), pointer.tolist())):
            script = self.scripts[s % len(self.scripts)]
            logits[i, script[p] if p < len(script) else self.eos_id] = 0.0
        return logits, DecodeState((inner_state.cache, rows, offset), inner_state.key_valid, inner_state.next_pos)

    @staticmethod
    def _inner(state):
        return DecodeState(state.cache[0], state.key_valid, state.next_pos)

    def prefill(self, prompts):
        _, state = self.inner.prefill(prompts)
        return self._wrap(state, torch.arange(len(prompts)), torch.tensor([len(p) for p in prompts]))

    def step(self, state, tokens):
        _, inner = self.inner.step(self._inner(state), tokens)
        return self._wrap(inner, state.cache[1], state.cache[2])

    def extend(self, state, sequences):
        from treecredit.agents.decode import extend_state

        _, inner = extend_state(self.inner, self._inner(state), sequences)
        return self._wrap(inner, state.cache[1], state.cache[2] + torch.tensor([len(s) for s in sequences]))

    def select(self, state, rows):
        inner = self.inner.select(self._inner(state), rows)
        return DecodeState((inner.cache, state.cache[1][rows], state.cache[2][rows]), inner.key_valid, inner.next_pos)


def expected_episode(encode, env, seed: int, actions: list[str], marker: str = "\n", turn_prefix: str = "\n> "):
    """What playing ``actions`` in ``env`` from ``reset(seed)`` must record: ``(prompt text, tokens, mask, turn
    ids, rewards)``, each action (with the marker) and each later observation (with the turn prefix)
    encoded by ``encode`` on its own, as the sampler appends them."""
    prompt = env.reset(seed) + turn_prefix
    tokens, mask, turn, rewards = [], [], [], []
    for k, action in enumerate(actions):
        ids = encode(action + marker)
        tokens, mask, turn = tokens + ids, mask + [True] * len(ids), turn + [k] * len(ids)
        obs, reward, done, _ = env.step(action)
        rewards.append(reward)
        if done:
            break
        ids = encode(obs + turn_prefix)
        tokens, mask, turn = tokens + ids, mask + [False] * len(ids), turn + [-1] * len(ids)
    return prompt, tokens, mask, turn, rewards


class Flaky(GridWorld):
    """Raises on its second step for odd instance seeds."""

    def _step(self, action):
        if self.seed % 2 and len(self.actions) == 2:
            raise RuntimeError("simulator crashed")
        return super()._step(action)


class Crashing(GridWorld):
    """Raises on its second turn (any action, valid or not) for odd instance seeds."""

    def _reset(self, seed):
        self.calls = 0
        return super()._reset(seed)

    def step(self, action):
        self.calls += 1
        if self.seed % 2 and self.calls == 2:
            raise RuntimeError("simulator crashed")
        return super().step(action)


class PoolGrid(GridWorld):
    """A grid world with a finite pool of ``pool`` maps (instance ``seed`` is map ``seed % pool``), as textworld."""

    def __init__(self, *, pool: int = 16, **common) -> None:
        super().__init__(**common)
        self.pool = pool

    def instances(self, rng, n):
        return [int(s) for s in rng.integers(0, self.pool, size=n)]

    def _reset(self, seed):
        return super()._reset(seed % self.pool)

    def instance_key(self):
        return self.seed % self.pool

    def instance_count(self):
        return self.pool


class Secret(GridWorld):
    """The first observation is the same for every instance: the goal is hidden (the default instance_key fails)."""

    instance_key = TextEnv.instance_key  # the default: the first observation

    def _reset(self, seed):
        super()._reset(seed)
        return "find the hidden goal. moves: up down left right."


class SecretBySeed(Secret):
    def instance_key(self):
        return self.seed


class AlwaysCrashing(GridWorld):
    """Raises on every step; it offers no expert or valid action, so the run's check before any work cannot play
    a step (a note says so) and the episodes are dropped in the RL steps."""

    expert_action = TextEnv.expert_action
    valid_actions = TextEnv.valid_actions

    def step(self, action):  # any action text, valid or not
        raise RuntimeError("simulator down")


class NoCanonicalState(GridWorld):
    def state_key(self):
        return {"pos": object()}


class LateBadState(GridWorld):
    """For odd instance seeds, ``state_key()`` has no canonical form once an action was taken (the first state,
    the one the run checks before any work, is fine)."""

    def state_key(self):
        if self.seed % 2 and self.actions:
            return {"pos": object()}
        return super().state_key()


class OddResetFails(GridWorld):
    """``reset`` raises for odd instance seeds."""

    def _reset(self, seed):
        if seed % 2:
            raise RuntimeError("map file missing")
        return super()._reset(seed)


class NoRestore(GridWorld):
    def restore(self, snapshot):
        raise RuntimeError("cannot restore")


def tiny_agent_config(monkeypatch, tmp_path, name: str, env_class: str, **changes):
    """A tiny agent run's ``TrainConfig`` on the helper env ``env_class`` (``"agent_helpers:Class"``), registered
    as ``name`` for the test (rtmc, a one-layer GPT, 2 prompts × 2 episodes of ≤ 3 turns, no warm start)."""
    from treecredit import envs
    from treecredit.training.config import TrainConfig

    monkeypatch.setitem(envs._ENVS, name, envs.EnvSpec(name, env_class, None, None, ""))
    settings = dict(env=name, estimator="rtmc", n_layer=1, n_head=2, n_embd=16, warm_start_steps=0,
                    prompts_per_step=2, group_size=2, eval_problems=2, max_new_tokens=6, steps=2, progress=False,
                    tensorboard=False, env_options={"max_turns": 3, "holes": 0.0},
                    sampler_options={"max_len": 320, "max_episode_tokens": 200}, out=str(tmp_path / "run"))
    return TrainConfig(**{**settings, **changes})


class CountingGrid(GridWorld):
    """A grid world that notes the seed of every reset of any of its copies (``RESETS``; a test empties it)."""

    RESETS: list[int] = []

    def _reset(self, seed):
        CountingGrid.RESETS.append(seed)
        return super()._reset(seed)


def held_out_resets(monkeypatch, config) -> tuple[list[int], collections.Counter]:
    """``(held-out seeds, {held-out seed: times reset})`` of an agent run on :class:`CountingGrid` from
    ``train_agent``'s start until its first evaluation (the run is stopped there, its checks, warm start and model
    done)."""
    import numpy as np

    from treecredit.envs import make_env
    from treecredit.training import agent_checks
    from treecredit.training.agent_loop import train_agent

    class Started(Exception):
        pass

    def stop(*args, **kwargs):
        raise Started

    monkeypatch.setattr(agent_checks, "held_out_text", stop)  # what the run says just before evaluating
    monkeypatch.setattr(CountingGrid, "RESETS", [])
    with pytest.raises(Started):
        train_agent(config)
    seeds = make_env(config.env, **config.env_options).instances(np.random.default_rng(agent_checks.EVAL_SEED),
                                                                 config.eval_problems)
    return seeds, collections.Counter(seed for seed in CountingGrid.RESETS if seed in seeds)


class PoolSameKey(PoolGrid):
    """A finite pool (``instance_count()``) whose ``instance_key()`` is one value for every instance."""

    def instance_key(self):
        return 0


class NoSuccessInfo(GridWorld):
    """``_step`` returns ``info`` without ``success`` (a gymnasium habit: ``info={}``), every step."""

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, reward, done, {k: v for k, v in info.items() if k != "success"}


class SuccessAtEndOnly(GridWorld):
    """``_step`` sets ``success`` only on the step that ends the episode (``{}`` on the others)."""

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, reward, done, info if done else {}


class SuccessAsText(GridWorld):
    """``_step`` gives ``success`` as text, "yes" or "no" (``bool("no")`` is True)."""

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, reward, done, {"success": "yes" if info["success"] else "no"}


class NoSuccessNoExpert(NoSuccessInfo):
    """:class:`NoSuccessInfo` with no ``expert_action()`` and no ``valid_actions()``: no step is played before any
    work."""

    def expert_action(self):
        return None

    def valid_actions(self):
        return []


class HugeObservations(GridWorld):
    """Every observation after the first is 300 characters longer (an invalid action's too): episodes reach
    ``max_episode_tokens`` soon."""

    def action_help(self):
        return super().action_help() + " " + "x" * 300

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation + " " + "x" * 300, reward, done, info


class UndeclaredNegative(GridWorld):
    """Any text is an action, and every episode ends at its first step with the reward −0.5: returns below 0,
    without a ``negative_rewards`` class attribute saying so."""

    def parse_action(self, text):
        return text

    def _step(self, action):
        return "over.", -0.5, True, {"success": False}


TINY = {"estimator": "rtmc", "n_layer": 1, "n_head": 2, "n_embd": 16, "warm_start_steps": 1, "warm_start_batch": 2,
        "prompts_per_step": 2, "group_size": 2, "max_new_tokens": 6, "progress": False, "tensorboard": False,
        "sampler_options": {"max_len": 320, "max_episode_tokens": 200}}


def preflight_config(tmp_path, env, **overrides):
    """A one-layer agent run's settings (:data:`TINY`: one warm-start step) on ``env``, writing under ``tmp_path``."""
    from treecredit.training.config import TrainConfig

    return TrainConfig(**{**TINY, "env": env, "out": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
                          **overrides})



class LongTraining(GridWorld):
    """A grid world whose even training seeds (those not in ``SHORT``, which a test sets to the held-out seeds)
    have a first observation 600 characters longer than any held-out one."""

    SHORT: set = set()

    def _reset(self, seed):
        observation = super()._reset(seed)
        return observation if seed in LongTraining.SHORT or seed % 2 else observation + " ." * 300
