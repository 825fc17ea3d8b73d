"""The sandbox holds: an infinite loop, a fork bomb, a 10 GiB allocation, writing outside its folder,
opening a socket, os.system; with every layer, and (where namespaces exist) without the audit hook."""

import os
import socket
import sys
import uuid

import pytest

from treecredit.sandbox import _RUN, namespaces_available, run_boot, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's limits are Linux/POSIX")
LAYERS = [pytest.param(True, id="all-layers"),
          pytest.param(False, id="os-only", marks=pytest.mark.skipif(not namespaces_available(),
                                                                   reason="no network/mount namespaces here"))]


def test_a_good_program_runs_and_its_folder_is_removed():
    result = run_python("import os\nprint(os.getcwd())\nopen('scratch.txt', 'w').write('ok')\n")
    assert result.passed and result.returncode == 0
    folder = result.stdout.strip()
    assert folder.startswith("/") and not os.path.exists(folder)
    assert not run_python("raise SystemExit(3)").passed


def test_an_infinite_loop_is_killed_at_the_timeout():
    result = run_python("while True:\n    pass\n", timeout=1.5)
    assert not result.passed and result.timed_out and result.seconds < 5


@pytest.mark.parametrize("audit", LAYERS)
def test_a_10_gib_allocation_fails(audit):
    result = run_python("x = bytearray(10 * 2**30)\nprint('allocated')\n", audit=audit)
    assert not result.passed and "allocated" not in result.stdout and "MemoryError" in result.stderr


@pytest.mark.parametrize("audit", LAYERS)
def test_writing_outside_the_folder_fails(tmp_path, audit):
    target = tmp_path / "escaped.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')\n", audit=audit)
    assert not result.passed and not target.exists()
    result = run_python(f"import os\nos.rename('main.py', {str(target)!r})\n", audit=audit)
    assert not result.passed and not target.exists()


@pytest.mark.parametrize("audit", LAYERS)
def test_os_system_changes_nothing_outside(tmp_path, audit):
    target = tmp_path / "touched.txt"
    result = run_python(f"import os\nstatus = os.system('touch {target}')\nassert status == 0\n", audit=audit)
    assert not result.passed and not target.exists()


@pytest.mark.parametrize("audit", LAYERS)
def test_a_socket_reaches_nothing(audit):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        result = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                            "print('connected')\n", audit=audit)
        assert not result.passed and "connected" not in result.stdout
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_a_fork_bomb_is_stopped():
    result = run_python("import os\nwhile True:\n    os.fork()\n", timeout=3)
    assert not result.passed and "PermissionError" in result.stderr and not result.timed_out


@pytest.mark.skipif(not namespaces_available(), reason="no namespaces here")
def test_left_over_processes_are_killed_with_the_group():
    token = uuid.uuid4().hex
    program = ("import os, sys\nfor _ in range(5):\n    if os.fork() == 0:\n"
               f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)  # {token}'])\n"
               "print('parent done')\n")
    # (the seccomp filter refuses fork itself: this tests the process group and PID namespace beneath it)
    result = run_boot({"main.py": program}, _RUN, audit=False, timeout=5, seccomp=False)
    assert result.passed and "parent done" in result.stdout
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if token.encode() in handle.read():
                    alive.append(pid)
        except OSError:
            continue
    assert alive == []


def test_bad_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout: is 0"):
        run_python("pass", timeout=0)


@pytest.mark.skipif(sys.platform != "linux", reason="Linux")
def test_the_audit_hook_ignores_patched_modules(tmp_path):
    target = tmp_path / "escaped.txt"
    program = (f"import os\nos.path.join = lambda *a: os.getcwd()\n"
               f"open({str(target)!r}, 'w').write('x')\n")
    result = run_python(program, namespaces=False)  # the audit hook alone
    assert not result.passed and not target.exists() and "PermissionError" in result.stderr


def test_the_process_memory_cannot_be_opened():
    result = run_python("open('/proc/self/mem', 'rb')\n")
    assert not result.passed and "under /proc is not allowed" in result.stderr
