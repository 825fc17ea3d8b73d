"""The return-value check of :mod:`treecredit.sandbox_check` (``plain_results``): boot source, run before the
program, that wraps each function of the program the tests name so that what it returns must be plain data
(:mod:`treecredit.sandbox_plain`), and hands a lazy result to the tests through a wrapper that checks each value
it yields.

``_results_guard(is_plain) -> plain_results``; ``plain_results(function, name)`` is ``function`` with its results
checked, or ``function`` itself when it is a class that tests may use as it is (in ``isinstance``, ``except``,
``Config.LIMIT``; its objects are checked when compared): its metaclass ``type``, and its own classes
(not the builtin ones in its MRO) defining no special method but ``__init__`` (an exception class also
``__str__``, ``__repr__``): no ``__new__`` of the program's picks what a call returns, and no ``__sub__``,
``__bool__``, ``__abs__`` ... of the program's answers what tests compute from its objects. Any other class is
wrapped as a function is (its call must return plain data: an inert object). The entry point (``{entry!r}``,
replaced by :mod:`treecredit.sandbox_check`), when such a class, reaches the tests as a stand-in whose calls, and
those of its callable attributes (classmethods), are checked as a function's are; ``isinstance``, ``issubclass``,
its other attributes and the tests' own subclasses of it (``class Sub(candidate)`` derives from the class itself)
work as with the class (until 2026-12-03 it was wrapped as a function, and tests that use it as a class failed a
right program). The stand-in is not a class (a subclass would be among the class's ``__subclasses__()``, in the
program's reach): ``type(x) is candidate`` is False (a limit). Its class, ``ClassStandIn``, is in the program's
reach all the same (``object.__subclasses__()``), and through its functions' closures the whole check: the harness
verifies every closure cell and class attribute of the check by identity after the program's top level, after
each call the tests make, and at the tests' end (:mod:`treecredit.sandbox_harness`; until 2026-12-03, review37 1,
a program appended its always-equal class to the plain types there); a program that changes them inside one call
and puts them back inside a later one, before the tests end, is not seen (a limit). An exception class (a
``BaseException`` subclass) entry point reaches the tests as the class itself, as the program's other passable
classes do: its objects are raised and caught (``except candidate`` needs a class; until trial 37, 2026-12-03, it
got the stand-in and a right program failed). Until 2026-12-03 every class
stayed itself, and a class entry point whose ``__new__`` returned an object whose ``__sub__`` returned 0 passed
``abs(candidate(x) - y) < 1e-6``; earlier still every class was wrapped, and ``except MyError`` failed. A class
that stays itself is not checked per call: its ``__init__`` could still set the new object's ``__class__`` to
another class (a limit).

A lazy result (a generator; ``map``, ``filter``, ``zip``, ``enumerate``, ``reversed``, the builtin containers'
and ``itertools``' iterators; the types taken before the program runs) passes through a generator that checks
each value (and a generator's return value) as the tests draw it, and passes a generator's ``send()`` and
``throw()`` on (until 2026-12-03 it did not, and the other iterators were refused). A value that is not plain
raises ``TypeError`` naming the function, the type and ``--reward code:plain_results=false``.

Each call of a wrapped function (and of the entry point's stand-in) runs between ``around_calls``' two functions
when the harness has set them (``_results_guard(is_plain, stops_expected, around_calls)``): the tests' libraries
put back after the call as they were before it (:mod:`treecredit.sandbox_modules`).

A ``StopIteration`` escaping a wrapped function (or a call of the entry point's stand-in) is a ``RuntimeError``
naming the function, unless the tests' text names ``StopIteration`` (``_results_guard(is_plain,
stops_expected)``; the harness passes ``"StopIteration" in test``): then it passes on as it is (tests expect one:
``assertRaises(StopIteration)``), and what keeps it from silently ending the tests' ``for ... in map(candidate,
...)`` loop is the rewrite of the tests' ``map`` and ``filter`` calls alone (:mod:`treecredit.sandbox_rewrite`).
From trial 35 until 2026-12-03 every ``StopIteration`` became a ``RuntimeError`` (tests that expect one failed a
right program); then until trial 37 (2026-12-03) none did, and ``itertools.starmap(candidate, ...)``,
``builtins.map``, ``itertools.filterfalse``, ``iter(lambda: candidate(...), None)`` or a tests' iterator whose
``__next__`` calls the candidate ended early: a wrong program passed. Limits: tests that name
``StopIteration`` and also loop through one of those; a method of the program's object (not wrapped) outside the
tests' ``map``/``filter``; ``plain_results=False`` (nothing is wrapped).

``_unittest_state(test) -> restore`` (None for tests that do not name ``unittest``): made before the program
runs, ``restore()`` puts ``unittest`` back as it was then, and the harness calls it just before the tests run: the
``sys.modules`` entries ``unittest`` and ``unittest.*`` (one the program added is removed), their modules'
namespaces, and the ``__dict__`` of every class they define (``TestCase``, ``TestLoader``, ``IsolatedAsyncioTestCase``
when the tests name it ...). Until 2026-12-03 a program's patch of ``unittest.TestCase`` (``setUp``, ``debug``,
``__init_subclass__``, ``__init__``, ``assertTrue``) reached the tests (:mod:`treecredit.rewards.code_unittest`).

The wrapper has the function's ``__name__``, ``__qualname__`` and ``__doc__`` (when each is a ``str``; until
2026-12-03 it was named ``candidate`` with no docstring) and, for a function, its ``__signature__`` (the
``inspect.Signature`` of the program's function, taken when the wrapper is made: until 2026-12-03
``inspect.signature(candidate)`` said ``(*args, **kwargs)``); not ``__wrapped__``, which would hand the tests the
unchecked function.
"""

RESULTS = r'''
def _results_guard(is_plain, stops_expected=True, around_calls=()):
    type_, TypeError_, repr_, subclass_ = type, TypeError, repr, issubclass

    # Lazy results (a generator; map, filter, zip, enumerate, reversed, the builtin containers' and itertools'
    # iterators) pass through a wrapper that checks each value they yield as the tests draw it, so that
    # `list(f(x)) == [...]` works; a generator's send() and throw() pass through. Types taken before the program.
    import itertools
    generator = type((lambda: (yield))())
    lazy_kinds = [generator, map, filter, zip, enumerate, reversed]
    for sample in ([], (), "", b"", bytearray(), range(0), range(1 << 70), {}, {}.keys(), {}.values(), {}.items(),
                   set(), frozenset()):
        lazy_kinds.append(type(iter(sample)))
    for sample in ([], range(0), {}, {}.keys(), {}.values(), {}.items()):
        lazy_kinds.append(type(reversed(sample)))
    for key in ("accumulate", "batched", "chain", "combinations", "combinations_with_replacement", "compress",
                "count", "cycle", "dropwhile", "filterfalse", "groupby", "islice", "pairwise", "permutations",
                "product", "repeat", "starmap", "takewhile", "zip_longest"):
        if type(getattr(itertools, key, None)) is type:
            lazy_kinds.append(getattr(itertools, key))
    lazy_kinds = tuple(lazy_kinds)
    next_, send_, throw_, close_ = next, generator.send, generator.throw, generator.close
    StopIteration_, GeneratorExit_, BaseException_ = StopIteration, GeneratorExit, BaseException
    RuntimeError_, str_, getattr_, setattr_, Exception_ = RuntimeError, str, getattr, setattr, Exception

    def refusal(name, did, value):
        return ("sandbox: the program's " + name + " " + did + " an object of type " + repr_(type_(value).__name__)
                + ", which is not plain data; {rule}. Such an object could compare equal to anything; for tests of "
                "functions that return other objects turn the check off: --reward code:plain_results=false "
                "(code_reward(..., plain_results=False))")

    def plain_items(iterator, name, through):
        """What ``iterator`` yields (and returns), each value checked; with ``through`` (a generator) the
        values sent and the exceptions thrown into this one go on to it."""
        try:
            item = next_(iterator)
        except StopIteration_ as stop:
            item = stop.value
            if not is_plain(item, 0):
                raise TypeError_(refusal(name, "returned from its generator", item)) from None
            return item
        while True:
            if not is_plain(item, 0):
                raise TypeError_(refusal(name, "yielded", item))
            try:
                sent = yield item
            except GeneratorExit_:
                if through:
                    close_(iterator)
                raise
            except BaseException_ as error:
                if not through:
                    raise
                try:
                    item = throw_(iterator, error)
                except StopIteration_ as stop:
                    item = stop.value
                    if not is_plain(item, 0):
                        raise TypeError_(refusal(name, "returned from its generator", item)) from None
                    return item
                continue
            try:
                item = send_(iterator, sent) if through else next_(iterator)
            except StopIteration_ as stop:
                item = stop.value
                if not is_plain(item, 0):
                    raise TypeError_(refusal(name, "returned from its generator", item)) from None
                return item

    entry = {entry!r}  # (the entry point's name, set by sandbox_check: its class is wrapped too)
    class_dict, class_mro = type_.__dict__["__dict__"].__get__, type_.__dict__["__mro__"].__get__
    flags_of, proxy_keys = type_.__dict__["__flags__"].__get__, type(type_.__dict__).keys
    as_str, starts, ends = str.__str__, str.startswith, str.endswith
    immutable = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a builtin (C) type, whose code is not the program's
    base_exception = BaseException
    inert = frozenset(("__module__", "__qualname__", "__doc__", "__init__", "__dict__", "__weakref__",
                       "__slots__", "__annotations__", "__firstlineno__", "__static_attributes__"))
    spoken = inert | frozenset(("__str__", "__repr__"))  # (an exception class's message)

    def passable(kind):
        """Whether the class ``kind`` may reach the tests as itself: its metaclass is ``type``, and its own
        classes (not the builtin ones in its MRO) define no special method but ``__init__`` (an exception
        class also ``__str__``, ``__repr__``): so calling it makes an object of it by the builtin
        ``__new__``, and no special method of the program's runs on that object."""
        if type_(kind) is not type_:
            return False
        mro = class_mro(kind)
        allowed = inert
        for klass in mro:
            if klass is base_exception:
                allowed = spoken
        for klass in mro:
            if flags_of(klass) & immutable:
                continue
            if type_(klass) is not type_:
                return False
            for key in proxy_keys(class_dict(klass)):
                key = as_str(key)
                if starts(key, "__") and ends(key, "__") and key not in allowed:
                    return False
        return True

    origins = {}  # id(a stand-in) -> the program's class it stands for
    origin_of, isinstance_, issubclass_, get_attribute = origins.get, isinstance, issubclass, getattr

    class ClassStandIn:
        """What the tests get for a class entry point: not a class (so not among the program's class's
        ``__subclasses__()``, where the program could find it), but called, asked for attributes, used in
        ``isinstance``/``issubclass`` and subclassed as the class is; its calls, and those of its callable
        attributes (classmethods), are checked as a function's are."""
        __slots__ = ()

        def __call__(self, *args, **kwargs):
            return checked_call(origin_of(id_(self)), args, kwargs)

        def __getattribute__(self, key):
            if key == "__mro_entries__":  # (looked up on the object itself by class statements)
                return own_attribute(self, key)
            kind = origin_of(id_(self))
            value = get_attribute(kind, key)
            if callable_(value) and not subclass_(type_(value), type_):
                return plain_results(value, qualname_of(kind) + "." + key)
            return value

        def __instancecheck__(self, instance):
            return isinstance_(instance, origin_of(id_(self)))

        def __subclasscheck__(self, subclass):
            return issubclass_(subclass, origin_of(id_(self)))

        def __mro_entries__(self, bases):
            return (origin_of(id_(self)),)

    id_, callable_, qualname_of = id, callable, type.__dict__["__qualname__"].__get__
    import inspect
    import types
    signature, signature_type, function_type = inspect.signature, inspect.Signature, types.FunctionType
    own_attribute = object.__getattribute__
    keep = []

    def stopped(name):
        """The ``RuntimeError`` for a ``StopIteration`` that ``name`` raised, when the tests do not name one."""
        return RuntimeError_("sandbox: the program's " + name + " raised StopIteration, which would silently end "
                             "the tests' loop that called it (itertools.starmap, a tests' iterator ...); the tests "
                             "do not name StopIteration, so it is a RuntimeError here (as PEP 479 makes it in a "
                             "generator)")

    def checked_call(kind, args, kwargs):
        state = around_calls[0]() if around_calls else None
        try:
            result = kind(*args, **kwargs)
        except StopIteration_ as stop:
            if stops_expected:
                raise
            raise stopped("class " + repr_(qualname_of(kind))) from stop
        finally:
            if state is not None:  # (the libraries put back: treecredit.sandbox_modules)
                around_calls[1](state)
        if not is_plain(result, 0):
            raise TypeError_(refusal("class " + repr_(qualname_of(kind)), "returned", result))
        return result

    def stand_in_for(kind):
        """The stand-in (:class:`ClassStandIn`) for the program's class ``kind``, which :func:`passable`
        accepts."""
        stand_in = ClassStandIn()
        origins[id_(stand_in)] = kind
        keep.append(stand_in)  # (alive, so that its id is not reused)
        return stand_in

    def plain_results(function, name):
        """``function`` with its results checked. A class stays itself when :func:`passable` (tests use it in
        isinstance, except, ``Config.LIMIT``); the entry point, when passable, gets a stand-in whose calls are
        checked (:func:`stand_in_for`); any other class is wrapped like a function (until 2026-12-03
        every class stayed itself, and an entry point whose ``__new__``, or whose objects' ``__sub__``, made up
        the answer passed; then until 2026-12-03 the entry point was always wrapped like a function, and
        ``isinstance(x, candidate)``, ``candidate.LIMIT`` and ``class Sub(candidate)`` failed a right class). An
        exception class entry point stays itself (``except candidate``). With the stand-in, ``type(c) is
        candidate`` is False (a limit: tests that compare types fail a right class)."""
        if subclass_(type_(function), type_) and passable(function):
            # (an exception class is only raised and caught: `except candidate` needs the class itself)
            return stand_in_for(function) if name == entry and not subclass_(function, base_exception) else function
        name = ("class " if subclass_(type_(function), type_) else "function ") + repr_(name)

        def candidate(*args, **kwargs):
            state = around_calls[0]() if around_calls else None
            try:
                result = function(*args, **kwargs)
            except StopIteration_ as stop:  # (tests that name StopIteration: treecredit.sandbox_rewrite's _LOOPS)
                if stops_expected:
                    raise
                raise stopped(name) from stop
            finally:
                if state is not None:  # (the libraries put back: treecredit.sandbox_modules)
                    around_calls[1](state)
            kind = type_(result)
            for lazy in lazy_kinds:
                if kind is lazy:
                    return plain_items(result, name, kind is generator)
            if not is_plain(result, 0):
                raise TypeError_(refusal(name, "returned", result))
            return result
        for key in ("__name__", "__qualname__", "__doc__"):  # (text only: never the program's own object)
            try:
                value = getattr_(function, key)
            except Exception_:
                continue
            if type_(value) is str_:
                setattr_(candidate, key, value)
        if type_(function) is function_type:  # its parameters for inspect.signature (a Signature: no code of its)
            try:
                said = signature(function)
            except Exception_:
                said = None
            if type_(said) is signature_type:
                setattr_(candidate, "__signature__", said)
        return candidate

    return plain_results


def _unittest_state(test):
    """For tests that name unittest (``test``: their text): a function that puts ``unittest`` back as it was now,
    before the program runs (treecredit.sandbox_results), or None."""
    if "unittest" not in test:
        return None
    import sys
    import unittest
    import unittest.case
    if "IsolatedAsyncioTestCase" in test:
        import unittest.async_case
    modules = sys.modules  # (the interpreter's own dict: a program's `sys.modules = {}` does not replace it)
    mine = {key: module for key, module in modules.items() if key == "unittest" or key.startswith("unittest.")}
    module_dicts = [(module.__dict__, dict(module.__dict__)) for module in mine.values()]
    class_dict, type_, dict_ = type.__dict__["__dict__"].__get__, type, dict
    classes = {}
    for module in mine.values():
        for value in module.__dict__.values():
            if type(value) is type and str.startswith(str(getattr(value, "__module__", "")), "unittest"):
                classes[id(value)] = (value, dict(class_dict(value)))
    classes = tuple(classes.values())
    set_, delete, clear, update, items, keys = (type.__setattr__, type.__delattr__, dict.clear, dict.update,
                                                dict.items, dict.keys)
    startswith, absent, list_ = str.startswith, object(), list

    def restore():
        for key in list_(keys(modules)):
            if (key == "unittest" or startswith(key, "unittest.")) and key not in mine:
                del modules[key]
        for key, module in items(mine):
            modules[key] = module
        for namespace, saved in module_dicts:
            clear(namespace)
            update(namespace, saved)
        for kind, saved in classes:
            now = class_dict(kind)
            for key in [key for key in now if key not in saved]:
                delete(kind, key)
            for key, value in items(saved):
                if now.get(key, absent) is not value:
                    set_(kind, key, value)

    return restore
'''
