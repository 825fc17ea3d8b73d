"""The worker processes of a comparison (``--jobs`` > 1) and how a signal stops them.

Each worker is a ``spawn`` process with a pipe of its own (no queue shared between workers, whose lock a
killed worker could keep), running one run at a time (:func:`~treecredit.training.compare._run_one`).
SIGINT and SIGTERM are the parent's (:class:`~treecredit.training.stopping.StopAll`), whether a terminal
sent them to the whole process group or they were sent to the parent alone: the first stops every running
run after its current step, with its checkpoint saved, and no further run starts; the second kills the
workers (SIGKILL) at once. The workers ignore both (:func:`~treecredit.training.stopping.follow_in_worker`;
they are blocked while a worker starts, so that none comes before its handlers).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

CLOSE_S = 60.0
"""How long a worker may take to exit once told to (then it is killed)."""


@dataclass
class _Worker:
    process: Any  # a spawn context's Process
    conn: Any  # its end of the pipe
    job: Any = None  # the compare.Job it runs


def run_in_workers(jobs_list: list, n_workers: int, collect, stop, shown, plain: bool, counts=None) -> None:
    """Run every job of ``jobs_list`` in ``n_workers`` processes, in order, ``collect(result)`` as each ends.

    ``stop``: the shared stop number (a ``context.Value("i", lock=False)`` of the spawn context, set by
    ``StopAll``), ``shown``/``plain``: :func:`~treecredit.training.compare._share_shown`'s; ``counts``: a
    :class:`~treecredit.training.stopping.RunCounts` whose ``started`` counts each job sent to a worker (the
    caller's ``collect`` counts the finished). Once a stop is asked for, the running runs are collected (stopped or
    finished) and :class:`~treecredit.training.stopping.RunInterrupted` is raised, unless every job had finished
    (then the comparison ends as it would have)."""
    import multiprocessing
    from multiprocessing.connection import wait

    from treecredit.training.compare import RUN_ANEW
    from treecredit.training.stopping import RunInterrupted

    context = multiprocessing.get_context("spawn")
    pending = list(jobs_list)
    workers: list[_Worker] = []
    collected = 0
    try:
        while (pending and not stop.value) or any(w.job is not None for w in workers):
            for dead in [w for w in workers if w.job is None and not w.process.is_alive()]:  # replaced below
                dead.conn.close()
                workers.remove(dead)
            while pending and not stop.value and (len(workers) < n_workers or any(w.job is None for w in workers)):
                idle = next((w for w in workers if w.job is None), None) or _start(context, workers, stop, shown,
                                                                                  plain)
                idle.job = pending.pop(0)
                idle.conn.send(idle.job)
                if counts is not None:
                    counts.started += 1
            busy: dict[Any, _Worker] = {w.conn: w for w in workers if w.job is not None}
            for conn in wait(list(busy), timeout=0.5):
                worker = busy[conn]
                job, worker.job = worker.job, None
                try:
                    kind, value = worker.conn.recv()
                except (EOFError, OSError):  # the process died mid-run: that run fails, the others go on
                    worker.process.join(5)
                    kind, value = "failed", f"its worker process died (exit code {worker.process.exitcode})"
                if kind == "stopped":
                    stop.value = stop.value or value.signum  # a run stopped by a signal stops the comparison
                elif kind == "failed":
                    collected += 1
                    collect((job.label, job.seed, None, value, (RUN_ANEW, "")))
                else:
                    collected += 1
                    collect(value)
        for worker in workers:
            worker.conn.send(None)
        for worker in workers:
            worker.process.join(CLOSE_S)
    finally:
        for worker in workers:  # killed: nothing is shared whose lock it could keep
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
    if stop.value and collected < len(jobs_list):  # a signal after the last run finished stops nothing
        raise RunInterrupted(f"stopped by {signal.Signals(stop.value).name}", stop.value, 0)


def _start(context, workers: list, stop, shown, plain: bool) -> _Worker:
    """A new worker, appended to ``workers``; SIGINT/SIGTERM are blocked in this process while it starts (it
    inherits the mask and unblocks them once it ignores them): one arriving meanwhile is handled after."""
    parent, child = context.Pipe()
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        process = context.Process(target=_work, args=(child, stop, shown, plain), daemon=True)
        process.start()
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    child.close()
    worker = _Worker(process, parent)
    workers.append(worker)
    return worker


def _work(conn, stop, shown, plain: bool) -> None:
    """A worker process: runs the jobs it is sent until it is sent None (or its parent is gone); sends back
    ``("done", result)``, ``("stopped", RunInterrupted)`` or ``("failed", error text)``."""
    import traceback

    from treecredit.training.compare import _run_one, _share_shown
    from treecredit.training.stopping import SIGNALS, RunInterrupted, follow_in_worker

    follow_in_worker(stop)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(SIGNALS))
    _share_shown(shown, plain)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            message = ("done", _run_one(job))
        except RunInterrupted as stopped:
            message = ("stopped", stopped)
        except BaseException:  # noqa: BLE001 — reported as the run's failure
            message = ("failed", traceback.format_exc().strip().splitlines()[-1])
        conn.send(message)
