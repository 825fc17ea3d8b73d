"""The return-value check of :mod:`treecredit.sandbox_check` (``plain_results``): boot source, run before the
program, that wraps each function of the program the tests name so that what it returns must be plain data
(:mod:`treecredit.sandbox_plain`), and hands a lazy result to the tests through a wrapper that checks each value
it yields.

``_results_guard(is_plain) -> plain_results``; ``plain_results(function, name)`` is ``function`` with its results
checked, or ``function`` itself when it is a class (tests use the program's classes in ``isinstance``,
``except``, ``Config.LIMIT``; their objects are checked when compared; until 2026-12-03 classes were wrapped
too). A lazy result (a generator; ``map``, ``filter``, ``zip``, ``enumerate``, ``reversed``, the builtin
containers' and ``itertools``' iterators; the types taken before the program runs) passes through a generator
that checks each value (and a generator's return value) as the tests draw it, and passes a generator's
``send()`` and ``throw()`` on (until 2026-12-03 it did not, and the other iterators were refused). A value that
is not plain raises ``TypeError`` naming the function, the type and ``--reward code:plain_results=false``.
"""

RESULTS = r'''
def _results_guard(is_plain):
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

    def plain_results(function, name):
        """``function`` with its results checked; a class stays itself (tests use it in isinstance, except,
        ``Config.LIMIT``: until 2026-12-03 it was wrapped too), its objects are checked when compared."""
        if subclass_(type_(function), type_):
            return function
        name = "function " + repr_(name)

        def candidate(*args, **kwargs):
            result = function(*args, **kwargs)
            kind = type_(result)
            for lazy in lazy_kinds:
                if kind is lazy:
                    return plain_items(result, name, kind is generator)
            if not is_plain(result, 0):
                raise TypeError_(refusal(name, "returned", result))
            return result
        return candidate

    return plain_results
'''
