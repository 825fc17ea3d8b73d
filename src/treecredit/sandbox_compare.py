"""Comparisons that check their operands: a test's ``l == [1, 2, 3]`` made to compare only plain data, so that a
program cannot pass it by putting an object whose ``__eq__`` always says True into an argument, a container the
test reads, or a list it returned earlier and changes later (which a check of the program's return values at
return time misses).

Two parts, both pure (no sandbox here; :mod:`treecredit.sandbox_check` puts them together):

- :func:`treecredit.sandbox_rewrite.rewrite_comparisons` rewrites the text of a test: each comparison in it (and
  ``operator.eq``, ``self.assertEqual`` ...) becomes a call of :data:`COMPARE` with the operators and the
  operands (until 2026-12-03 only those inside ``assert`` statements: ``rewrite_asserts``);
- :func:`make_compare` makes that function: it copies both operands of each comparison (an exact scalar, or an
  exact ``list``/``tuple``/``set``/``frozenset``/``dict`` of exact scalars, is checked by C code and compared as
  it is: the fast path, about 11 times faster at 20,000 items, ``benchmarks/bench_compare.py``; still one pass
  a comparison; two exact ints or two exact strs under ``==``/``!=`` skip even that, with the garbage collector
  left as it is: a test's reference loop with 3,000,000 such comparisons took 6.2-6.6 s where it took
  10.6-12.8 s, unchecked 0.9-1.2 s, trial35 f6, 2026-12-03), checking that they are
  plain data (:data:`PLAIN`: exact types, no subclass; containers recursively, nested at most
  :data:`MAX_DEPTH` deep; in the sandbox also what :mod:`treecredit.sandbox_plain` accepts, such as
  ``Counter``, copied by the checker's trusted code, an inert object of the program's compared by identity),
  and compares the copies with the builtin operators, which no code of the program can reach (the garbage
  collector is off from the first copy to the result; the sandbox lets the program start no thread); an
  operand that is not plain data fails the comparison (``AssertionError`` saying which operand of which
  operator, its type, and the option that turns the check off). Its source has no free names, so the
  sandbox's harness can define it from :func:`compare_source` before the program runs (its builtins bound
  then).

Semantics: a comparison of plain data gives what Python gives (the copies compare as the originals do:
scalars are not copied, so ``nan`` stays identical to itself); operands are evaluated in Python's order, once
each, and each comparison of a chain copies its two operands when it compares them. ``x in d.values()``
compares with a list of the values (until 2026-12-03 the view was a stand-in compared by identity, and the
membership test raised ``TypeError``).
"""

from __future__ import annotations

from treecredit.sandbox_rewrite import COMPARE, rewrite_comparisons

__all__ = ["COMPARE", "MAX_DEPTH", "PLAIN", "compare_source", "make_compare", "rewrite_comparisons"]

PLAIN = ("NoneType", "bool", "int", "float", "complex", "str", "bytes", "type", "list", "tuple", "dict", "set",
         "frozenset")
"""The types whose values a checked comparison accepts (exact types): the sandbox's plain data
(:mod:`treecredit.sandbox_check`) and ``type`` objects whose own type is exactly ``type`` (``type(x) == int``:
they compare by identity)."""

MAX_DEPTH = 100
"""How deep containers may nest in an operand of a checked comparison (deeper, or a container that holds
itself: not plain data)."""

def make_compare(is_plain=None, rule=None, fresh=None):
    """The checked comparison the rewritten tests call (:func:`rewrite_comparisons`):
    ``compare(ops, *operands, lazy=False)`` with ``ops`` a tuple of operator texts (``"=="``, ``"not in"``...;
    ``"sequence =="``: ``unittest``'s ``assertSequenceEqual``, equal or the same items in order whatever the
    sequence types, so ``[1, 3]`` and ``(1, 3)``: until 2026-12-03 it was ``==``)
    and one operand more than operators (with ``lazy``, those from the third on are functions that return
    them, called only when the chain gets that far). Returns what the chain of builtin comparisons returns.

    Raises ``AssertionError`` for an operand of an operator other than ``is``/``is not`` that is not plain
    data (:data:`PLAIN`), naming the operator, the operand's side, its type and how to turn the check off.

    ``is_plain(value, depth) -> bool``: the sandbox's wider check (:mod:`treecredit.sandbox_plain`: ``Counter``,
    ``Fraction``, inert objects of the program's classes ...), asked about each value inside the operands that
    is not of a type :data:`PLAIN` names. ``fresh(value, inner, same)``: the copy of such a value (``inner``
    copies a value inside it, ``same(value)`` stands for an object compared by identity); None: such a
    value is compared as it is (in-process use only: the program could change it before it is compared).
    ``rule``: what the error says counts as plain (None: :data:`PLAIN`'s types).

    Each comparison copies its two operands afresh (a program's code that ran in a later operand of a chain
    changes no copy) with the garbage collector off from the first copy to the result, so no ``__del__`` of
    the program runs in between (until 2026-12-03 one swapped an inert object's ``__class__`` there).

    Self-contained (no free names but builtins, bound when it runs), so that :func:`compare_source` can be
    run where the program cannot have changed them yet."""
    import gc
    import itertools
    import operator

    type_, dict_, list_, tuple_, set_, frozenset_, len_, range_ = type, dict, list, tuple, set, frozenset, len, range
    assertion, recursion, id_, str_, int_ = AssertionError, RecursionError, id, str, int
    map_, all_, sum_, dict_keys, dict_values = map, all, sum, dict.keys, dict.values
    is_, repeat = operator.is_, itertools.repeat
    gc_isenabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
    scalars = (type(None), bool, int, float, complex, str, bytes)
    values_view = type({}.values())
    sequences = (list, tuple, range, str, bytes, bytearray)
    limit = 100  # MAX_DEPTH

    class NotPlain(Exception):
        pass

    class Same:
        """Stands for an object compared by identity (an inert object of the program's class, whose own
        ``__eq__`` is object's): equal only to a stand-in of the same object; its class is never read again."""
        __slots__ = ("target", "kind")

        def __init__(self, target):
            self.target, self.kind = target, type_(target).__name__

        def __eq__(self, other):
            if type_(other) is Same:
                return self.target is other.target
            return NotImplemented

        def __ne__(self, other):
            if type_(other) is Same:
                return self.target is not other.target
            return NotImplemented

        def __hash__(self):
            return id_(self.target)

        def __repr__(self):
            return "<" + str_(self.kind) + " object>"

    def copy(value, depth):
        kind = type_(value)
        for allowed in scalars:
            if kind is allowed:
                return value
        if kind is type_:  # a class whose own type is exactly `type` (no metaclass): compared by identity
            return value
        if depth >= limit:
            raise NotPlain(None)
        if kind is not list_ and kind is not tuple_ and kind is not dict_ and kind is not set_ \
                and kind is not frozenset_:
            if is_plain is not None and is_plain(value, depth):
                if fresh is None:
                    return value
                return fresh(value, lambda item: copy(item, depth + 1), Same)
            raise NotPlain(kind)
        if kind is list_:
            return [copy(item, depth + 1) for item in value]
        if kind is tuple_:
            return tuple_([copy(item, depth + 1) for item in value])
        if kind is dict_:
            return {copy(key, depth + 1): copy(item, depth + 1) for key, item in dict_.items(value)}
        if kind is set_:
            return {copy(item, depth + 1) for item in value}
        if kind is frozenset_:
            return frozenset_([copy(item, depth + 1) for item in value])
        raise NotPlain(kind)

    def scalar_items(items):
        """Whether every item of ``items`` (an exact builtin container or a dict's view) is of an exact scalar
        type, by C code (``map`` of ``type`` and ``operator.is_``: no hash, no ``__eq__``, no code of the
        program's runs): one pass when they share the first item's type, else one pass a scalar type."""
        for first in items:
            kind = type_(first)
            for allowed in scalars:
                if kind is allowed and all_(map_(is_, map_(type_, items), repeat(kind))):
                    return True
            break
        else:
            return True  # (empty)
        total = 0
        for allowed in scalars:
            total += sum_(map_(is_, map_(type_, items), repeat(allowed)))
        return total == len_(items)

    def flat(value):
        """Whether ``value`` is an exact scalar, or an exact list, tuple, set, frozenset or dict of exact scalars
        (:func:`scalar_items`), which the builtin operators compare by C code alone: compared as it is, without
        a copy (the fast path: until 2026-12-03 each comparison copied both operands in Python, so 20,000
        ``assert i * i in squares`` took minutes)."""
        kind = type_(value)
        for allowed in scalars:
            if kind is allowed:
                return True
        if kind is list_ or kind is tuple_ or kind is set_ or kind is frozenset_:
            return scalar_items(value)
        if kind is dict_:
            return scalar_items(dict_keys(value)) and scalar_items(dict_values(value))
        return False

    def checked(value, op, side):
        try:
            return copy(value, 0)
        except (NotPlain, recursion) as error:
            kind = error.args[0] if type_(error) is NotPlain else None
            what = (f"holds an object of type {kind.__name__!r}, which is not plain data" if kind is not None else
                    f"nests containers more than {limit} deep (or holds itself)")
            said = rule if rule is not None else (
                "the tests' comparisons compare only None, bool, int, float, complex, str, bytes, classes and list, "
                "tuple, dict, set, frozenset of those (exact types)")
            raise assertion(f"sandbox: the {side} operand of `{op}` {what}; {said}. A comparison with an object "
                            "the program made could run the program's code (an `__eq__` that always says True). "
                            "If the tests themselves compare such values, turn the check off: --reward "
                            "code:plain_results=false (code_reward(..., plain_results=False))") from None

    def sequence(value):
        kind = type_(value)
        for allowed in sequences:
            if kind is allowed:
                return True
        return False

    def one(op, left, right):
        kind = type_(left)
        if (kind is int_ or kind is str_) and type_(right) is kind:  # (two exact ints or strs: C code alone)
            if op == "==":
                return left == right
            if op == "!=":
                return left != right
        if op == "is":
            return left is right
        if op == "is not":
            return left is not right
        collecting = gc_isenabled()
        gc_disable()  # from the first copy to the result: no __del__ of the program runs in between
        try:
            if (op == "in" or op == "not in") and type_(right) is values_view:
                right = list_(right)  # (a dict's values, for membership: C code makes the list)
            if flat(left) and flat(right):  # plain data of C types only: compared as they are, uncopied
                a, b = left, right
            else:
                a, b = checked(left, op, "left"), checked(right, op, "right")
            if op == "==":
                return a == b
            if op == "sequence ==":  # unittest's assertSequenceEqual: item by item, whatever the sequence types
                return a == b or (sequence(a) and sequence(b) and tuple_(a) == tuple_(b))
            if op == "!=":
                return a != b
            if op == "<":
                return a < b
            if op == "<=":
                return a <= b
            if op == ">":
                return a > b
            if op == ">=":
                return a >= b
            if op == "in":
                return a in b
            if op == "not in":
                return a not in b
            raise assertion(f"sandbox: unknown comparison {op!r}")
        finally:
            if collecting:
                gc_enable()

    def compare(ops, *operands, lazy=False):
        if len_(operands) != len_(ops) + 1:
            raise assertion("sandbox: a checked comparison needs one operand more than operators")
        left = operands[0]
        result = True
        for i in range_(len_(ops)):
            right = operands[i + 1]() if lazy and i >= 1 else operands[i + 1]
            result = one(ops[i], left, right)
            if not result:
                return result
            left = right
        return result

    return compare


def compare_source() -> str:
    """The source of :func:`make_compare` (a ``def`` at column 0), for a harness that defines it in another
    process."""
    import inspect
    import textwrap

    return textwrap.dedent(inspect.getsource(make_compare))
