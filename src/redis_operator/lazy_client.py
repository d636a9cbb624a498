"""The generated Kubernetes client packages, imported name by name on first use.

``kubernetes_asyncio.client`` imports every generated API class and model module when it is
imported (about 1,200 modules: 0.4 s of CPU and 60 MiB of a process's memory), and kopf
imports that package whenever it is installed, and the official client's package too (lazy
of itself, but its top-level ``kubernetes`` imports its config loaders, 0.25 s more). The operator
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


def exports(
    package: str, init: Path
) -> tuple[dict[str, tuple[str, str | None]], dict[str, object]]:
    """What a package's ``__init__.py`` binds at its top level: names imported (name ->
    module and attribute, or module alone for a submodule) and constants (``__version__``)."""
    imported: dict[str, tuple[str, str | None]] = {}
    constants: dict[str, object] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "__future__":
                continue
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                if node.module:
                    imported[alias.asname or alias.name] = (f"{package}.{node.module}", alias.name)
                else:
                    imported[alias.asname or alias.name] = (f"{package}.{alias.name}", None)
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
