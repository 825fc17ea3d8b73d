"""The plain-data check of :mod:`treecredit.sandbox_check` (``plain_results``): Python source that the
sandbox's boot code runs before the program, so everything it uses is bound before the program could
replace it.

What counts as plain (:data:`PLAIN_RULE`, also in ``docs/own-task.md``):

- ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``None``, and ``list``, ``tuple``,
  ``dict``, ``set``, ``frozenset`` of plain values, exact types, nested at most 100 deep;
- an *inert* object of a class the program made: the class and its bases (up to ``object``) define no
  special method but ``__init__`` (so ``==`` is identity, and no ``__eq__``, ``__bool__``, ``__len__``,
  ``__getattr__``, ``__str__`` ... of the program's runs when the tests look at it), its metaclass is
  ``type``, its other attributes are functions, ``staticmethod``/``classmethod`` objects, slots or plain
  values (no ``property``), and the object's attributes are plain (inert objects included, so a linked
  list of ``Node`` objects the tests built counts). The tests can build the program's own objects
  (``Pair(1, 4)``) and pass them on; what the object's methods return when the tests call them is not
  checked.
"""

PLAIN_RULE = ("only plain data counts (bool, int, float, complex, str, bytes, None, and list, tuple, dict, set, "
              "frozenset of those; or an object of the program's own class that defines no special method "
              "but __init__, with plain attributes)")

# Boot source: ``_plain_checker()`` returns ``is_plain(value, depth) -> bool``.
CHECKER = r'''
def _plain_checker():
    import types
    type_, dict_, str_, object_, frozenset_ = type, dict, str, object, frozenset
    kinds = (bool, int, float, complex, str, bytes, type(None))
    sequences = (list, tuple, set, frozenset)
    class_dict, class_mro = type.__dict__["__dict__"].__get__, type.__dict__["__mro__"].__get__
    getset = type(type.__dict__["__dict__"])
    getset_get, member_get = getset.__get__, types.MemberDescriptorType.__get__
    proxy_items, dict_items, as_str, starts, ends = (types.MappingProxyType.items, dict.items, str.__str__,
                                                     str.startswith, str.endswith)
    function, member = types.FunctionType, types.MemberDescriptorType
    methods = (types.FunctionType, staticmethod, classmethod)
    inert_dunders = frozenset_(("__module__", "__qualname__", "__doc__", "__init__", "__dict__", "__weakref__",
                                "__slots__", "__annotations__", "__firstlineno__", "__static_attributes__"))
    AttributeError_ = AttributeError

    def is_method(kind):
        for allowed in methods:  # (`is`: never a metaclass's __eq__)
            if kind is allowed:
                return True
        return False

    def inert_class(kind, depth):
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
                elif not (is_method(type_(value)) or is_plain(value, depth + 1)):
                    return None
        return dicts, slots

    def is_plain(value, depth):
        kind = type_(value)
        for allowed in kinds:
            if kind is allowed:
                return True
        if depth > 100:
            return False
        if kind is dict_:
            for key, item in dict_items(value):
                if not (is_plain(key, depth + 1) and is_plain(item, depth + 1)):
                    return False
            return True
        for allowed in sequences:
            if kind is allowed:
                for item in value:
                    if not is_plain(item, depth + 1):
                        return False
                return True
        found = inert_class(kind, depth)
        if found is None:
            return False
        dicts, slots = found
        for descriptor in dicts[:1]:
            for key, item in dict_items(getset_get(descriptor, value, kind)):
                if not (type_(key) is str_ and is_plain(item, depth + 1)):
                    return False
        for descriptor in slots:
            try:
                item = member_get(descriptor, value, kind)
            except AttributeError_:  # an empty slot
                continue
            if not is_plain(item, depth + 1):
                return False
        return True

    return is_plain
'''
