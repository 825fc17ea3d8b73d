"""The harness of :mod:`treecredit.sandbox_check`: boot source, run in the sandboxed child before the program, that
makes the verdict hook and the harness function (:func:`~treecredit.sandbox_check.run_check`'s module docstring
tells how the verdict is kept out of the program's reach, and its limits).

``HARNESS`` follows :data:`treecredit.sandbox_plain.CHECKER` and :data:`treecredit.sandbox_results.RESULTS` in the
boot text, after :func:`treecredit.sandbox_compare.compare_source`; ``run_check`` fills its placeholders:
``{token_fd}`` and ``{result_fd}`` (the pipes' file descriptors), ``{entry!r}``, ``{plain!r}``, ``{with_check!r}``,
``{called!r}`` (the tests' style, :func:`~treecredit.sandbox_check.style_of`), ``{library!r}``
(:func:`treecredit.sandbox_imports.import_plan`: the libraries put back before the tests), ``{modules!r}`` (the standard
modules the plain-data check takes), ``{rule}`` (:data:`~treecredit.sandbox_plain.PLAIN_RULE`), ``{compare_name!r}``
and ``{exit_name!r}`` (the run's sentinels that the child swaps for the checked comparison and the tests' exit).
``CALL`` is the program text run after the boot: it calls the harness and exits 0 only when it returned True.
"""

HARNESS = r'''
def _verdict_hook(token, fd, code, getframe, write, isenabled, disable, enable, same, starts, denied, no_frame,
                  tests_codes, get, id_, readers, no_code, stdlib, taken, kind_of, function_type):
    """The verdict hook: made before the program runs; everything it calls is bound here."""
    # starts seen, the harness's frame, spoiled, hooks still allowed (the guard), inside the hook's own getframe,
    # inside the hook's own read of a code object, the tests began (treecredit.tests)
    state = [0, None, False, 1, 0, 0, 0]
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
                raise no_frame("sandbox: sys._getframe is not allowed while the program and its tests run (here: "
                               + ("while the tests ran" if state[6] else "while the program ran, before the tests: "
                                  "its top level, or a module it imported")
                               + "); the sandbox hands them no frame, so a library that reads frames, such as "
                               "pyparsing (which matplotlib imports), does not work in the tests' run (it does "
                               "under treecredit.sandbox.run_python)")
            if (event == "object.__setattr__" or event == "object.__delattr__") and (
                    same(args[1], "__code__") or same(args[1], "__defaults__") or same(args[1], "__kwdefaults__")
                    or same(args[1], "__class__") or same(args[1], "__bases__")) and taken(args[0]):
                # (a library's function, class or module as before the program ran: treecredit.sandbox_modules)
                raise denied("sandbox: changing " + args[1] + " of a library's function, class or module is not "
                             "allowed (the tests use them as they were before the program ran)")
            if (event == "object.__setattr__" or event == "object.__delattr__") and (
                    same(args[1], "__code__") or same(args[1], "__defaults__") or same(args[1], "__kwdefaults__")) \
                    and kind_of(args[0]) is function_type:  # (a tests' function: review37 4c emptied test methods)
                state[5] = 1
                try:
                    held = get(args[0], "__code__")
                finally:
                    state[5] = 0
                if same(held.co_filename, "test.py"):
                    raise denied("sandbox: changing " + args[1] + " of a function of the tests is not allowed")
            if event == "object.__getattr__" and (same(args[1], "tb_frame") or same(args[1], "gi_frame")
                                                  or same(args[1], "cr_frame") or same(args[1], "ag_frame")):
                raise no_frame("sandbox: reading a frame (tb_frame, gi_frame, ...) is not allowed while the program "
                               "and its tests run (here: " + ("while the tests ran)" if state[6] else
                                                              "while the program ran, before the tests)"))
            if event == "object.__getattr__" and not state[5] and (
                    same(args[1], "__code__") or same(args[1], "gi_code") or same(args[1], "cr_code")
                    or same(args[1], "ag_code")):  # the tests' code holds the checked comparison (a constant)
                state[5] = 1
                try:
                    held = get(args[0], args[1])  # (a function's or generator's own getter: no program code)
                finally:
                    state[5] = 0
                if id_(held) in tests_codes:
                    state[4] = 1
                    try:
                        caller = getframe(1).f_code  # (the frame that reads it: getattr is C, it has none)
                    finally:
                        state[4] = 0
                    if id_(caller) in readers[0]:  # inspect's own readers of a function's code (below)
                        return
                    # From the standard library a refusal is also an AttributeError: getattr(f, '__code__', None)
                    # and hasattr there (unittest.mock's spec walk, inspect.getmembers) see no code and go on.
                    kind = no_code if starts(caller.co_filename, stdlib) else denied
                    caller = None
                    raise kind("sandbox: reading the code of a function of the tests is not allowed while the "
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
            elif event == "treecredit.tests" and state[1] is frame:
                state[6] = 1  # (only what refusals say)
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


def _held_as_now(roots, found, lists):
    """A function that raises unless every closure cell of the functions reachable from ``roots`` (through cells,
    defaults and the boot's classes) and every attribute of those classes hold what they hold now; ``found`` gets
    those functions and classes (the verdict hook refuses changing their code). ``lists`` (lists the harness fills
    before the program runs): their contents as at the call ``verify(True)``, from then on."""
    import itertools, operator, types
    function_type, cell_get = types.FunctionType, types.CellType.__dict__["cell_contents"].__get__
    class_dict = type.__dict__["__dict__"].__get__
    proxy_values = type(type.__dict__).values
    cells, held, classes, class_values = [], [], [], []
    seen, todo = set(), list(roots)
    while todo:
        value = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if type(value) is function_type and value.__code__.co_filename == "<string>":  # (the boot's own)
            found.append(value)
            for cell in value.__closure__ or ():
                try:
                    held_value = cell_get(cell)
                except ValueError:
                    continue
                if id(cell) in seen:
                    continue
                seen.add(id(cell))
                cells.append(cell)
                held.append(held_value)
                todo.append(held_value)
            todo.extend(value.__defaults__ or ())
            todo.extend((value.__kwdefaults__ or {}).values())
        elif type(value) is type and value.__module__ == __name__ and not type.__dict__["__flags__"].__get__(
                value) & (1 << 8):
            found.append(value)
            classes.append(class_dict(value))
            class_values.append(list(proxy_values(class_dict(value))))
            todo.extend(v.__func__ if type(v) in (staticmethod, classmethod) else v
                        for v in proxy_values(class_dict(value)))
        elif type(value) is tuple:
            todo.extend(value)
    same, all_, map_, len_, list_, flat = operator.is_, all, map, len, list, itertools.chain.from_iterable
    sizes = list(map(len, classes))
    values_then = list(flat(class_values))
    error = PermissionError
    contents = []

    def verify(first=False):
        if first:
            contents[:] = [list_(each) for each in lists]
        if not (all_(map_(same, map_(cell_get, cells), held)) and list_(map_(len_, classes)) == sizes
                and all_(map_(same, flat(map_(proxy_values, classes)), values_then))
                and list_(map_(len_, lists)) == list_(map_(len_, contents))
                and all_(map_(same, flat(lists), flat(contents)))):
            raise error("sandbox: the program changed the plain-data check's own functions or classes (a closure "
                        "cell or a class attribute): not allowed")

    return verify


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
    # The builtins' own names (not the module's dunders: those are the module's own, below).
    shadowable = tuple(key for key, _ in pristine if not (key.startswith("__") and key.endswith("__")))
    module = types.ModuleType("__main__")
    # The module's dunders as they are before the program runs (__name__ "__main__", __doc__, __spec__ ...): the
    # tests get these, not the program's (until 2026-12-03 a program's `__name__ = 'solution'` skipped every
    # `if __name__ == '__main__':` block of the tests, and a wrong program passed).
    held_dunders = tuple(module.__dict__.items())
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

    around_calls = []  # (each call of a wrapped function: the tests' libraries put back as they were before it)
    plain_results = _results_guard(is_plain, "StopIteration" in test, around_calls)  # (treecredit.sandbox_results)
    libraries, library_taken = _library_state(*{library!r})  # (treecredit.sandbox_modules)
    unittest_back = _unittest_state(test)  # (treecredit.sandbox_results: unittest as before the program)
    # The check's own functions and classes are in the program's reach (object.__subclasses__() finds the boot's
    # classes, such as the stand-in, and their functions' closures lead to the rest), and a closure cell or a class
    # attribute can be set with no audit event: until 2026-12-03 a program appended its always-equal class to the
    # plain-data check's types (review37 1), or set a cell of the comparison's copies to a fake `type`. So every
    # closure cell and class attribute of the check are verified, by identity, as they are now: after the
    # program's top level, after each call of its functions the tests make (with the libraries put back), and at
    # the tests' end; and the verdict hook refuses changing the check's functions' __code__/__defaults__/
    # __kwdefaults__ (boot_objects). (Not at each comparison: it would cost more than the comparison itself.)
    boot_objects, after_calls = [], []

    def after_call_checked(state, calls=after_calls):  # (around_calls[1] once the harness has the libraries)
        calls[0](state)
        calls[1]()

    intact = _held_as_now((checked_compare, plain_results, is_plain, fresh, after_call_checked), boot_objects,
                          (around_calls, after_calls)) if plain else None

    compiled[1] = embedded(compiled[1])

    def report(cache=linecache.cache, print_exc=traceback.print_exc):
        for name, text in (("main.py", program), ("test.py", test)):
            cache[name] = (len(text), None, text.splitlines(True), name)
        print_exc()

    def harness(audit=sys.audit, exec_=exec, dict_=dict, base=BaseException, callable_=callable, exited=TestsExited,
                ended_=ended, type_=type, int_=int, bool_=bool):
        audit("treecredit.start")
        # Into locals before any of the program runs: a closure's cells can be reassigned from outside.
        program_code, test_code, name, builtins_items = compiled[0], compiled[1], entry, pristine
        builtin_names, check_style, loaded, dunders = shadowable, with_check, called, held_dunders
        namespace = module.__dict__
        guard, on_failure, unittest_as_before = (plain_results if plain else None), report, unittest_back
        check_intact = intact
        try:
            libraries_as_before, before_call, after_call = libraries()  # (the texts' modules imported; a snapshot)
            exec_(program_code, namespace)
            candidate = namespace[name] if name is not None else None  # (a program without it fails)
            tests = dict_(namespace)
            # A program's top-level `abs = ...` (or an entry point named `max`) must not reach the tests' `abs`
            # (`max`); only tests that call the entry point by name (no check) see it under its name.
            for key in builtin_names:
                if key != name or check_style:
                    tests.pop(key, None)
            tests.pop("check", None)  # the tests' own check, or none: never the program's
            for key in ("__file__", "__cached__", "__path__"):  # (a module's dunders that __main__ lacks here)
                tests.pop(key, None)
            for key, value in dunders:
                tests[key] = value
            if guard is not None:  # every program callable the tests name (also next to a check, or when they
                for key in loaded:  # call a function other than the entry point)
                    if key in tests and callable_(tests[key]):
                        tests[key] = guard(tests[key], key)
                if name is not None and (not check_style or name in tests):  # (HumanEval: a builtin stays one)
                    tests[name] = guard(candidate, name)
            tests["__builtins__"] = dict_(builtins_items)
            libraries_as_before(tests)  # what the program patched in the libraries does not reach the tests
            if guard is not None:  # nor what it patches when the tests call it (sandbox_results's wrappers)
                after_calls[:] = [after_call, check_intact]
                around_calls[:] = [before_call, after_call_checked]
                check_intact(True)  # (the program's top level did not change the check's own functions)
            if unittest_as_before is not None:  # what the program patched in unittest does not reach the tests
                unittest_as_before()
            audit("treecredit.tests")  # (what the frame refusals say: the program ran, the tests run)
            try:
                exec_(test_code, tests)
            except exited as stop:  # their own exit (above): their end where its status is 0 or None
                status = ended_[1] if ended_ and stop is ended_[0] else 1
                if not (status is None or (type_(status) is int_ or type_(status) is bool_) and status == 0):
                    raise
            if name is not None and check_style:
                tests["check"](candidate if guard is None else guard(candidate, name))
            if check_intact is not None:  # (nor did the program's calls, to the end)
                check_intact()
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
    # The standard library's functions that read a function's code and hand none of it on (its flags for
    # inspect.iscoroutinefunction, which unittest.mock's patch decorators call; its parameters for
    # inspect.signature) may read the tests' code: taken by identity, kept alive here, before the program runs
    # (until 2026-12-03 every test decorated with mock.patch failed).
    readers = ()
    if plain:
        import inspect
        readers = tuple(each.__code__ for each in (getattr(inspect, "_has_code_flag", None),
                                                   getattr(inspect, "_signature_from_function", None))
                        if type(each) is types.FunctionType)

    class CodeRefused(AttributeError):
        """Reading a tests' function's code refused, where the standard library asked for it (an OSError, as
        PermissionError is, cannot also be an AttributeError)."""

    stdlib = os.path.dirname(os.__file__) + os.sep
    import itertools, operator

    def taken(value, library=library_taken, boot=boot_objects, any_=any, map_=map, same=operator.is_,
              repeat=itertools.repeat):  # (the verdict hook's: what the program may not change the code of)
        return library(value) or any_(map_(same, repeat(value), boot))

    sys.addaudithook(_verdict_hook(token, result_fd, harness.__code__, sys._getframe, os.write, gc.isenabled,
                                   gc.disable, gc.enable, str.__eq__, str.startswith, PermissionError,
                                   FrameRefused, tests_codes, getattr, id,
                                   (frozenset(id(c) for c in readers), readers), CodeRefused, stdlib, taken, type,
                                   types.FunctionType))
    return harness


_harness = _install({token_fd}, {result_fd}, {entry!r}, {plain!r}, {with_check!r}, {called!r})
del _install, _verdict_hook, _plain_checker, _results_guard, _unittest_state, _library_state, _held_as_now, make_compare
'''
# The status is for people only: the token decides. The harness leaves the globals first: every function the
# boot code made has them as __globals__, and some are in the program's reach (_signal.signal's refusal).
CALL = "raise SystemExit(0 if globals().pop('_harness')() else 1)\n"
