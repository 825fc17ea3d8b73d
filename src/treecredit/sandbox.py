"""Run untrusted (model-written) Python code: own process group, limits, no network, a throw-away folder.

What is enforced, in layers (``SandboxResult.layers`` says which were active for a run):

1. **Operating system** (always): a new session and process group (``setsid``) killed as a whole
   (``SIGKILL`` to the group) at the wall-clock timeout and after every run; ``RLIMIT_CPU`` (CPU
   seconds), ``RLIMIT_AS`` (address space, so a 10 GiB allocation fails), ``RLIMIT_FSIZE`` (largest
   file written), ``RLIMIT_NOFILE``, no core files, and ``RLIMIT_NPROC`` (effective for non-root users
   only; Linux exempts root). A minimal environment (no proxies, ``HOME`` and ``TMPDIR`` inside the folder).
2. **Namespaces** (Linux, when the kernel allows them; as root, or through an unprivileged user
   namespace): a new network namespace (no interface but a downed loopback: no network at all), a new
   mount namespace where every mount except ``/dev`` and the run's folder is remounted read-only (so
   nothing outside the folder can be written even by native code), and, when the ``unshare`` program
   exists, a new PID namespace whose processes the kernel kills together when its first process dies.
   Run as root, the code then drops every capability (bounding set emptied, ``no_new_privs``), so it
   cannot remount anything writable or leave the namespaces.
3. **Python audit hook** (PEP 578), installed before the code runs: refuses ``os.system``,
   ``subprocess``, ``exec*``/``spawn*``/``fork``, sockets, ``ctypes``, signals to other processes,
   ``sqlite3``, tracing/profiling (``sys.settrace``/``setprofile``), ``sys._current_frames``, ``gc.get_*``,
   further audit hooks, opening anything under ``/proc`` (``/proc/self/mem``), and any file write,
   rename, removal, or mode change outside the folder. The hook calls only functions bound when it was
   installed and resolves paths (symbolic links included) with C functions, so code that replaces
   ``os.path.join`` or ``builtins.isinstance`` does not change its decisions.

The folder (``tempfile.mkdtemp``) is the working directory and is removed after the run. Layer 3 alone
can be bypassed by determined native code, which is why layer 2 exists; where layer 2 is unavailable
(non-Linux, or namespaces disabled), only layers 1 and 3 hold: say so to users (``layers``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
                "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
OUTPUT_LIMIT = 64 * 1024  # characters of stdout / stderr kept


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    Attributes:
        passed: :func:`run_python`: exit status 0 within the limits (the code decides it);
            :func:`treecredit.sandbox_check.run_check`: the tests' ``check`` returned within the limits.
        returncode: the exit status (negative: killed by that signal); None if it never started.
        timed_out: the wall-clock timeout killed it.
        stdout, stderr: the first ``OUTPUT_LIMIT`` characters of each.
        seconds: wall time.
        layers: the isolation layers that were active ("limits", "namespaces", "pid_namespace", "audit").
    """

    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    seconds: float
    layers: tuple[str, ...]


_DROP_CAPABILITIES = r'''
import ctypes as _ct
_libc = _ct.CDLL(None, use_errno=True)
for _cap in range(64):  # empty the bounding set: no exec can regain a capability
    if _libc.prctl(24, _cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; fails past the last capability
        break
_libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS

class _Header(_ct.Structure):
    _fields_ = [("version", _ct.c_uint32), ("pid", _ct.c_int)]

class _Data(_ct.Structure):
    _fields_ = [("effective", _ct.c_uint32), ("permitted", _ct.c_uint32), ("inheritable", _ct.c_uint32)]

if _libc.capset(_ct.byref(_Header(0x20080522, 0)), (_Data * 2)()) != 0:  # no capability left
    raise SystemExit("sandbox: could not drop capabilities")
del _ct, _libc, _cap, _Header, _Data
'''

_GUARD = r'''
def _install_guard():
    import os, sys
    root = os.path.realpath(os.getcwd())
    # Everything the hook uses is bound here, in its closure: code that later replaces a module's or the
    # builtins' attributes (os.path.join, isinstance, PermissionError, ...) cannot change what it calls.
    sep, devnull, fspath, lstat, readlink = os.sep, os.devnull, os.fspath, os.lstat, os.readlink
    str_, bytes_, int_, isinstance_, len_, denied = str, bytes, int, isinstance, len, PermissionError
    join_, is_link, decode, failed = "".join, __import__("stat").S_ISLNK, bytes.decode, OSError
    write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    blocked = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
               "os.kill", "os.killpg", "signal.pthread_kill", "socket.", "ctypes.", "sqlite3.", "_winapi.", "pty.",
               "sys.settrace", "sys.setprofile", "sys._current_frames", "sys.addaudithook", "gc.get_")
    one = frozenset(("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                     "shutil.rmtree", "os.chflags", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr"))
    two = frozenset(("os.link", "os.symlink", "os.rename"))

    def resolved(path):
        """The absolute path with every symbolic link followed, by C functions only (os.path.realpath
        is pure Python: code could patch what it calls)."""
        path = fspath(path)
        path = decode(path, "utf-8", "surrogateescape") if isinstance_(path, bytes_) else join_((path,))
        if not path.startswith("/"):
            path = root + "/" + path
        pending, result, links = path.split("/")[::-1], "", 0
        while pending:
            name = pending.pop()
            if name == "" or name == ".":
                continue
            if name == "..":
                result = result[: result.rfind("/")]
                continue
            step = result + "/" + name
            try:
                mode = lstat(step).st_mode
            except failed:
                result = step
                continue
            if is_link(mode):
                links += 1
                if links > 40:
                    raise denied(f"sandbox: too many symbolic links in {path!r}")
                target = readlink(step)
                if target.startswith("/"):
                    result = ""
                pending.extend(target.split("/")[::-1])
            else:
                result = step
        return result or "/"

    def inside(path):
        if isinstance_(path, int_):
            return True
        full = resolved(path)
        return full == root or full.startswith(root + sep) or full == devnull

    def hook(event, args):
        if event.startswith(blocked):
            raise denied(f"sandbox: {event} is not allowed")
        if event == "open" and len_(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            if path is None or isinstance_(path, int_):
                return
            writes = isinstance_(mode, str_) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            writes = writes or (isinstance_(flags, int_) and flags & write)
            if writes and not inside(path):
                raise denied(f"sandbox: writing {path!r} outside the sandbox folder is not allowed")
            if resolved(path).startswith("/proc/"):  # /proc/self/mem would show the process's own memory
                raise denied(f"sandbox: opening {path!r} under /proc is not allowed")
        elif event in one or event in two:
            for path in args[: 2 if event in two else 1]:
                if path is not None and not inside(path):
                    raise denied(f"sandbox: {event} on {path!r} outside the sandbox folder is not allowed")

    sys.addaudithook(hook)

_install_guard()
del _install_guard
'''

_RUN = r'''
import sys
sys.argv = ["main.py"]
with open("main.py") as _f:
    _code = compile(_f.read(), "main.py", "exec")
del _f
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
'''


def _mount_flags(options: str) -> int:
    return sum(_MOUNT_FLAGS.get(o, 0) for o in set(options.split(",")))


def _enter_namespaces(root: str) -> None:
    """(In the child, before exec.) New network and mount namespaces; everything but ``root`` read-only."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    user = uid != 0
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWUSER if user else 0)) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    if user:  # map ourselves to ourselves, so files we create keep our owner
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)

    def mount(source, target, flags):
        if libc.mount(source, target.encode(), None, flags, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target} failed")

    mount(None, "/", MS_REC | MS_PRIVATE)
    with open("/proc/self/mountinfo") as handle:
        mounts = [(f[4].replace("\\040", " "), f[5]) for f in (line.split() for line in handle)]
    mount(root.encode(), root, MS_BIND | MS_REC)  # the one writable place
    for point, options in mounts:
        if point == root or point == "/dev" or point.startswith("/dev/") or point.startswith("/proc/"):
            continue
        try:
            mount(None, point, MS_REMOUNT | MS_BIND | MS_RDONLY | _mount_flags(options))
        except OSError:
            if point in ("/", "/tmp", os.path.dirname(root)) or not os.path.ismount(point):
                raise
    os.chdir(root)  # the working directory opened before the bind mount is the read-only one beneath it


def _limit(cpu_seconds: int, memory_bytes: int, file_bytes: int, processes: int) -> None:
    for which, value in ((resource.RLIMIT_CPU, cpu_seconds), (resource.RLIMIT_AS, memory_bytes),
                         (resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, processes)):
        resource.setrlimit(which, (value, value))


def _child_setup(root, namespaces, cpu_seconds, memory_bytes, file_bytes, processes):
    os.setsid()
    if namespaces:
        _enter_namespaces(root)
    _limit(cpu_seconds, memory_bytes, file_bytes, processes)


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether this machine lets the sandbox create network and mount namespaces (probed once)."""
    if sys.platform != "linux":
        return False
    root = tempfile.mkdtemp(prefix="treecredit-probe-")
    try:
        subprocess.run([sys.executable, "-c", "pass"], cwd=root, check=True, timeout=30,
                       preexec_fn=functools.partial(_enter_namespaces, os.path.realpath(root)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    for _ in range(100):  # a process forking while we kill it: repeat until the group is empty
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def run_python(code: str, *, timeout: float = 10.0, memory_mb: int = 1024, file_mb: int = 16, processes: int = 64,
               audit: bool = True, namespaces: bool | None = None) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh folder under the layers described in the module docstring.

    ``passed`` is the exit status only: the code decides it (``sys.exit(0)`` passes). To judge a program
    by tests, use :func:`treecredit.sandbox_check.run_check`, whose verdict the code cannot fake that way.

    Args:
        code: a Python program.
        timeout: wall-clock seconds (> 0) before the whole process group is killed; also the CPU limit.
        memory_mb: address-space limit in MiB; file_mb: largest file the code may write, in MiB.
        processes: ``RLIMIT_NPROC`` (non-root users only).
        audit: install the audit hook (layer 3). Turn off only to test the other layers.
        namespaces: require (True) or skip (False) layer 2; None = use it where available.
    """
    return run_boot({"main.py": code}, _RUN, timeout=timeout, memory_mb=memory_mb, file_mb=file_mb,
                    processes=processes, audit=audit, namespaces=namespaces)


def run_boot(files: dict[str, str], boot: str, *, timeout: float = 10.0, memory_mb: int = 1024, file_mb: int = 16,
             processes: int = 64, audit: bool = True, namespaces: bool | None = None,
             pass_fds: tuple[int, ...] = (), prelude: str = "") -> SandboxResult:
    """(For :mod:`treecredit.sandbox_check`.) Write ``files`` (name → text) into a fresh folder and run the
    Python source ``prelude``, then the audit hook (which refuses further hooks), then ``boot`` there,
    under every layer; ``pass_fds`` stay open in the child. Arguments as :func:`run_python`; ``passed``
    is exit status 0."""
    from treecredit._validation import fail

    if not timeout > 0:
        fail("timeout", f"is {timeout}, must be > 0", "pass a number of seconds such as 10")
    use_ns = namespaces_available() if namespaces is None else namespaces
    if use_ns and not namespaces_available():
        fail("namespaces", "network and mount namespaces are not available on this machine",
             "pass namespaces=None to use them only where available")
    root = os.path.realpath(tempfile.mkdtemp(prefix="treecredit-sandbox-"))
    layers = ["limits"] + (["namespaces"] if use_ns else []) + (["audit"] if audit else [])
    try:
        for name, text in files.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
                handle.write(text)
        boot = (_DROP_CAPABILITIES if os.geteuid() == 0 else "") + prelude + (_GUARD if audit else "") + boot
        command = [sys.executable, "-I", "-B", "-c", boot]
        unshare = shutil.which("unshare") if use_ns and os.geteuid() == 0 else None
        if unshare:
            command = [unshare, "--pid", "--fork", "--kill-child", "--", *command]
            layers.append("pid_namespace")
        env = {"PATH": "/usr/bin:/bin", "HOME": root, "TMPDIR": root, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        cpu = max(1, int(timeout + 0.999))
        out_path, err_path = os.path.join(root, ".stdout"), os.path.join(root, ".stderr")
        started = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        pass_fds=pass_fds,
                                        preexec_fn=functools.partial(_child_setup, root, use_ns, cpu,
                                                                     memory_mb << 20, file_mb << 20, processes))
            except (OSError, subprocess.SubprocessError) as exc:
                return SandboxResult(False, None, False, "", f"sandbox: could not start ({exc})", 0.0, tuple(layers))
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc.pid)  # the whole group, also after a normal exit (left-over children)
            proc.wait()
        seconds = time.perf_counter() - started
        stdout, stderr = (_read(p) for p in (out_path, err_path))
        code_ = proc.returncode
        return SandboxResult(code_ == 0 and not timed_out, code_, timed_out, stdout, stderr, seconds, tuple(layers))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _read(path: str) -> str:
    with open(path, "rb") as handle:
        return handle.read(OUTPUT_LIMIT).decode("utf-8", "replace")
