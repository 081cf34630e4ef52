"""No project code touches a third-party package's private (underscore) names.

A private name can change in any release without notice: watchdog 7.1.1 turned an
attribute our old inotify watcher wrote into a computed property, and every event was lost
without an error (issue 13). So the project's own code (:data:`SCANNED`) may use only
public names of what it installs. This test reads every file with :mod:`ast` and fails on

- ``import x._y`` and ``from x._y import z`` (a private module anywhere in the path),
  and ``import _x`` of a third-party top-level package (such as ``_pytest``);
- ``from x import _y``;
- ``x._y`` attribute access where ``x`` was bound by importing a third-party module or name
  (``import x``, ``import x.y as z``, ``from x import y``);
- ``importlib.import_module("x._y")``, ``__import__(...)`` and ``pytest.importorskip(...)``
  with such a literal name;
- in a class of ours that subclasses a third-party class, ``self._x`` (read, written or
  defined) where ``_x`` is a private name of that class or one of its third-party bases
  (found in their source, else by ``dir``), and any ``super()._x``: the way the old watcher
  reached into watchdog's ``InotifyWatchGroup``.

Third-party means neither the standard library (:data:`sys.stdlib_module_names`) nor one of
the project's own top-level modules (:data:`OWN`), and not a relative import. Dunder names
(``__version__``) are public. An attribute reached through a variable (``obj._x`` on an
instance) is not seen: the check is about what the code names, not what it computes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("immich_backupd", "immich_standin", "bench", "tests", "tools")
# The project's own top-level modules: the scanned packages, and the helper modules that
# tests import by their bare name (pytest puts their folder on sys.path).
OWN = frozenset(SCANNED) | frozenset({"conftest"})
_IMPORTERS = frozenset({"import_module", "__import__", "importorskip"})


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _third_party(module: str, own: frozenset[str]) -> bool:
    top = module.split(".")[0]
    return top not in own and top not in sys.stdlib_module_names


def _private_module(module: str) -> bool:
    return any(_private(part) for part in module.split("."))


def _chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _bindings(tree: ast.AST, own: frozenset[str]) -> dict[str, str]:
    """Each local name that an import in ``tree`` binds to a third-party module or name,
    with what it stands for (``{"web": "aiohttp.web", "yaml": "yaml"}``), wherever in the
    file the import is."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _third_party(alias.name, own):
                    continue
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and _third_party(node.module, own):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def private_uses(source: str, filename: str = "<string>",
                 own: frozenset[str] = OWN) -> list[str]:
    """Each use of a third-party private name in ``source``, as ``"file:line: what"``,
    in the order of the source."""
    tree = ast.parse(source, filename)
    found: list[tuple[int, int, str]] = []

    def flag(node: ast.AST, what: str) -> None:
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        found.append((line, col, f"{filename}:{line}: {what}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name, own) and _private_module(alias.name):
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or not _third_party(module, own):
                continue
            if _private_module(module):
                flag(node, f"from {module} import ...")
            for alias in node.names:
                if _private(alias.name):
                    flag(node, f"from {module} import {alias.name}")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else None)
            arg = node.args[0]
            if (name in _IMPORTERS and isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str) and _third_party(arg.value, own)
                    and _private_module(arg.value)):
                flag(node, f"{name}({arg.value!r})")
    bound = _bindings(tree, own)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain = _chain(node)
            if chain and chain[0] in bound:
                flag(node, f"{'.'.join(chain)} (from {bound[chain[0]]})")
    return [what for _, _, what in sorted(found)]


def _resolve(dotted: str) -> object | None:
    """The object named ``dotted`` (``pkg.mod.Class.attr``), importing the longest module
    prefix; None when it cannot be imported here."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _identifiers(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


@cache
def _base_privates(cls: type, own: frozenset[str]) -> frozenset[str]:
    """The private names that ``cls`` and its third-party bases define or use."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not _third_party(klass.__module__, own):
            continue
        names.update(vars(klass))
        try:
            names |= _identifiers(inspect.getsource(klass))
        except (OSError, TypeError, SyntaxError):
            # A compiled class: its module's .py beside the extension, if shipped.
            path = Path(getattr(sys.modules.get(klass.__module__), "__file__", "") or ".")
            source = path.with_name(path.name.split(".")[0] + ".py")
            if source.is_file():
                names |= _identifiers(source.read_text(encoding="utf-8"))
            names.update(dir(klass))
    return frozenset(n for n in names if _private(n))


def subclass_private_uses(source: str, filename: str = "<string>",
                          own: frozenset[str] = OWN) -> list[str]:
    """Each private name of a third-party base class that a subclass in ``source``
    reads, writes or redefines, as ``"file:line: what"``."""
    tree = ast.parse(source, filename)
    bound = _bindings(tree, own)
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        privates: set[str] = set()
        names: list[str] = []
        for base in node.bases:
            chain = _chain(base)
            if not chain or chain[0] not in bound:
                continue
            dotted = ".".join([bound[chain[0]], *chain[1:]])
            cls = _resolve(dotted)
            if not isinstance(cls, type):
                found.append(f"{filename}:{node.lineno}: {node.name}: cannot check its "
                             f"base {dotted}, not importable here")
                continue
            privates |= _base_privates(cls, own)
            names.append(dotted)
        if not names:
            continue
        where = f"{node.name} (a {', '.join(names)})"
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and item.name in privates:
                found.append(f"{filename}:{item.lineno}: {where} redefines {item.name}")
        for func in node.body:
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) \
                    or not func.args.args:
                continue
            me = func.args.args[0].arg
            for sub in ast.walk(func):
                if not isinstance(sub, ast.Attribute) or not _private(sub.attr):
                    continue
                value = sub.value
                is_super = (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                            and value.func.id == "super")
                if is_super or (isinstance(value, ast.Name) and value.id == me
                                and sub.attr in privates):
                    found.append(f"{filename}:{sub.lineno}: {where} uses "
                                 f"{'super()' if is_super else me}.{sub.attr}")
    return found


def project_files() -> list[Path]:
    """The project's own Python files: not what tools download into hidden folders
    (bench/.cache holds the official CLI's node_modules, with Python files of Node's)."""
    return sorted(p for d in SCANNED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py")
                  if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


def test_project_code_uses_no_private_name_of_a_third_party_package():
    files = project_files()
    assert len(files) > 50  # the scan found the project, not an empty folder
    found = [use for path in files
             for check in (private_uses, subclass_private_uses)
             for use in check(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "private names of third-party packages:\n" + "\n".join(found)


BAD = '''\
import watchdog._internal
import _pytest.fixtures
import aiohttp.web as web
from watchdog.observers import _inotify_c
from watchdog.observers.inotify_c import InotifyConstants as _C
from watchdog.observers._helpers import x
from watchdog.observers import inotify_buffer
import importlib
import yaml

def f(group):
    web._run_app(None)
    inotify_buffer._private_attr
    yaml.reader._thing
    importlib.import_module("watchdog.observers._inotify_c")
'''


def test_the_check_fails_on_each_kind_of_private_use(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD)
    found = private_uses(bad.read_text(), "bad.py")
    what = [line.split(": ", 1)[1] for line in found]
    assert what == [
        "import watchdog._internal",
        "import _pytest.fixtures",
        "from watchdog.observers import _inotify_c",
        # An alias does not make a public name private, nor a private one public:
        "from watchdog.observers._helpers import ...",
        "web._run_app (from aiohttp.web)",
        "inotify_buffer._private_attr (from watchdog.observers.inotify_buffer)",
        "yaml.reader._thing (from yaml)",
        "import_module('watchdog.observers._inotify_c')",
    ]
    assert found[0].startswith("bad.py:1: ")


GOOD = '''\
import os
import _thread
from os import _exit
from . import _sibling
from ._impl import helper
from immich_backupd.watch import _whatever
import immich_standin._x
from watchdog import __version__
import watchdog.events as events

class H(events.FileSystemEventHandler):
    def __init__(self):
        self._hooks = None
        super().__init__()

def g(obj):
    os._exit(0)
    obj._private  # not seen: a value, not an imported name
    return events.__name__
'''


def test_the_check_leaves_stdlib_own_relative_and_dunder_names_alone(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    assert private_uses(good.read_text(), "good.py") == []


SUBCLASS = '''\
import watchdog.observers.api as api
from watchdog.observers.api import BaseObserver

class Peeking(BaseObserver):
    def handlers(self):
        return self._handlers  # BaseObserver's own bookkeeping

    def _mine(self):  # a private name of ours, not of BaseObserver
        self._count = 1
        return super()._anything()

class Aliased(api.BaseObserver):
    def set(me):
        me._handlers = {}

class Ours:
    def get(self):
        return self._handlers  # no third-party base: not a library's internals
'''


def test_the_check_fails_on_a_subclass_using_its_bases_internals(tmp_path):
    bad = tmp_path / "sub.py"
    bad.write_text(SUBCLASS)
    found = subclass_private_uses(bad.read_text(), "sub.py")
    assert found == [
        "sub.py:6: Peeking (a watchdog.observers.api.BaseObserver) uses self._handlers",
        "sub.py:10: Peeking (a watchdog.observers.api.BaseObserver) uses super()._anything",
        "sub.py:14: Aliased (a watchdog.observers.api.BaseObserver) uses me._handlers",
    ]
    # A base that cannot be imported cannot be checked, and says so rather than passing.
    missing = "from no_such_package import Base\nclass C(Base):\n    pass\n"
    assert subclass_private_uses(missing, "m.py") == [
        "m.py:2: C: cannot check its base no_such_package.Base, not importable here"]
