"""(For :mod:`treecredit.sandbox_child`.) Python source, part of ``GUARD``'s ``_install_guard``: the functions
that start processes, signal or reschedule other processes, or make modules and code objects with no audit event
(so the audit hook never sees them) replaced in the child interpreter before the hook is installed.

Text, not a function: lines of ``_install_guard``'s body (indented four spaces), after
:mod:`treecredit.sandbox_child`'s bindings and hook. It uses the names bound there (``os``, ``sys``, ``denied``,
``pid``, ``join_``, ``missing``, ``native``, ``no_files``) and holds a ``{kernel!r}`` that
:func:`treecredit.sandbox.run_python` replaces by whether the seccomp filter is on.
"""

from __future__ import annotations

UNAUDITED = r'''
    def no_process(*args, **kwargs):
        raise denied("sandbox: starting a process is not allowed")

    def no_pidfd(*args, **kwargs):
        raise denied("sandbox: process descriptors (pidfd_open, pidfd_send_signal) are not allowed")

    # No audit event for these: a program killed its caller. Replaced where they live; a fresh import of
    # posix or _signal (which would bring them back) is refused.
    import posix, _signal
    for module in (os, posix, _signal, sys.modules.get("signal")):
        for name in ("pidfd_open", "pidfd_send_signal"):
            if module is not None and hasattr(module, name):
                setattr(module, name, no_pidfd)

    # No audit event for these either: a program reniced its caller (or every process of the user) to 19,
    # or moved it to SCHED_IDLE or one CPU. setpriority becomes os.nice on this process (nothing that could
    # reach another process is kept). The sched_set* functions are kept for this process only where the
    # seccomp filter refuses them for any other (a replacement's closure holds the real function, which a
    # program can dig out); without the filter they are refused.
    index_, nice, getpriority, PRIO_PROCESS = __import__("operator").index, os.nice, os.getpriority, os.PRIO_PROCESS

    def not_ours(target):
        raise denied(f"sandbox: changing the scheduling of {target} (not this process) is not allowed")

    def setpriority(which, who, priority, /):
        which, who, priority = index_(which), index_(who), index_(priority)
        if which != PRIO_PROCESS or (who != 0 and who != pid):
            not_ours(f"{('process', 'process group', 'user')[which] if 0 <= which <= 2 else which} {who}")
        nice(priority - getpriority(PRIO_PROCESS, 0))

    def ours_only(function):
        def scheduling(target, /, *args):
            target = index_(target)
            if target != 0 and target != pid:
                not_ours(f"process {target}")
            return function(target, *args)
        return scheduling

    def no_scheduling(*args, **kwargs):
        raise denied("sandbox: sched_setscheduler, sched_setparam and sched_setaffinity are not allowed here "
                     "(no seccomp filter to keep them to this process)")

    kernel = {kernel!r}  # the seccomp filter refuses these system calls for other processes
    for name in ("setpriority", "sched_setscheduler", "sched_setparam", "sched_setaffinity"):
        function = getattr(posix, name, None)
        if function is not None:
            if name == "setpriority":
                function = setpriority
            else:
                function = ours_only(function) if kernel else no_scheduling
            setattr(os, name, function)
            setattr(posix, name, function)

    # A built-in module is made with no audit event (importlib.import_module, module_from_spec, imp.init_builtin,
    # _imp.create_builtin): after `del sys.modules[...]` a program got a fresh posix or _signal (the pidfd
    # functions and, in run_check, _signal.signal back) or pwd. So every built-in module the program may have
    # is made now, and _imp.create_builtin becomes a function that hands out those same (patched) modules and
    # refuses the rest: it holds no way to make one, so neither does a program that digs through it.
    import _imp
    made = {}
    for name in sys.builtin_module_names:
        if not (name in native or name in no_files or name.startswith("_test")):
            made[name] = sys.modules[name] if name in sys.modules else __import__(name)
    builtin_names = frozenset(sys.builtin_module_names)

    def create_builtin(spec, /, *, made=made, join_=join_, builtin_names=builtin_names, missing=missing):
        name = join_((spec.name,))  # read once; an exact str (a subclass's __eq__ is the program's)
        if name in made:
            return made[name]
        if name in builtin_names:
            raise missing(f"sandbox: importing {name} is not allowed (C code that opens files or starts "
                          "processes with no audit event)", name=name)
        return None  # (not a built-in module: what the real function answers)

    def exec_builtin(module, /):
        return 0  # (every module create_builtin hands out was executed when it was made)

    _imp.create_builtin, _imp.exec_builtin = create_builtin, exec_builtin
    # get_frozen_object(name, data) unmarshals `data` with no audit event: the frozen modules' code is
    # taken now, and the replacement takes no data.
    names = getattr(_imp, "_frozen_module_names", None)
    if names is not None:
        frozen = {}
        for name in names():
            try:
                frozen[name] = _imp.get_frozen_object(name)
            except ImportError:
                pass

        def get_frozen_object(name, data=None, /, *, frozen=frozen, join_=join_, denied=denied):
            name = join_((name,))
            if data is not None:
                raise denied("sandbox: _imp.get_frozen_object with data is not allowed (an unchecked code object)")
            if name not in frozen:
                raise ImportError(f"No such frozen object named {name!r}", name=name)
            return frozen[name]

        _imp.get_frozen_object = get_frozen_object
    # types.coroutine sets a flag on a generator's code by code.replace (refused above): its other path, a
    # wrapper that makes the generator awaitable, does the same without a new code object.
    types_ = __import__("types")
    plain_coroutine = types_.coroutine

    def coroutine(func, /, *, plain_coroutine=plain_coroutine, partial=__import__("functools").partial):
        wrapped = plain_coroutine(partial(func))
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(wrapped, name, getattr(func, name))
            except (AttributeError, TypeError):
                pass
        return wrapped

    types_.coroutine = coroutine

    for name in native | no_files:  # the program must import them afresh (refused), except _posixsubprocess:
        sys.modules.pop(name, None)
    # subprocess imports it (and other modules import subprocess); its fork_exec raises no audit event.
    spawner = __import__("_posixsubprocess")
    spawner.fork_exec = no_process
    sys.modules["_posixsubprocess"] = spawner
'''
