"""The generated Kubernetes client packages, imported name by name on first use.

``kubernetes_asyncio.client`` imports every generated API class and model module when it is
imported (about 1,200 modules: 0.4 s of CPU and 60 MiB of a process's memory), and kopf (in
a process that runs it beside the recorder) imports that package and the official client's
too (lazy of itself, but its top-level ``kubernetes`` imports its config loaders, 0.25 s
more). The operator
uses none of the models: its calls go through ``ApiClient`` and ``Configuration`` on plain
JSON. :func:`install` puts a stand-in for each of these packages in ``sys.modules`` before
anything imports them: the same names (read from the package's own ``__init__.py``), each
imported from its module when first looked up, so ``from kubernetes_asyncio.client import
V1Pod`` still works and imports only ``V1Pod``'s module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path

#: The packages whose ``__init__`` only re-exports generated modules.
GENERATED = (
    "kubernetes",
    "kubernetes_asyncio.client",
    "kubernetes_asyncio.client.api",
    "kubernetes_asyncio.client.models",
)


Exports = tuple[dict[str, tuple[str, str | None]], dict[str, object]]
"""Names a package's ``__init__`` imports (name -> module and attribute, or module alone for a
submodule) and the constants it binds."""

#: The one-line statements the generated ``__init__`` files consist of.
_IMPORT_LINE = re.compile(r"from (\.?)(\w[\w.]*|) import (\w+)(?: as (\w+))?[ \t]*(?:#.*)?")
_CONSTANT_LINE = re.compile(r"(\w+) = (\"[^\"\\]*\"|'[^'\\]*')[ \t]*(?:#.*)?")


def exports(package: str, init: Path) -> Exports:
    """What a package's ``__init__.py`` binds at its top level: names imported and constants
    (``__version__``).

    Read line by line where every top-level statement is one of the simple forms the generated
    files use (a tenth of the time of parsing them: 25 ms of every start), else from its syntax
    tree.
    """
    text = init.read_text(encoding="utf-8")
    return _line_exports(package, text) or _tree_exports(package, text)


def _bind(
    imported: dict[str, tuple[str, str | None]],
    package: str,
    relative: bool,
    module: str,
    name: str,
    alias: str | None,
) -> None:
    if not relative:
        if module != "__future__":
            imported[alias or name] = (module, name)
    elif module:
        imported[alias or name] = (f"{package}.{module}", name)
    else:
        imported[alias or name] = (f"{package}.{name}", None)


def _line_exports(package: str, text: str) -> Exports | None:
    """:func:`exports` of a file whose top-level lines are blank, comments, string literals,
    list displays (``__all__``), one-name imports and string constants; None for any other."""
    imported: dict[str, tuple[str, str | None]] = {}
    constants: dict[str, object] = {}
    in_string = False
    for line in text.splitlines():
        quotes = line.count('"""') + line.count("'''")
        if in_string or line.startswith(('"""', "'''")):
            in_string = in_string != (quotes % 2 == 1)
            continue
        if not line or line[0] in " \t#)]":
            continue  # blank, a comment, or inside a statement begun at the left margin
        if line.startswith(("from ", "import ")):
            found = _IMPORT_LINE.fullmatch(line)
            if found is None:
                return None
            dot, module, name, alias = found.groups()
            _bind(imported, package, bool(dot), module, name, alias)
        elif (constant := _CONSTANT_LINE.fullmatch(line)) is not None:
            constants[constant[1]] = constant[2][1:-1]
        elif not re.fullmatch(r"\w+ = \[.*", line):
            return None
    return imported, constants


def _tree_exports(package: str, text: str) -> Exports:
    imported: dict[str, tuple[str, str | None]] = {}
    constants: dict[str, object] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                _bind(imported, package, False, node.module, alias.name, alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                _bind(imported, package, True, node.module or "", alias.name, alias.asname)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return imported, constants


def _lazy_package(name: str, init: Path) -> types.ModuleType | None:
    """A stand-in for package ``name``; None if its ``__init__`` imports nothing at its top
    level (a version that is lazy of itself)."""
    imported, constants = exports(name, init)
    if not imported:
        return None
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(constants)

    top = name.partition(".")[0]

    def lookup(attr: str) -> object:
        # The top package first, as a plain import would: its __init__ may import this one's
        # modules (kubernetes_asyncio's config loaders import ApiClient).
        importlib.import_module(top)
        if attr in module.__dict__:
            return module.__dict__[attr]
        if attr in imported:
            source, original = imported[attr]
            found = importlib.import_module(source)
            value: object = found if original is None else getattr(found, original)
        else:
            try:
                value = importlib.import_module(f"{name}.{attr}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{name}.{attr}":
                    raise
                raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None
        setattr(module, attr, value)
        return value

    def names() -> list[str]:
        return sorted({*module.__dict__, *imported})

    # PEP 562: a module's own __getattr__ and __dir__ answer what its dict lacks.
    module.__dict__.update(__getattr__=lookup, __dir__=names)
    return module


def _init_file(name: str) -> Path | None:
    """The ``__init__.py`` of package ``name``, found without importing it or its parents."""
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        init = Path(location, *rest, "__init__.py")
        if init.is_file():
            return init
    return None


def install(packages: tuple[str, ...] = GENERATED) -> None:
    """Stand in for each of ``packages`` that is installed and not imported yet."""
    for name in packages:
        if name in sys.modules:
            continue
        init = _init_file(name)
        lazy = _lazy_package(name, init) if init is not None else None
        if lazy is not None:
            sys.modules[name] = lazy
