"""The command's status lives in one place, ``process_end._ending``: the object ``terminate_interrupts`` yields
is the one the signal handler after the command (``after_command``) and ``end_process`` read and set (it was a
second ``Ending`` copied over at the block's end)."""

import signal

import pytest

from treecredit import process_end


class Exited(Exception):
    pass


@pytest.fixture
def handlers(monkeypatch):
    """The stop signals' handlers put back after the test; ``os._exit`` raises :class:`Exited` instead."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def exit_(code):
        raise Exited(code)

    monkeypatch.setattr(process_end.os, "_exit", exit_)
    monkeypatch.setattr(process_end, "close_open_files", lambda: False)
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_the_status_set_in_the_block_is_the_one_a_second_signal_exits_with(handlers, capfd):
    with process_end.terminate_interrupts(ignore_after=True) as ending:
        assert ending is process_end._ending
        ending.code = 3
    assert signal.getsignal(signal.SIGTERM) is process_end.after_command
    process_end.after_command(signal.SIGTERM, None)  # the first, at once: passed over
    assert "exit status 3" in capfd.readouterr().err
    with pytest.raises(Exited, match="^3$"):
        process_end.after_command(signal.SIGTERM, None)


def test_a_new_command_starts_from_a_clear_status(handlers):
    process_end._ending.code, process_end._ending.signals = 7, 2
    with process_end.terminate_interrupts() as ending:
        assert (ending.code, ending.since, ending.signals) == (None, None, 0)
        ending.code = 0
    assert signal.getsignal(signal.SIGTERM) is not process_end.after_command  # handlers put back
