"""Escapes of the sandbox without namespaces (the fallback where user namespaces are missing), each tried
against every layer that should stop it alone (each failed before its fix): changing the scheduling of
another process (its nice value, scheduling policy, CPU affinity) such as the caller's; reading files
outside the folder through the ``ssl`` module (OpenSSL opens them in C, with no audit event); listing
folders outside the sandbox's folder (names of the user's files)."""

import os
import signal
import subprocess
import sys

import pytest

from treecredit.sandbox import _RUN, _seccomp_rules, run_boot, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
AUDIT_HOOK_ONLY = {"namespaces": False, "seccomp": False}
SECCOMP_ONLY = {"audit": False, "namespaces": False}
ALONE = [pytest.param(AUDIT_HOOK_ONLY, id="audit-hook"), pytest.param(SECCOMP_ONLY, id="seccomp")]
NO_NAMESPACES = pytest.param({"namespaces": False}, id="no-namespaces")  # the audit hook and seccomp


def _drop_capabilities() -> None:
    """(In the victim, before exec.) As root, the kernel lets a process without capabilities change the
    scheduling only of processes whose capabilities are a subset of its own: the victim then stands for
    a caller run by an ordinary user, which has none."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None)
    for cap in range(64):  # the bounding set too: exec as root would give them back
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            break
    libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)())


def _scheduling(pid: int) -> tuple:
    return (os.getpriority(os.PRIO_PROCESS, pid), os.sched_getscheduler(pid), os.sched_getaffinity(pid),
            os.sched_getparam(pid).sched_priority)


@pytest.mark.parametrize("layer", ALONE + [NO_NAMESPACES])
@pytest.mark.parametrize("attack", [
    "os.setpriority(os.PRIO_PROCESS, {pid}, 19)",
    "os.setpriority(os.PRIO_PGRP, {pid}, 19)",
    "os.setpriority(os.PRIO_USER, 0, 19)",  # every process of the user, the caller among them
    "os.sched_setscheduler({pid}, os.SCHED_IDLE, os.sched_param(0))",
    "os.sched_setaffinity({pid}, {{min(os.sched_getaffinity(0))}})",
    "os.sched_setparam({pid}, os.sched_param(0))",
    "os.nice(0)\nos.setpriority(os.PRIO_PROCESS, {pid}, 19)",
    # an object whose __index__ says 0 when checked and the victim's pid when used (a replacement that
    # checked the object and passed it on would be fooled)
    "class Pid:\n    calls = 0\n    def __index__(self):\n        Pid.calls += 1\n"
    "        return 0 if Pid.calls == 1 else {pid}\nos.setpriority(os.PRIO_PROCESS, Pid(), 19)\n"
    "os.sched_setaffinity(Pid(), {{min(os.sched_getaffinity(0))}})\nraise SystemExit(1)",
    # the real function, looked for in what the replacement holds
    "f = os.setpriority\nfor cell in (getattr(f, '__closure__', None) or ()) + tuple(getattr(f, '__defaults__', None) "
    "or ()):\n    value = getattr(cell, 'cell_contents', cell)\n    if callable(value):\n"
    "        try:\n            value(os.PRIO_PROCESS, {pid}, 19)\n        except Exception:\n            pass\n"
    "raise SystemExit(1)",
    "f = os.sched_setaffinity\nfor cell in getattr(f, '__closure__', None) or ():\n"
    "    if callable(cell.cell_contents):\n        try:\n"
    "            cell.cell_contents({pid}, {{min(os.sched_getaffinity(0))}})\n        except Exception:\n"
    "            pass\nraise SystemExit(1)",
], ids=["setpriority", "pgrp", "user", "setscheduler", "setaffinity", "setparam", "after-nice", "index-twice",
        "closure", "closure-sched"])
def test_another_process_keeps_its_scheduling(layer, attack):
    """os.setpriority and os.sched_set* raise no audit event: without namespaces a program reniced its
    caller to 19, or moved it to SCHED_IDLE or one CPU. A process of ours outside stands for the caller."""
    if layer is SECCOMP_ONLY and _seccomp_rules() is None:
        pytest.skip("no seccomp filter on this machine")
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True, preexec_fn=_drop_capabilities)
    try:
        before = _scheduling(victim.pid)
        program = "import os\n" + attack.format(pid=victim.pid) + "\nprint('reached')\n"
        result = run_boot({"main.py": program}, _RUN, timeout=10, **layer)
        assert not result.passed and "reached" not in result.stdout, result.stderr[-400:]
        assert _scheduling(victim.pid) == before, "the sandboxed program changed another process's scheduling"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()


@pytest.mark.parametrize("layer", ALONE + [NO_NAMESPACES, pytest.param({}, id="all")])
def test_the_program_may_change_its_own_scheduling(layer):
    """Its own nice value always; its own policy and affinity where the seccomp filter keeps those calls
    to this process (without it the audit hook refuses them: their replacement would hold the real one)."""
    program = ("import os\nme = os.getpid()\nnice = os.nice(1)\nos.setpriority(os.PRIO_PROCESS, 0, nice + 1)\n"
               "os.setpriority(os.PRIO_PROCESS, me, nice + 2)\nprint(os.getpriority(os.PRIO_PROCESS, 0) - nice)\n"
               "cpu = min(os.sched_getaffinity(0))\ntry:\n"
               "    os.sched_setaffinity(0, {cpu})\n    os.sched_setaffinity(me, {cpu})\n"
               "    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))\n"
               "    os.sched_setparam(me, os.sched_param(0))\n"
               "    print(os.sched_getaffinity(0) == {cpu}, os.sched_getscheduler(0) == os.SCHED_BATCH)\n"
               "except PermissionError as error:\n"
               "    print('refused' if 'no seccomp filter' in str(error) else error)\n")
    result = run_boot({"main.py": program}, _RUN, timeout=10, **layer)
    kernel = layer.get("seccomp", True) and _seccomp_rules() is not None
    assert result.passed and result.stdout.split() == (["2", "True", "True"] if kernel else ["2", "refused"]), \
        (result.stdout, result.stderr[-400:])


@pytest.mark.parametrize("attack", [
    "import ssl\nssl.create_default_context().load_verify_locations({path!r})\n",
    "import ssl\ncontext = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\ncontext.load_verify_locations({path!r})\n"
    "print(context.get_ca_certs())\n",
    "import ssl\nssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain({path!r})\n",
    "import _ssl\nprint(_ssl._test_decode_cert({path!r}))\n",
    "import sys\nsys.modules.pop('_ssl', None)\nimport _ssl\nprint(_ssl._test_decode_cert({path!r}))\n",
], ids=["verify-locations", "ca-certs", "cert-chain", "decode-cert", "afresh"])
def test_ssl_reads_no_file_outside_the_folder(tmp_path, attack):
    """OpenSSL opens the paths given to load_verify_locations, load_cert_chain and _ssl._test_decode_cert
    in C, with no audit event: it told whether a file exists and returned a certificate's contents."""
    certificate = tmp_path / "user.pem"
    certificate.write_text(CERTIFICATE)
    result = run_python(attack.format(path=str(certificate)) + "print('reached')\n", timeout=10, namespaces=False)
    assert not result.passed and "reached" not in result.stdout and "treecredit-test" not in result.stdout
    assert "ModuleNotFoundError" in result.stderr, result.stderr[-400:]


def test_modules_that_import_ssl_optionally_still_work():
    program = ("import http.client, urllib.request, asyncio, hashlib\n"
               "print(hashlib.sha256(b'x').hexdigest()[:4], hasattr(http.client, 'HTTPSConnection'))\n")
    result = run_python(program, timeout=20, namespaces=False)
    assert result.passed and result.stdout.split() == ["2d71", "False"], result.stderr[-400:]


@pytest.mark.parametrize("attack", [
    "import os\nprint(os.listdir({folder!r}))\n",
    "import os\nprint([entry.name for entry in os.scandir({folder!r})])\n",
    "import os\nprint(os.listdir({folder!r}.encode()))\n",
    "import glob\nprint(glob.glob({folder!r} + '/*'))\n",
    "import pathlib\nprint(list(pathlib.Path({folder!r}).iterdir()))\n",
    "import os\nprint(list(os.walk({folder!r})))\n",
    "import os\nos.symlink('x', 'link')\nos.remove('link')\nprint(os.listdir('/' + {folder!r}.lstrip('/')))\n",
], ids=["listdir", "scandir", "bytes", "glob", "pathlib", "walk", "again"])
def test_folders_outside_are_not_listed(tmp_path, attack):
    """Without namespaces, a program listed the user's folders: the names of a hidden tests file and of
    other runs' files. Listing is refused outside the folder and the Python installation."""
    (tmp_path / "hidden_tests_answer_is_42.jsonl").write_text("{}\n")
    result = run_python(attack.format(folder=str(tmp_path)), timeout=10, namespaces=False)
    assert "answer_is_42" not in result.stdout, result.stdout[-400:]
    if "glob" not in attack and "walk" not in attack:  # (those two pass over folders they cannot list)
        assert not result.passed and "not allowed" in result.stderr, result.stderr[-400:]


def test_the_folder_and_python_installation_are_still_listed():
    program = ("import os, sys, json, pkgutil, importlib.metadata\nos.makedirs('d/e')\nopen('d/f', 'w').close()\n"
               "print(sorted(os.listdir('d')), sorted(os.listdir()), len(list(os.walk('.'))))\n"
               "print(len(os.listdir(os.path.dirname(json.__file__))) > 0, "
               "len(list(pkgutil.iter_modules())) > 10, importlib.metadata.version('numpy') != '')\n")
    result = run_python(program, timeout=20, namespaces=False)
    assert result.passed, result.stderr[-400:]
    assert result.stdout.split("\n")[0].startswith("['e', 'f'] ['d', 'main.py'] 3"), result.stdout
    assert result.stdout.split()[-3:] == ["True", "True", "True"], result.stdout


@pytest.mark.parametrize("attack", ["print(os.getxattr({path!r}, 'user.note'))",
                                    "print(os.listxattr({path!r}))"], ids=["getxattr", "listxattr"])
def test_extended_attributes_outside_are_not_read(tmp_path, attack):
    """os.getxattr raises an audit event the hook let pass: a program read a value stored in an extended
    attribute of a file outside the folder (and os.listxattr its names)."""
    target = tmp_path / "notes.txt"
    target.write_text("")
    try:
        os.setxattr(target, "user.note_answer_is_42", b"the hidden answer")
        os.setxattr(target, "user.note", b"the hidden answer")
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    result = run_python("import os\n" + attack.format(path=str(target)) + "\n", timeout=10, namespaces=False)
    assert not result.passed and "hidden answer" not in result.stdout and "answer_is_42" not in result.stdout
    assert "not allowed" in result.stderr, result.stderr[-400:]


def test_extended_attributes_in_the_folder_still_work():
    program = ("import os\nopen('f', 'w').close()\ntry:\n    os.setxattr('f', 'user.a', b'1')\n"
               "except OSError as error:\n    print('unsupported' if error.errno == 95 else error)\nelse:\n"
               "    print(os.getxattr('f', 'user.a'), os.listxattr('f'), len(os.listxattr()) >= 0)\n")
    result = run_python(program, timeout=10, namespaces=False)
    assert result.passed and result.stdout.strip() in ("b'1' ['user.a'] True", "unsupported"), result.stderr[-400:]


@pytest.mark.parametrize("call", [
    ("keyctl", {"x86_64": 250, "aarch64": 219}, "0, -3, 0"),  # KEYCTL_GET_KEYRING_ID of the session keyring
    ("add_key", {"x86_64": 248, "aarch64": 217}, "0, 0, 0, 0, 0"),
    ("request_key", {"x86_64": 249, "aarch64": 218}, "0, 0, 0, 0"),
    ("perf_event_open", {"x86_64": 298, "aarch64": 241}, "0, 0, -1, -1, 0"),
    ("bpf", {"x86_64": 321, "aarch64": 280}, "0, 0, 0"),
], ids=lambda call: call[0])
def test_the_seccomp_filter_alone_refuses_keyrings_and_perf(call):
    """Through ctypes (which the audit hook refuses; seccomp alone here): the session keyring is shared
    with the caller (its keys readable with keyctl), perf_event_open samples another process's registers
    and stack, bpf loads kernel programs. None has a use in a program under test: refused (EPERM)."""
    import platform

    name, numbers, args = call
    if _seccomp_rules() is None or platform.machine() not in numbers:
        pytest.skip("no seccomp filter on this machine")
    program = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               f"result = libc.syscall({numbers[platform.machine()]}, *[ctypes.c_long(a) for a in ({args},)])\n"
               "print(result, ctypes.get_errno())\n")
    result = run_boot({"main.py": program}, _RUN, timeout=10, **SECCOMP_ONLY)
    assert result.passed and result.stdout.split() == ["-1", "1"], (name, result.stdout, result.stderr[-300:])


# The audit hook's frame, from a refusal's traceback or from code the hook itself runs (a path object's
# __fspath__); the cells of what it holds (the folder's path) set to '' so that every path is "inside".
HOOK_FRAME = {
    "traceback": "try:\n    open('/etc/hostname')\nexcept PermissionError as error:\n    tb = error.__traceback__\n"
                 "    while tb.tb_next:\n        tb = tb.tb_next\n    frames = [tb.tb_frame]\n",
    "fspath": "import shutil, sys\nframes = []\nclass Path:\n    def __fspath__(self):\n"
              "        frame = sys._getframe(1)\n        while frame is not None:\n            frames.append(frame)\n"
              "            frame = frame.f_back\n        return '/nonexistent'\n"
              "try:\n    shutil.rmtree(Path())\nexcept OSError:\n    pass\n",
}
OPEN_CELLS = ("import os\nfolder = os.getcwd()\n{reach}for frame in frames:\n"
              "    for value in list(frame.f_locals.values()):\n"
              "        for cell in getattr(value, '__closure__', None) or ():\n"
              "            try:\n                if cell.cell_contents == folder:\n"
              "                    cell.cell_contents = ''\n            except ValueError:\n                pass\n")


@pytest.mark.parametrize("reach", sorted(HOOK_FRAME))
def test_the_audit_hook_cannot_be_changed_through_its_frame(tmp_path, reach):
    """A program took the hook's frame from a refusal's traceback and set the folder's path held in the
    closure of the hook's helpers to '': from then on every path was inside the folder, and it read and
    wrote files anywhere."""
    secret, written = tmp_path / "hidden_tests.jsonl", tmp_path / "written"
    secret.write_text("the hidden tests\n")
    program = (OPEN_CELLS.format(reach=HOOK_FRAME[reach]) + f"open({str(written)!r}, 'w').write('x')\n"
               f"print(open({str(secret)!r}).read())\n")
    result = run_python(program, timeout=10, namespaces=False)
    assert not result.passed and "hidden tests" not in result.stdout and not written.exists(), result.stdout
    assert "not allowed" in result.stderr, result.stderr[-400:]


def test_the_audit_hook_ignores_a_patched_devnull(tmp_path):
    """The hook compared paths with os.devnull read at each call: a program that set os.devnull to a
    file outside the folder could remove, rename or change it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    program = f"import os\nos.devnull = {str(victim)!r}\nos.chmod({str(victim)!r}, 0o600)\nos.remove({str(victim)!r})\n"
    result = run_python(program, timeout=10, namespaces=False)
    assert not result.passed and victim.exists() and "not allowed" in result.stderr, result.stderr[-400:]


# A self-signed certificate for CN=treecredit-test, made with `openssl req -x509` (only read, never used).
CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUVJZQ8CjS3JTIy1vahR5N9b6r27kwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPdHJlZWNyZWRpdC10ZXN0MB4XDTI2MTIwMjIxMTcwOFoXDTM2
MTEyOTIxMTcwOFowGjEYMBYGA1UEAwwPdHJlZWNyZWRpdC10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEqCD6Lpetl03HY0tlPCRXpMUkqArEfG/jsScuZOUv
aB8Cc5IuYbmgZbiSnwroHMHpVJCA5Rz+zsUlBWZ2I3r4+6NTMFEwHQYDVR0OBBYE
FAZDJrH9bb/dpYAziZ8voLvcnaNGMB8GA1UdIwQYMBaAFAZDJrH9bb/dpYAziZ8v
oLvcnaNGMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAOlJ3YVF
RpYpOQ/94JtY2HIZCHSGykLQrLIigEg++oYTAiApTONdiuIoiD/H0mxHgA86Aw1g
md5JfIf50PBA5Z45NA==
-----END CERTIFICATE-----
"""
