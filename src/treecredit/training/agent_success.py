"""An agent run's stop on an env that ends an episode without ``info["success"]`` mid-run
(:class:`MissingSuccessWatch`), after its checkpoint is saved, so that ``--resume`` continues once the env is fixed.

``TextEnv.step`` refuses a step that ends an episode without ``info["success"]``, or with a value that is not a
bool (:class:`~treecredit.envs.base.SuccessNotReported`). Before any work the run plays one episode to its end
with the env's expert and stops there on that refusal (:mod:`~treecredit.training.agent_first_step`); an env that
sets the key on that path but leaves it out on another (a loss, a time-out of its own, a later turn) reaches the
run only while it trains, where :func:`~treecredit.agents.play` drops such an episode with a warning like any env
error. A dropped episode of that kind counts as neither solved nor failed, so the run's success figures would
be read off the episodes that happen to report it: the run stops instead, as
:class:`~treecredit.training.agent_checks.DroppedWatch` stops a run whose env drops every episode.
"""

from __future__ import annotations

from treecredit._validation import FixError, Remedy, split_fix
from treecredit.envs.base import SuccessNotReported

_MARK = f" raised {SuccessNotReported.__name__}: "
"""How :func:`~treecredit.agents.episodes.play`'s warning of a dropped episode names this refusal."""


class MissingSuccessWatch:
    """Passes on the warnings of dropped episodes (``warn``) and notes those dropped for a step that ended an
    episode without ``info["success"]`` (or with a value that is not a bool), in training or in evaluation.
    After each RL step the caller asks :meth:`stops`; when True it saves a checkpoint, then raises
    :meth:`stop_error`. Episodes dropped in the step-0 evaluation stop the run after its first step."""

    def __init__(self, env_name: str, warn) -> None:
        self.env_name, self._warn = env_name, warn
        self.dropped, self.first = 0, ""

    def warn(self, message: str) -> None:
        """A dropped episode's warning: passed on, and counted when its cause is a missing ``success``."""
        if _MARK in message:
            self.dropped += 1
            self.first = self.first or message
        self._warn(message)

    def stops(self) -> bool:
        """Whether an episode was dropped for a missing ``success`` since the run started."""
        return self.dropped > 0

    def stop_error(self, step: int, config_path, resume: str | None = None) -> FixError:
        """The refusal that ends the run after step ``step``'s checkpoint was saved (``resume``: how to resume,
        None: the ``--config ... --resume`` command)."""
        resume = resume or f"resume with `treecredit train --config {config_path} --resume`"
        episodes = "an episode" if self.dropped == 1 else f"{self.dropped} episodes"
        brief = f"{episodes} of env {self.env_name!r} ended without info['success'] by step {step}"
        detail = split_fix(self.first.partition(_MARK)[2])[0]
        return FixError("env", f"{brief}, which the run reads as the episode's outcome (the first: {detail}); the "
                        f"run stopped after step {step}, its checkpoint is saved",
                        (Remedy("set info['success'] in the env's _step on every step that ends an episode (True "
                                "when the task is solved, else False; on the other steps it may be left out), then "
                                f"{resume}"),), verb="", brief=brief)
