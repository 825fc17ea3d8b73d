"""The libraries as they were before the program ran, for :mod:`treecredit.sandbox_check`'s tests: a program must not
pass by patching a function the tests call (``math.isclose = lambda *a, **k: True``, ``np.allclose = ...``,
``np.testing.assert_array_equal = lambda *a, **k: None``, ``json.loads = ...``: until 2026-12-03 each passed every
such test, a universal cheat on MBPP- and BigCodeBench-style rows).

:func:`import_plan` (parent side, text only) names the modules the program and the tests import (every ``import``
and ``from ... import`` statement of either text, in functions too; absolute ones), the attribute paths they read
from them (``np.testing.assert_allclose``: a package may load ``testing`` only when it is first asked for), the
names the program's top level binds by ``import X [as Y]`` that the tests read without binding them, and the
top-level names of the tests' own imports.

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
(after they began) reaches what the tests call after it. A public name the program adds to a library module stays
(``collections.Iterable = collections.abc.Iterable``, ``np.float = float``, ``math.memo = {}``: until trial39 of
2026-12-03 such correct programs scored 0.0), unless it names a builtin other than that builtin itself (it would
change what the module's own functions call); a name starting with ``_`` the program adds is dropped, and so is
any attribute it adds to a library class (it may shadow one the class inherits).
"""

from __future__ import annotations

import ast

MODULES = r'''
def _library_state(imports, paths, bindings, named, scope):
    """The libraries as they were before the program ran (treecredit.sandbox_modules): take() -> (restore,
    before_call, after_call)."""
    import sys, types, gc, itertools, operator
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
    builtin_names = dict_(import_("builtins").__dict__)  # (as they were at boot: the program has not run yet)
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

    def added_ok(key, value):
        """Whether a name the program added to a library module may stay: a public name (no ``_``: no module's
        own lazily made global), not one of the builtins' names unless it is that builtin (``np.float = float``;
        ``statistics.sum = fake`` would change what the module's own functions call)."""
        if startswith(key, "_"):
            return False
        builtin = get(builtin_names, key, absent)
        return builtin is absent or builtin is value

    def rebuild(namespace, pairs, name):
        """``namespace`` made ``pairs`` again (whole: a key the program added may be a str subclass whose
        ``__hash__`` is its code), but for a submodule imported since (still in ``sys.modules``: its attribute)
        and a public name the program added (:func:`added_ok`: a test that reads a name the module did not have
        fails without the program anyway, so it cannot be cheated through it: ``collections.Iterable = ...``,
        ``np.float = float``, ``math.memo = {}`` stay)."""
        was = {key for key, _ in pairs if type_(key) is str_}
        kept = [(key, value) for key, value in list_(items(namespace)) if type_(key) is str_
                and (isinstance_(value, module_type) and get(modules, name + "." + key) is value
                     or key not in was and added_ok(key, value))]
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
                            rebuild(state_, then, names[index])
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


def _nodes(tree: ast.Module, functions: bool) -> list[ast.AST]:
    """Every node of ``tree``, or (``functions`` False) those that run when it runs: not the bodies of its functions
    (a program's import in a function runs only if the tests call it; the tests' own functions all run)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if not functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(nodes: list[ast.AST]) -> tuple[list[tuple[str, tuple[str, ...]]], dict[str, str]]:
    """Every absolute import among ``nodes`` as ``(module, fromlist)``, and the names they bind to modules
    (``np`` -> ``numpy``; ``import a.b`` binds ``a``)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, ()))
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.partition(".")[0]] = alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, tuple(a.name for a in node.names)))
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = node.module + "." + alias.name
    return found, aliases


def _paths(nodes: list[ast.AST], aliases: dict[str, str]) -> set[tuple[str, ...]]:
    """The attribute paths ``nodes`` read from names bound to modules (``np.testing.x`` ->
    ``('numpy', 'testing', 'x')``), the module's name first."""
    out: set[tuple[str, ...]] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute):
            parts = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                out.add((*aliases[value.id].split("."), *reversed(parts)))
    return out


def import_plan(program: str, test: str, reads: tuple[str, ...] = ()) -> tuple:
    """For ``_library_state`` (module docstring): ``(imports, paths, bindings, named, scope)`` of ``program`` (what
    runs when it runs: not its functions' bodies) and ``test`` (all of it); ``reads`` are the names the tests read
    and do not bind (:func:`treecredit.sandbox_check.style_of`). A text that does not parse adds nothing."""
    imports: list[tuple[str, tuple[str, ...]]] = []
    paths: set[tuple[str, ...]] = set()
    bindings: list[tuple[str, str]] = []
    named: set[str] = set()
    parts = []
    aliases: dict[str, str] = {}
    for text, is_test in ((program, False), (test, True)):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        nodes = _nodes(tree, is_test)
        found, bound = _imports(nodes)
        imports += found
        aliases.update(bound)  # (the tests may read a module by the program's name for it: np)
        parts.append(nodes)
        if is_test:
            named |= {module.partition(".")[0] for module, _ in found}
            continue
        for node in nodes:  # the program's own `import X [as Y]` that runs (its top level, a class body)
            for alias in node.names if isinstance(node, ast.Import) else ():
                key = alias.asname or alias.name.partition(".")[0]
                if key in reads:
                    bindings.append((key, alias.name if alias.asname else key))
    for nodes in parts:
        paths |= _paths(nodes, aliases)
    unique = tuple(dict.fromkeys(imports))
    scope = named | {module.partition(".")[0] for _, module in bindings} | {"builtins"}
    return unique, tuple(sorted(paths)), tuple(dict.fromkeys(bindings)), frozenset(named), frozenset(scope)
