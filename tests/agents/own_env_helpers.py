"""Own envs with the mistakes a new user makes when subclassing TextEnv (the classes a run names as
``own_env_helpers:Class``)."""

from treecredit.envs import TextEnv


class Guess(TextEnv):
    """Guess a number from 1 to ``n`` (the secret is ``seed % n + 1``); a correct env with an expert."""

    name = "guess"

    def __init__(self, *, n: int = 4, **common) -> None:
        super().__init__(**common)
        self.n = n

    def _reset(self, seed):
        self.secret, self.last = seed % self.n + 1, None
        return f"guess a number from 1 to {self.n}."

    def _step(self, action):
        self.last = action
        if action == self.secret:
            return "right!", 1.0, True, {"success": True}
        return ("higher." if action < self.secret else "lower."), 0.0, False, {"success": False}

    def parse_action(self, text):
        text = text.strip()
        return int(text) if text.isdigit() and 1 <= int(text) <= self.n else None

    def state_key(self):
        return (self.secret, self.last)

    def instance_key(self):
        return self.secret

    def expert_action(self):
        return str(self.secret)


class OwnInit(Guess):
    def __init__(self, n: int = 4, **common) -> None:  # forgets super().__init__(**common)
        self.n = n


class GymStep(Guess):
    """``_step`` returns gymnasium's 5-tuple ``(obs, reward, terminated, truncated, info)``."""

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, reward, done, False, info


class RewardStr(Guess):
    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, str(reward), done, info


class RaiseStep(Guess):
    def _step(self, action):
        raise RuntimeError("simulator down")


class NoExpert(Guess):
    """No expert and no list of valid actions (the defaults): a step cannot be played before any work."""

    expert_action = TextEnv.expert_action


class ListedOnly(NoExpert):
    """No expert, but a list of the valid actions (their first is played before any work)."""

    def valid_actions(self):
        return ["2", "1"]

    def _step(self, action):
        return "ok", 0.0, False, None  # info must be a dict


class ListedInts(NoExpert):
    """No expert, and valid actions listed as ints, not as the texts the policy would write."""

    def valid_actions(self):
        return [self.secret, 1]


class ParseRaises(Guess):
    """``parse_action`` raises on text that is not a number (it must return None)."""

    def parse_action(self, text):
        return int(text.strip())


class ParseRaisesLater(Guess):
    """``parse_action`` returns None for '' but raises on other text that is not a number (``int(text)``)."""

    def parse_action(self, text):
        text = text.strip()
        return None if text == "" else int(text)


class ParseJson(Guess):
    """``parse_action`` reads JSON: None for blank text, but ``json.loads`` raises on other junk."""

    def parse_action(self, text):
        import json

        return json.loads(text) if text.strip() else None


class ParseRaisesOnTail(Guess):
    """``parse_action`` reads the first word as the guess and raises when more follows it."""

    def parse_action(self, text):
        words = text.split()
        if not words or not words[0].isdigit():
            return None
        if len(words) > 1:
            raise ValueError(f"unexpected {words[1]!r} after the guess")
        return int(words[0]) if 1 <= int(words[0]) <= self.n else None


class InitArgs(Guess):
    """An ``__init__`` with a required argument (no default)."""

    def __init__(self, n, **common) -> None:
        super().__init__(n=n, **common)


class InitRaises(Guess):
    """An ``__init__`` that raises on an option value it does not take."""

    def __init__(self, *, n: int = 4, **common) -> None:
        if n % 2:
            raise ValueError("n must be even")
        super().__init__(n=n, **common)


class PosOpt(Guess):
    """An option declared as a positional-or-keyword parameter with a default (not keyword-only)."""

    def __init__(self, size=4, **common) -> None:
        super().__init__(n=size, **common)


class Closed(Guess):
    """An ``__init__`` without ``**kwargs``: the base classes' options (``n``, ``max_turns``) cannot be given."""

    def __init__(self, hard: bool = False) -> None:
        super().__init__(n=6 if hard else 4)


class ExpertInt(Guess):
    """``expert_action()`` returns the guess as an int, not as the text the policy would write."""

    def expert_action(self):
        return self.secret


class ExpertIntGym(ExpertInt):
    """An int expert action and gymnasium's 5-tuple from ``_step``: the expert action is refused first."""

    def _step(self, action):
        observation, reward, done, info = super()._step(action)
        return observation, reward, done, False, info


class ExpertListsInts(Guess):
    """A str expert action, but ``valid_actions()`` lists ints (the warm start's noisy expert picks from them)."""

    def valid_actions(self):
        return [1, 2]


class ListedLaterInt(NoExpert):
    """No expert; ``valid_actions()`` gives its first entry as text, the others as ints."""

    def valid_actions(self):
        return ["1"] + list(range(2, self.n + 1))


class ListedIntsLater(Guess):
    """``valid_actions()`` lists texts on the first turn and ints after a guess (only the warm start sees those)."""

    def valid_actions(self):
        return [str(i) for i in range(1, self.n + 1)] if self.last is None else list(range(1, self.n + 1))


class ListedGenerator(NoExpert):
    """No expert; ``valid_actions()`` returns a generator of texts, not a list."""

    def valid_actions(self):
        return (str(i) for i in range(1, self.n + 1))


class ListedStr(NoExpert):
    """No expert; ``valid_actions()`` returns one str ("1234"), not a list of them."""

    def valid_actions(self):
        return "".join(str(i) for i in range(1, self.n + 1))


class Tuned(Guess):
    """Options of each type: a float, a str, and an int whose annotation allows None."""

    def __init__(self, *, ratio=1.0, label="x", cap: "int | None" = 3, **common) -> None:
        super().__init__(**common)
        self.ratio, self.label, self.cap = ratio, label, cap


class SetsInKwargs(Guess):
    """An ``__init__`` that sets its parent's ``n`` in its ``**kwargs`` (``n`` given as an option would be lost)."""

    def __init__(self, size=4, **common) -> None:
        common["n"] = size
        common.setdefault("max_turns", 5)  # a default only: max_turns given as an option still wins
        super().__init__(**common)


class UpdatesKwargs(Guess):
    """An ``__init__`` that sets its parent's ``n`` with ``kwargs.update``."""

    def __init__(self, size=4, **common) -> None:
        common.update({"n": size})
        super().__init__(**common)


class BigReward(Guess):
    """Every action ends the episode with the reward 2 (outside [0, 1]), and the class does not say so (no
    ``negative_rewards`` attribute): nothing before the first step tells its returns leave [0, 1]."""

    def parse_action(self, text):
        return text

    def _step(self, action):
        return "done.", 2.0, True, {"success": True}


class BigRewardSaid(BigReward):
    negative_rewards = "2 for every action"


class Unlisted(Guess):
    """An expert, but ``valid_actions()`` cannot list the actions (it raises); counts its builds and its
    ``valid_actions()`` calls."""

    built = 0
    listed = 0

    def __init__(self, **options) -> None:
        type(self).built += 1
        super().__init__(**options)

    def valid_actions(self):
        type(self).listed += 1
        raise NotImplementedError("cannot list the actions")
