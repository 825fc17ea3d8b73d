"""The plain-data check of :mod:`treecredit.sandbox_check` (``plain_results``): Python source that the
sandbox's boot code runs before the program, so everything it uses, the standard library's types included, is
taken before the program could replace or change it.

What counts as plain (also in ``docs/own-task.md``):

- ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``bytearray``, ``range``, ``None``, and
  ``list``, ``tuple``, ``dict``, ``set``, ``frozenset`` of plain values, exact types, nested at most 100 deep;
  a dict's ``keys()``, ``values()``, ``items()`` of plain values (iterated by C code);
- ``datetime``'s ``date``, ``datetime``, ``time``, ``timedelta`` and ``timezone`` where they are C types
  (immutable), a ``time`` or ``datetime`` with no tzinfo or a ``timezone`` (a tzinfo of the program's runs its
  code when compared); a tuple subclass of an immutable type (a C struct sequence such as ``sys.version_info``;
  ``time.struct_time`` is not immutable on every version) of plain values;
- objects of these standard-library types, exact (not subclasses), holding plain values: ``Counter``,
  ``OrderedDict``, ``defaultdict`` (whose ``default_factory`` is None or one of these types: ``int``,
  ``list``, ...; a program's function there would run when the tests read a missing key), ``deque``,
  ``Fraction``, ``Decimal``, and classes made by ``collections.namedtuple`` or ``typing.NamedTuple`` with no
  methods of their own. Their comparisons are the standard library's: the types are those imported before
  the program runs (``fractions``, ``decimal`` and ``datetime`` when the program's or the tests' text names
  them: :func:`standard_modules`), and those written in
  Python (``Counter``, ``Fraction``) count only while their classes, their functions' code and defaults,
  their modules' names and the builtins are as they were then (so a program that sets
  ``Counter.__eq__``, or ``collections.all``, to one that always says True fails), and their objects hold no
  attributes of their own;
- an *inert* object of a class the program made: the class and its bases (up to ``object``) define no
  special method but ``__init__`` (so ``==`` is identity, and no ``__eq__``, ``__bool__``, ``__len__``,
  ``__getattr__``, ``__str__`` ... of the program's runs when the tests look at it), its metaclass is
  ``type``, its other attributes are functions, ``staticmethod``/``classmethod`` objects, slots or plain
  values (no ``property``), and the object's attributes are plain (inert objects included, so a linked
  list of ``Node`` objects the tests built counts). The tests can build the program's own objects
  (``Pair(1, 4)``) and pass them on; what the object's methods return when the tests call them is not
  checked.

Not plain: generators, iterators (a program function's lazy result, a generator, ``map``, ``enumerate``,
``reversed``, ... reaches the tests through :mod:`treecredit.sandbox_check`'s wrapper, which checks each value
it yields), enum members, dataclass objects (their ``__eq__`` is the program's class's), subclasses of the
types above. Their values are what the program computes lazily or compares with its own code.

``_plain_checker(modules)`` returns ``(is_plain, fresh)``: ``fresh(value, inner, same)`` is the copy of an
accepted value that a checked comparison (:func:`treecredit.sandbox_compare.make_compare`) compares: made by
this code (a ``Counter`` into a new ``Counter``, a namedtuple into a tuple, a ``Fraction`` from its two
``int``), ``same(value)`` for an inert object of the program's (compared by identity, its ``__eq__`` never
called: until 2026-12-03 it was compared as it was, after its check, and a ``__del__`` or a thread of the
program swapped its ``__class__`` to an always-equal class in between).
"""

PLAIN_RULE = ("only plain data counts (bool, int, float, complex, str, bytes, None, and list, tuple, dict, set, "
              "frozenset of those; Counter, OrderedDict, defaultdict, deque, Fraction, Decimal, namedtuple; or an "
              "object of the program's own class that defines no special method but __init__, with plain "
              "attributes: treecredit.sandbox_plain)")


def standard_modules(text: str) -> tuple[str, ...]:
    """The standard modules whose types the boot code takes before the program runs: ``collections`` always,
    ``fractions``, ``decimal`` and ``datetime`` when ``text`` (the program and the tests together) names them
    (each takes some milliseconds to import; a program that imports them under another spelling gets no plain
    ``Fraction``/``Decimal``/``date``). Until 2026-12-03 only the program's text was read, so tests that build
    a ``Fraction`` for a program that does not failed every program."""
    return ("collections",) + tuple(name for name in ("fractions", "decimal", "datetime") if name in text)


# Boot source: ``_plain_checker(modules)`` returns ``is_plain(value, depth) -> bool``.
CHECKER = r'''
def _plain_checker(modules):
    import builtins, collections, importlib, sys, types
    for name in modules:
        importlib.import_module(name)
    type_, dict_, str_, object_, frozenset_, tuple_, len_ = type, dict, str, object, frozenset, tuple, len
    isinstance_, id_, classmethod_, staticmethod_ = isinstance, id, classmethod, staticmethod
    kinds = (bool, int, float, complex, str, bytes, bytearray, range, type(None))
    bytearray_, dict_new, dict_setitem = bytearray, dict.__new__, dict.__setitem__
    views = (type({}.keys()), type({}.values()), type({}.items()))
    sequences = (list, tuple, set, frozenset)
    class_dict, class_mro = type.__dict__["__dict__"].__get__, type.__dict__["__mro__"].__get__
    class_bases, flags_of = type.__dict__["__bases__"].__get__, type.__dict__["__flags__"].__get__
    getset = type(type.__dict__["__dict__"])
    getset_get, member_get = getset.__get__, types.MemberDescriptorType.__get__
    proxy_items, proxy_get, proxy_len = types.MappingProxyType.items, types.MappingProxyType.get, len
    dict_items, dict_get, dict_keys = dict.items, dict.get, dict.keys
    as_str, starts, ends = str.__str__, str.startswith, str.endswith
    function, member = types.FunctionType, types.MemberDescriptorType
    methods = (types.FunctionType, staticmethod, classmethod)
    inert_dunders = frozenset_(("__module__", "__qualname__", "__doc__", "__init__", "__dict__", "__weakref__",
                                "__slots__", "__annotations__", "__firstlineno__", "__static_attributes__"))
    AttributeError_ = AttributeError
    immutable = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a type whose attributes cannot be set

    def snapshot(kind):
        """Each mutable class of ``kind``'s MRO (not object) with its dict's items and its functions' code,
        defaults and globals; those globals with their items."""
        classes, spaces = [], {}
        for klass in kind.__mro__[:-1]:
            if klass.__flags__ & immutable:
                continue
            items = tuple(class_dict(klass).items())
            parts = []
            for key, value in items:
                inner = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if type(inner) is function:
                    cells = tuple(cell.cell_contents for cell in inner.__closure__ or ())
                    parts.append((inner, inner.__code__, inner.__defaults__, inner.__kwdefaults__, cells))
                    space = inner.__globals__
                    spaces[id(space)] = (space, tuple(space.items()), frozenset(k for k in space))
            classes.append((klass, items, tuple(parts)))
        return tuple(classes), tuple(spaces.values())

    standard = []
    for module, names in (("collections", ("Counter", "OrderedDict", "defaultdict", "deque")),
                          ("fractions", ("Fraction",)), ("decimal", ("Decimal",))):
        if module in sys.modules:
            for name in names:
                kind = getattr(sys.modules[module], name)
                own = [klass.__dict__["__dict__"] for klass in kind.__mro__[:-1] if "__dict__" in klass.__dict__]
                standard.append((kind, snapshot(kind), own[0] if own else None))
    standard = tuple(standard)
    built_dict = builtins.__dict__
    built = tuple(built_dict.items())
    built_names = frozenset(k for k in built_dict)
    counter, defaultdict, deque = collections.Counter, collections.defaultdict, collections.deque
    factory_of = defaultdict.__dict__["default_factory"].__get__
    fraction = sys.modules["fractions"].Fraction if "fractions" in sys.modules else None
    decimal = sys.modules["decimal"].Decimal if "decimal" in sys.modules else None
    ordered, ordered_setitem = collections.OrderedDict, collections.OrderedDict.__setitem__
    deque_maxlen = deque.__dict__["maxlen"].__get__
    # datetime's C types (immutable: no attribute of theirs can be set, nor an object's __class__); a time or
    # datetime counts only with no tzinfo or the C timezone (a tzinfo of the program's would run its code)
    moments, zone, tzinfo_of = (), None, {}
    if "datetime" in sys.modules:
        clock = sys.modules["datetime"]
        found = (clock.date, clock.datetime, clock.time, clock.timedelta, clock.timezone)
        if all(kind.__flags__ & immutable for kind in found):
            moments, zone = found, clock.timezone
            tzinfo_of = {clock.datetime: clock.datetime.tzinfo.__get__, clock.time: clock.time.tzinfo.__get__}
    sample = collections.namedtuple("_Sample", "a")
    tuple_getter = type(sample.__dict__["a"])
    named_codes = {key: (value.__func__ if isinstance(value, classmethod) else value).__code__
                   for key, value in sample.__dict__.items()
                   if key in ("_make", "_replace", "__repr__", "_asdict", "__getnewargs__")}
    named_data = frozenset(("_fields", "_field_defaults", "__match_args__", "__doc__", "__module__",
                            "__qualname__"))
    named_free = frozenset(("__new__", "__annotations__", "__orig_bases__", "__slots__"))

    def is_method(kind):
        for allowed in methods:  # (`is`: never a metaclass's __eq__)
            if kind is allowed:
                return True
        return False

    def unchanged(parts):
        """Whether the classes and module names a standard type's Python code reads are as at boot."""
        classes, spaces = parts
        for klass, items, funcs in classes:
            own = class_dict(klass)
            if proxy_len(own) != len_(items):
                return False
            for key, value in items:
                if proxy_get(own, key) is not value:
                    return False
            for inner, code, defaults, kwdefaults, cells in funcs:
                if (inner.__code__ is not code or inner.__defaults__ is not defaults
                        or inner.__kwdefaults__ is not kwdefaults):
                    return False
                index = 0
                for cell in inner.__closure__ or ():
                    if cell.cell_contents is not cells[index]:
                        return False
                    index += 1
        if classes:
            for key, value in built:
                if dict_get(built_dict, key) is not value:
                    return False
        for space, items, names in spaces:
            for key, value in items:
                if dict_get(space, key) is not value:
                    return False
            for key in dict_keys(space):  # a name added since that hides a builtin (`collections.all = ...`)
                key = as_str(key)
                if key in built_names and key not in names:
                    return False
        return True

    def plain_factory(factory):
        if factory is None:
            return True
        for allowed in kinds + sequences:
            if factory is allowed:
                return True
        if factory is dict_:
            return True
        for kind, _, _ in standard:
            if factory is kind:
                return True
        return False

    def standard_plain(value, kind, depth, verified):
        """None when ``kind`` is not a standard type taken at boot, else whether ``value`` is plain."""
        for allowed, parts, attributes in standard:
            if kind is allowed:
                break
        else:
            return None
        if id_(kind) not in verified:
            if not unchanged(parts):
                return False
            verified.append(id_(kind))
        if attributes is not None and getset_get(attributes, value, kind):  # own attributes hide methods
            return False
        if kind is fraction:
            own = class_dict(kind)
            return (type_(member_get(proxy_get(own, "_numerator"), value, kind)) is int
                    and type_(member_get(proxy_get(own, "_denominator"), value, kind)) is int)
        if kind is defaultdict and not plain_factory(factory_of(value)):
            return False
        if kind is deque:
            for item in value:
                if not is_plain(item, depth + 1, verified):
                    return False
            return True
        if dict_ in class_mro(kind):
            for key, item in dict_items(value):
                if not (is_plain(key, depth + 1, verified) and is_plain(item, depth + 1, verified)):
                    return False
        return True

    def named_tuple(kind):
        """Whether ``kind`` is a class collections.namedtuple (or typing.NamedTuple) made, with nothing of its
        own but its fields and namedtuple's methods."""
        bases = class_bases(kind)
        if type_(kind) is not type_ or len_(bases) != 1 or bases[0] is not tuple_:
            return False
        for key, value in proxy_items(class_dict(kind)):
            key = as_str(key)
            if type_(value) is tuple_getter or key in named_free:
                if key == "__slots__" and not (type_(value) is tuple_ and len_(value) == 0):
                    return False
                continue
            code = dict_get(named_codes, key)
            if code is not None:
                inner = value.__func__ if type_(value) is classmethod_ else value
                if type_(inner) is not function or inner.__code__ is not code:
                    return False
            elif not (key in named_data and is_plain(value, 1, [])):
                return False
        return True

    def inert_class(kind, depth, verified):
        """(dict descriptors, slot descriptors) of a class that defines no special method but __init__,
        else None."""
        if type_(kind) is not type_:
            return None
        mro = class_mro(kind)
        if mro[-1] is not object_:
            return None
        dicts, slots = [], []
        for klass in mro[:-1]:
            if type_(klass) is not type_:
                return None
            for key, value in proxy_items(class_dict(klass)):
                key = as_str(key)  # (a str subclass's own __eq__ and __hash__ never run)
                if starts(key, "__") and ends(key, "__"):
                    if key not in inert_dunders:
                        return None
                    if key == "__dict__" or key == "__weakref__":
                        if type_(value) is not getset:
                            return None
                        if key == "__dict__":
                            dicts.append(value)
                    elif key == "__init__" and type_(value) is not function:
                        return None
                elif type_(value) is member:
                    slots.append(value)
                elif not (is_method(type_(value)) or is_plain(value, depth + 1, verified)):
                    return None
        return dicts, slots

    def is_plain(value, depth, verified=None):
        if verified is None:
            verified = []
        kind = type_(value)
        for allowed in kinds:
            if kind is allowed:
                return True
        if depth > 100:
            return False
        if kind is dict_:
            for key, item in dict_items(value):
                if not (is_plain(key, depth + 1, verified) and is_plain(item, depth + 1, verified)):
                    return False
            return True
        for allowed in sequences:
            if kind is allowed:
                for item in value:
                    if not is_plain(item, depth + 1, verified):
                        return False
                return True
        for allowed in views:  # a dict's keys, values or items (iterated by C code)
            if kind is allowed:
                for item in value:
                    if not is_plain(item, depth + 1, verified):
                        return False
                return True
        for allowed in moments:
            if kind is allowed:
                getter = dict_get(tzinfo_of, kind)
                zone_of = getter(value) if getter is not None else None
                return zone_of is None or type_(zone_of) is zone
        found = standard_plain(value, kind, depth, verified)
        if found is not None:
            return found
        if flags_of(kind) & immutable and tuple_ in class_mro(kind):  # a C struct sequence (sys.version_info)
            for item in value:
                if not is_plain(item, depth + 1, verified):
                    return False
            return True
        if named_tuple(kind):
            for item in value:
                if not is_plain(item, depth + 1, verified):
                    return False
            return True
        found = inert_class(kind, depth, verified)
        if found is None:
            return False
        dicts, slots = found
        for descriptor in dicts[:1]:
            for key, item in dict_items(getset_get(descriptor, value, kind)):
                if not (type_(key) is str_ and is_plain(item, depth + 1, verified)):
                    return False
        for descriptor in slots:
            try:
                item = member_get(descriptor, value, kind)
            except AttributeError_:  # an empty slot
                continue
            if not is_plain(item, depth + 1, verified):
                return False
        return True

    def fresh(value, inner, same):
        """A copy of ``value`` (which ``is_plain`` just accepted) made by this code, for a comparison: what the
        program holds of it can no longer change what is compared. ``inner(item)`` copies a value inside it,
        ``same(value)`` stands for an object compared by identity (an inert object of the program's class, a
        dict's values view). A namedtuple becomes a tuple (it compares as one)."""
        kind = type_(value)
        for allowed in kinds:
            if kind is allowed:
                return bytearray_(value) if kind is bytearray_ else value
        for allowed in moments:
            if kind is allowed:
                return value
        if kind is views[0]:
            return {inner(key): None for key in value}.keys()
        if kind is views[2]:
            return {inner(key): inner(item) for key, item in value}.items()
        if kind is views[1]:
            return same(value)  # (a values view equals only itself)
        if kind is counter or kind is defaultdict:
            new = dict_new(counter) if kind is counter else defaultdict(factory_of(value))
            for key, item in dict_items(value):
                dict_setitem(new, inner(key), inner(item))
            return new
        if kind is ordered:
            new = ordered()
            for key, item in dict_items(value):
                ordered_setitem(new, inner(key), inner(item))
            return new
        if kind is deque:
            return deque([inner(item) for item in value], deque_maxlen(value))
        if kind is fraction:
            own = class_dict(kind)
            return fraction(member_get(proxy_get(own, "_numerator"), value, kind),
                            member_get(proxy_get(own, "_denominator"), value, kind))
        if kind is decimal:
            return decimal(value)
        if named_tuple(kind) or (flags_of(kind) & immutable and tuple_ in class_mro(kind)):
            return tuple_([inner(item) for item in value])
        return same(value)

    return is_plain, fresh
'''
