"""The libraries as they were before the program ran, for :mod:`treecredit.sandbox_check`'s tests: a program must not
pass by patching a function the tests call (``math.isclose = lambda *a, **k: True``, ``np.allclose = ...``,
``np.testing.assert_array_equal = lambda *a, **k: None``, ``json.loads = ...``: until 2026-12-03 each passed every
such test, a universal cheat on MBPP- and BigCodeBench-style rows).

:func:`treecredit.sandbox_imports.import_plan` (parent side, text only) names the modules the program and the tests
import, the attribute paths they read from them, the names the program's top level binds by ``import X [as Y]``
that the tests read without binding them, and the top-level names of the tests' own imports.

``MODULES`` (boot source, after :data:`treecredit.sandbox_results.RESULTS`) defines ``_library_state(imports, paths,
bindings, named, scope) -> (take, is_taken)``. The harness calls ``take()`` just before the program runs (under the
audit hook, as the program's own imports would run): it imports those modules (a failure is left for the program or
the tests to meet), asks for those attribute paths, and takes every module in ``sys.modules`` (but ``__main__``, the
program's namespace): the module under its name, its class and namespace; the ``__dict__``, bases and metaclass of
every class found in those namespaces but the builtin ones (``TestCase``, ``Counter``, ``JSONDecoder`` ...), and the
``__dict__`` of every other object there that has one (``json``'s default decoder, ``logging.root``); the contents
of ``sys.path``, ``sys.meta_path``, ``sys.path_hooks`` and ``sys.path_importer_cache``. It returns ``(restore,
before_call, after_call)`` (an object's ``__dict__`` gets back what can be called, a method patched on the instance,
and keeps the data the program set: ``logging.basicConfig(level=INFO)``). The harness calls ``restore(tests)`` just
before the tests run: what changed is put back (an attribute patched, deleted or added: ``builtins.round``,
``sys.modules['math'] = fake``), the modules the program imported under a package taken (``numpy.testing`` first
loaded by the program: the tests import it afresh) and a module the tests import that was not taken (one that did
not import here, which a program could have put into ``sys.modules``) are dropped, and the tests' names in
``bindings`` get the module taken (``np`` where the program said ``import numpy as np`` and later ``np = fake``).
With ``plain_results``, each call of the program's functions the tests make (:mod:`treecredit.sandbox_results`) is
wrapped in ``before_call()``/``after_call(state)``: the modules under ``scope`` (the tests' imports, the modules of
``bindings``, ``builtins``, and the submodules their texts reach by attribute, not whole package trees: a patch made
inside a call to a deeper module stays) are put back as they were just before the call, so the tests' own
``mock.patch`` stays and the program's patch from inside the call goes. Everything is compared by identity
(``operator.is_``, in C: no ``__eq__`` of the program's runs, and ``id()`` would raise an audit event each) and a
namespace that changed is rebuilt whole (a key the program added may be a ``str`` subclass whose ``__hash__`` is its
code). ``is_taken(obj)`` tells the verdict hook (:mod:`treecredit.sandbox_harness`) whether ``obj`` is a module,
class or function taken: setting or deleting its ``__code__``, ``__defaults__``, ``__kwdefaults__``, ``__class__``
or ``__bases__`` (each raises the audit event ``object.__setattr__``/``__delattr__``; no snapshot sees a code object
swapped in place) is refused while the tests run.

Limits: state kept inside objects is not put back (a list or dict a library mutates in place: ``re``'s cache,
ABC registrations, ``functools`` caches, ``decimal``'s context, a registry); a module first imported while the
tests run, or imported by the program by a name no text spells (``importlib.import_module(name)``); a name the
tests read that the program binds other than by ``import`` (``from math import isclose`` then ``isclose = ...``,
or ``class math``) is the program's (as any global of its own the tests read); and with ``plain_results=False``
(nothing is wrapped), or from a method of the program's object, a patch the program makes while the tests run
(after they began) reaches what the tests call after it. A name the program adds to a library module, replacing
nothing, stays (``collections.Iterable = collections.abc.Iterable``, ``np.float = np.float64``, ``math._cache =
{}``: until trial39 of 2026-12-03 such correct programs scored 0.0, and until fixC of that day a name under a
builtin's name or starting with ``_``), unless the module's own code reads it (the names its functions read or
write as globals, not an attribute's or a keyword's name: ``fractions.gcd = math.gcd``, ``json.indent = 2`` stay;
and their ``str`` constants; found from its namespace once every module and class is back, through wrappers such as
numpy's C dispatchers: ``statistics.sum = fake`` would change what ``statistics.mean`` calls, ``n.float = F`` in
``numpy._core.numeric`` what ``np.isclose`` does; a lazily made global such as
``unittest.IsolatedAsyncioTestCase`` is the module's), or it is a dunder (a module ``__getattr__`` would serve
any name), or (in ``builtins``, every module's fallback) it starts with ``_``; a builtin under its own name always
stays (``np.float = float``). An attribute the program adds to a library class is dropped (it may shadow one the
class inherits). A function of the module that only a module not taken, or an object outside its namespace's
reach, holds is not read for this (nor what a wrapper of a Python class, not a C one, holds); nor is a name a
package serves through its ``__getattr__`` from a table of data (scipy's lazily loaded submodules) or that
another module's code reads by attribute (``from scipy import linalg`` inside a library): a program that adds it
first is kept there, unless the tests' texts spell that path (taken before the program runs).
"""

from __future__ import annotations

MODULES = r'''
def _library_state(imports, paths, bindings, named, scope):
    """The libraries as they were before the program ran (treecredit.sandbox_modules): take() -> (restore,
    before_call, after_call)."""
    import sys, types, gc, itertools, operator, functools
    import_, module_type, function_type = __import__, types.ModuleType, types.FunctionType
    getattr_, type_ = getattr, type
    modules = sys.modules  # (the interpreter's own dict: a program's `sys.modules = {}` does not replace it)
    class_dict, get_bases = type.__dict__["__dict__"].__get__, type.__dict__["__bases__"].__get__
    flags_of, own_attribute = type.__dict__["__flags__"].__get__, object.__getattribute__
    set_type_attr, del_type_attr, set_attr = type.__setattr__, type.__delattr__, object.__setattr__
    items, keys, get, clear, update = dict.items, dict.keys, dict.get, dict.clear, dict.update
    proxy_items, proxy_get = type(type.__dict__).items, type(type.__dict__).get
    proxy_keys, proxy_values, values = type(type.__dict__).keys, type(type.__dict__).values, dict.values
    list_, str_, dict_, map_, len_, all_, any_ = list, str, dict, map, len, all, any
    flat = itertools.chain.from_iterable
    tuple_, zip_, enumerate_ = tuple, zip, enumerate
    rpartition, partition, isinstance_, is_, repeat = str.rpartition, str.partition, isinstance, operator.is_, \
        itertools.repeat
    statics = (staticmethod, classmethod)
    absent = object()
    callable_ = callable
    importer_cache = sys.path_importer_cache
    startswith = str.startswith
    set_, frozenset_, property_, value_error = set, frozenset, property, ValueError
    range_, bytes_ = range, bytes
    builtin_names = dict_(import_("builtins").__dict__)  # (as they were at boot: the program has not run yet)
    code_type, partial, cache_wrapper = types.CodeType, functools.partial, type_(functools.lru_cache()(len))
    globals_of, code_of = function_type.__dict__["__globals__"].__get__, function_type.__dict__["__code__"].__get__
    closure_of = function_type.__dict__["__closure__"].__get__
    function_dict = function_type.__dict__["__dict__"].__get__
    code_names = {}  # module name -> the names its own code reads (read_by)
    import opcode as opcode_module
    opmap = opcode_module.opmap
    # (the instructions that read or write a name as a global: not LOAD_ATTR/LOAD_METHOD/IMPORT_FROM, whose names
    # are attributes, also in co_names: `math.gcd` in fractions is no read of a global `gcd`: review41)
    global_ops = frozenset_([opmap[op] for op in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL",
                                                   "LOAD_FROM_DICT_OR_GLOBALS") if op in opmap])
    shifted = opmap["LOAD_GLOBAL"] if sys.version_info >= (3, 11) else -1  # (its arg is index << 1 | push NULL)
    extended, kw_names, cache = opmap["EXTENDED_ARG"], get(opmap, "KW_NAMES", -1), get(opmap, "CACHE", -1)
    load_const, call_kw, dict_merge = opmap["LOAD_CONST"], get(opmap, "CALL_KW", -1), opmap["DICT_MERGE"]
    const_key_map, build_map = opmap["BUILD_CONST_KEY_MAP"], opmap["BUILD_MAP"]
    del opcode_module
    immutable = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a builtin (C) type, which no program can change
    enable, disable, isenabled = gc.enable, gc.disable, gc.isenabled
    taken = {}  # name -> module, as it was before the program ran
    protected = []  # the modules, classes and functions taken (is_taken)
    held = []  # [(every module's state, its classes', objects' ...), (those of the tests' modules)]

    def same_items(now, then):  # (by identity: no __eq__ of the program's runs; id() raises an audit event)
        return len_(now) == len_(then) and all_(map_(is_, now, then))

    def is_taken(value):
        """Whether ``value`` is one of the modules, classes and functions taken (the verdict hook asks)."""
        return any_(map_(is_, repeat(value), protected))

    def capture(parts):
        """The state of ``parts`` (from :func:`parts_of`) now, each kind as one flat list (taken and compared
        in C: a call's cost): what :func:`put_back` puts back."""
        names, namespaces, classes, dicts, proxies, lists = parts
        return (list_(map_(get, repeat(modules), names, repeat(absent))),
                list_(map_(type_, namespaces)), list_(map_(type_, classes)),
                list_(flat(map_(get_bases, classes))), list_(map_(len_, map_(get_bases, classes))),
                list_(flat(map_(keys, dicts))), list_(flat(map_(values, dicts))), list_(map_(len_, dicts)),
                list_(flat(map_(proxy_keys, proxies))), list_(flat(map_(proxy_values, proxies))),
                list_(map_(len_, proxies)),
                list_(map_(list_, lists)))

    def parts_of(names, protect):
        """The modules named, their namespaces, the classes (but the builtin ones) and other objects with a
        ``__dict__`` found there, and (with ``builtins``) sys's import lists and cache."""
        # (Before the program runs: hashing these objects runs no code of its.)
        namespaces, dicts, classes, objects, seen, taken_now, seen_states = [], [], [], [], set(), set(), set()
        for name in names:
            module = modules[name]
            namespace = module.__dict__
            namespaces.append(module)
            dicts.append(namespace)
            taken_now.add(module)
            for value in list_(namespace.values()):
                kind = type_(value)
                if isinstance_(value, type_):
                    if value in seen or flags_of(value) & immutable:
                        continue
                    seen.add(value)
                    classes.append(value)
                    taken_now.add(value)
                    for each in class_dict(value).values():
                        if type_(each) in statics:
                            each = each.__func__
                        if type_(each) is function_type:
                            taken_now.add(each)
                elif kind is function_type:
                    taken_now.add(value)
                elif kind is not module_type and not flags_of(kind) & immutable:
                    try:
                        state = own_attribute(value, "__dict__")
                    except Exception:
                        continue
                    if type_(state) is dict_ and id(state) not in seen_states:
                        seen_states.add(id(state))
                        objects.append(state)
        lists = [sys.path, sys.meta_path, sys.path_hooks] if "builtins" in names else []
        if lists:
            objects.append(sys.path_importer_cache)
        if protect:
            protected.extend(taken_now)
        return names, namespaces, classes, dicts + objects, [class_dict(kind) for kind in classes], lists

    def take():
        """Import the modules the texts name, and take the state of every module: before the program runs."""
        for name, fromlist in imports:
            try:
                import_(name, None, None, fromlist, 0)
            except Exception:
                pass
        for path in paths:  # (np.testing: a package may load a submodule only when it is asked for)
            value = modules.get(path[0])
            for part in path[1:]:
                if not isinstance_(value, module_type):
                    break
                try:
                    value = getattr_(value, part)
                except Exception:
                    break
        names = [name for name, module in list_(items(modules))
                 if name != "__main__" and type_(name) is str_ and isinstance_(module, module_type)]
        for name in names:
            taken[name] = modules[name]
        whole = parts_of(names, True)
        # Around each call: the tests' modules themselves and those their texts reach by attribute (np.testing),
        # not whole package trees (every pandas.* module cost ≈ 5 ms a call: review38, a right program called
        # 2000 times timed out)
        reached = {".".join(path[:end]) for path in paths for end in range(1, len_(path) + 1)}
        near = parts_of([name for name in names if name in scope or (partition(name, ".")[0] in scope
                                                                     and name in reached)], False)
        held[:] = [whole, capture(whole), near]
        return restore, before_call, after_call

    def global_names(code):
        """The names ``code`` reads or writes as globals, and its ``str`` constants (and those in its tuples) but
        those used only as the keyword names of its calls (``KW_NAMES``, a ``LOAD_CONST`` before ``CALL_KW``, or
        the keys of a dict merged into a call's ``**``): ``json.dumps(x, indent=...)`` reads no global ``indent``
        (review41)."""
        found, names, consts, raw = set_(), code.co_names, code.co_consts, bytes_(code.co_code)
        ops, arg = [], 0
        for at in range_(0, len_(raw), 2):
            op = raw[at]
            arg = arg | raw[at + 1]
            if op == extended:
                arg = arg << 8
            elif op != cache:
                ops.append((op, arg))
                arg = 0
        used, keywords, count = set_(), set_(), len_(ops)
        for at, (op, arg) in enumerate_(ops):
            if op in global_ops:
                found.add(names[arg >> 1 if op == shifted else arg])
            elif op == kw_names:
                keywords.add(arg)
            elif op == load_const:
                after = [each for each, _ in ops[at + 1:at + 6]]
                merged = dict_merge in after
                if (after[:1] == [call_kw] or (merged and after[:1] == [const_key_map])
                        or (merged and len_(after) > 1 and after[1] == build_map)):
                    keywords.add(arg)
                else:
                    used.add(arg)
        for index, constant in enumerate_(consts):
            if index in keywords and index not in used:
                continue
            kind = type_(constant)
            if kind is str_:
                found.add(constant)
            elif kind is tuple_ or kind is frozenset_:  # (`key in ("a", "b")`)
                found.update([each for each in constant if type_(each) is str_])
        return found

    def read_by(name, namespace):
        """The names the module's own code reads, once per module: the names read or written as globals and the
        ``str`` constants (so ``globals().get('_x')`` and a ``__getattr__`` that serves ``'IsolatedAsyncioTestCase'``
        count; :func:`global_names`) of every function whose globals are ``namespace`` found from it (its
        functions, their closures and nested code, its classes' methods, properties,
        ``staticmethod``/``classmethod``/``partial``/``lru_cache`` wrappers, a ``__wrapped__`` a function holds,
        what a builtin (C) callable wraps: ``_implementation`` (numpy's ``_ArrayFunctionDispatcher``: every public
        numpy function, review41), ``__wrapped__``, ``__func__``, ``__code__``; and those in its dicts, lists,
        tuples and sets). Called once the module and its classes are put back (not ``gc.get_objects``: the verdict
        hook refuses it)."""
        if name in code_names:
            return code_names[name]
        found, seen, codes = set_(), set_(), []
        todo = [(value, 0) for value in list_(values(namespace))]
        while todo:
            value, depth = todo.pop()
            kind = type_(value)
            if kind is function_type:
                if value in seen or globals_of(value) is not namespace:
                    continue
                seen.add(value)
                codes.append(code_of(value))
                for cell in closure_of(value) or ():
                    try:
                        todo.append((cell.cell_contents, depth))
                    except value_error:  # (an empty cell)
                        pass
                wrapped = get(function_dict(value), "__wrapped__", absent)
                if wrapped is not absent:
                    todo.append((wrapped, depth))
            elif kind in statics:
                todo.append((value.__func__, depth))
            elif kind is property_:
                todo.extend(((value.fget, depth), (value.fset, depth), (value.fdel, depth)))
            elif kind is partial or kind is cache_wrapper:
                todo.append((value.func if kind is partial else own_attribute(value, "__wrapped__"), depth))
            elif depth < 3 and isinstance_(value, type_) and not flags_of(value) & immutable:
                todo.extend(zip_(list_(proxy_values(class_dict(value))), repeat(depth + 1)))
            elif depth < 2 and kind is dict_:
                todo.extend(zip_(list_(values(value)), repeat(depth + 1)))
            elif depth < 2 and (kind is list_ or kind is tuple_ or kind is set_ or kind is frozenset_):
                todo.extend(zip_(list_(value), repeat(depth + 1)))
            elif kind is not code_type and flags_of(kind) & immutable and callable_(value):
                # (a C type's attributes run no code of the program's: its type and bases are C types)
                for attribute in ("_implementation", "__wrapped__", "__func__", "__code__"):
                    try:
                        inner = own_attribute(value, attribute)
                    except Exception:
                        continue
                    if type_(inner) is code_type:
                        codes.append(inner)
                    elif not isinstance_(inner, type_):
                        todo.append((inner, depth))
        while codes:
            code = codes.pop()
            found.update(global_names(code))
            for constant in code.co_consts:
                if type_(constant) is code_type:
                    codes.append(constant)
        code_names[name] = found
        return found

    def added_ok(key, value, name, namespace):
        """Whether a name the program added to a library module (replacing nothing) may stay: not a dunder (a
        module's ``__getattr__`` would serve any name), and either a builtin under its own name (``np.float =
        float``) or a name the module's own code does not read (:func:`read_by`: ``statistics.sum = fake`` would
        change what ``statistics.mean`` calls, and a lazily made global such as
        ``unittest.IsolatedAsyncioTestCase`` is the module's); in ``builtins`` (every module's fallback) a public
        name only."""
        if startswith(key, "__"):
            return False
        if name == "builtins":
            return not startswith(key, "_")
        return get(builtin_names, key, absent) is value or key not in read_by(name, namespace)

    def rebuild(namespace, pairs, name, added):
        """``namespace`` made ``pairs`` again (whole: a key the program added may be a str subclass whose
        ``__hash__`` is its code), but for a submodule imported since (still in ``sys.modules``: its attribute); a
        name the program added (replacing nothing) goes to ``added``, for :func:`put_back` to judge once every
        module and class is back (:func:`added_ok`: a test that reads a name the module did not have fails
        without the program anyway, so it cannot be cheated through it: ``collections.Iterable = ...``,
        ``np.float = np.float64``, ``math._cache = {}`` stay)."""
        was = {key for key, _ in pairs if type_(key) is str_}
        kept = []
        for key, value in list_(items(namespace)):
            if type_(key) is not str_:
                continue
            if isinstance_(value, module_type) and get(modules, name + "." + key) is value:
                kept.append((key, value))
            elif key not in was:
                added.append((namespace, name, key, value))
        clear(namespace)
        update(namespace, pairs)
        for key, value in kept:
            namespace[key] = value

    def split(keys_, values_, lengths):
        """The (key, value) pairs of each dict from the flat lists of their keys and values and their lengths."""
        out, at = [], 0
        for length in lengths:
            out.append(list_(zip_(keys_[at:at + length], values_[at:at + length])))
            at += length
        return out

    def keep_data(state_, then):
        """An object's ``__dict__`` (``json``'s default decoder, ``logging.root``) made ``then`` again in what can be
        called (a method patched on the instance: ``json._default_decoder.decode = ...``), keeping the data the
        program set there (``logging.basicConfig(level=INFO)`` sets ``logging.root.level``: review38 found a right
        logging program scoring 0 when the level was put back)."""
        # (an exact-str key only: a key the program added may be a str subclass whose __hash__ is its code)
        now = dict_([(key, value) for key, value in list_(items(state_)) if type_(key) is str_])
        merged = {}
        for key, value in then:  # what was there: a callable put back, data kept as the program left it
            current = get(now, key, absent)
            keep = current is not absent and not callable_(value) and not callable_(current)
            merged[key] = current if keep else value
        for key, value in list_(items(now)):  # what the program added: data kept, a callable dropped
            if key not in merged and not callable_(value):
                merged[key] = value
        clear(state_)
        update(state_, merged)

    def put_back(parts, state):
        """Put ``parts`` back as ``state`` (:func:`capture`) says they were."""
        names, namespaces, classes, dicts, proxies, lists = parts
        (entries, module_kinds, metas, bases, base_counts, names_, values_, sizes, class_names, class_values,
         class_sizes, contents) = state
        collecting = isenabled()
        disable()  # (no __del__ of the program's runs in between)
        added = []  # (namespace, module name, key, value): what the program added to a module (rebuild)
        try:
            if not same_items(list_(map_(get, repeat(modules), names, repeat(absent))), entries):
                for name, module in zip_(names, entries):
                    if get(modules, name, absent) is not module:
                        if module is absent:
                            del modules[name]
                        else:
                            modules[name] = module
            if not same_items(list_(map_(type_, namespaces)), module_kinds):
                for module, kind in zip_(namespaces, module_kinds):
                    if type_(module) is not kind:
                        set_attr(module, "__class__", kind)
            if not same_items(list_(map_(type_, classes)), metas):
                for kind, meta in zip_(classes, metas):
                    if type_(kind) is not meta:
                        set_attr(kind, "__class__", meta)
            if not (list_(map_(len_, map_(get_bases, classes))) == base_counts  # (our ints: == runs no program code)
                    and same_items(list_(flat(map_(get_bases, classes))), bases)):
                at = 0
                for kind, count in zip_(classes, base_counts):
                    then = tuple_(bases[at:at + count])
                    at += count
                    if not same_items(get_bases(kind), then):
                        set_type_attr(kind, "__bases__", then)
            if not (list_(map_(len_, dicts)) == sizes and same_items(list_(flat(map_(keys, dicts))), names_)
                    and same_items(list_(flat(map_(values, dicts))), values_)):
                for index, (state_, then) in enumerate_(zip_(dicts, split(names_, values_, sizes))):
                    if not same_items(list_(flat(items(state_))), list_(flat(then))):
                        if index < len_(namespaces):  # (a module's namespace; then objects' and the cache)
                            rebuild(state_, then, names[index], added)
                        elif state_ is importer_cache:
                            clear(state_)
                            update(state_, then)
                        else:
                            keep_data(state_, then)
            if not (list_(map_(len_, proxies)) == class_sizes
                    and same_items(list_(flat(map_(proxy_keys, proxies))), class_names)
                    and same_items(list_(flat(map_(proxy_values, proxies))), class_values)):
                for kind, own, then in zip_(classes, proxies, split(class_names, class_values, class_sizes)):
                    if same_items(list_(flat(proxy_items(own))), list_(flat(then))):
                        continue
                    lookup = dict_(then)  # (a class's keys are exact str: type.__setattr__ makes them so)
                    for key in list_(own):
                        if key not in lookup:
                            del_type_attr(kind, key)
                    for key, value in then:
                        if proxy_get(own, key, absent) is not value:
                            set_type_attr(kind, key, value)
            for each, then in zip_(lists, contents):
                if not same_items(each, then):
                    each[:] = then
            for namespace, name, key, value in added:  # (every module and class as before: what reads it)
                if added_ok(key, value, name, namespace):
                    namespace[key] = value
        finally:
            if collecting:
                enable()

    def restore(tests):
        """Just before the tests run: every module as before the program ran; the modules the program imported
        under a package taken, and a module the tests import that was not taken, dropped; ``bindings``."""
        for name in list_(keys(modules)):
            if type_(name) is not str_ or name in taken:
                continue
            head = rpartition(name, ".")[0]
            while head and head not in taken:
                head = rpartition(head, ".")[0]
            if head or name in named:
                del modules[name]
        put_back(held[0], held[1])
        for key, name in bindings:
            if key in tests and name in taken:
                tests[key] = taken[name]

    def before_call():
        return capture(held[2])

    def after_call(state):
        put_back(held[2], state)

    return take, is_taken
'''
"""The boot source (module docstring)."""
