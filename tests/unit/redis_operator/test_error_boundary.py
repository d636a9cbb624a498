"""The error boundary stays where it is: outside ``redis_operator/kube/``, no module of the
operator names an exception type of kubernetes_asyncio's or of aiohttp's client (an ast scan of
the sources, resolving what each name is bound to)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import OpenApiException

import redis_operator

PACKAGE = Path(redis_operator.__file__).parent
LIBRARIES = ("aiohttp", "kubernetes_asyncio")
#: The roots of the client libraries' exception types (ApiException is an OpenApiException).
CLIENT_EXCEPTIONS = (OpenApiException, aiohttp.ClientError)


def _is_client_exception(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, CLIENT_EXCEPTIONS)


def _resolve(module: str, name: str) -> object:
    imported = importlib.import_module(module)
    if hasattr(imported, name):
        return getattr(imported, name)
    return importlib.import_module(f"{module}.{name}")  # a submodule not imported yet


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else [*base, node.attr]
    return None


def client_exceptions_named(source: str) -> list[str]:
    """The client libraries' exception types that ``source`` imports or names (and imports of
    kubernetes_asyncio's exceptions module), as dotted names."""
    tree = ast.parse(source)
    found: list[str] = []
    bound: dict[str, object] = {}  # a local name -> the library module or object it is
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in LIBRARIES:
                    continue
                if alias.name.endswith(".exceptions"):
                    found.append(alias.name)
                if alias.asname:
                    bound[alias.asname] = importlib.import_module(alias.name)
                else:
                    bound[top] = importlib.import_module(top)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in LIBRARIES:
                continue
            if node.module.endswith(".exceptions"):
                found.append(node.module)
            for alias in node.names:
                value = _resolve(node.module, alias.name)
                if _is_client_exception(value):
                    found.append(f"{node.module}.{alias.name}")
                elif isinstance(value, ModuleType) and value.__name__.endswith(".exceptions"):
                    found.append(value.__name__)
                bound[alias.asname or alias.name] = value
    for node in ast.walk(tree):
        parts = _dotted(node) if isinstance(node, ast.Attribute) else None
        if not parts or parts[0] not in bound:
            continue
        value: object = bound[parts[0]]
        for part in parts[1:]:
            value = getattr(value, part, None)
        if _is_client_exception(value):
            found.append(".".join(parts))
    return found


def test_the_scan_finds_every_spelling() -> None:
    source = """
import aiohttp
import kubernetes_asyncio.client.exceptions
from aiohttp import ServerDisconnectedError, web
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiException as Refused, exceptions

try:
    pass
except (aiohttp.ClientError, client.ApiException, client.exceptions.ApiException):
    pass
"""
    assert sorted(client_exceptions_named(source)) == sorted(
        [
            "kubernetes_asyncio.client.exceptions",
            "aiohttp.ServerDisconnectedError",
            "kubernetes_asyncio.client.ApiException",
            "kubernetes_asyncio.client.exceptions",
            "aiohttp.ClientError",
            "client.ApiException",
            "client.exceptions.ApiException",
        ]
    )
    # The web server's classes and the client itself are fine.
    assert client_exceptions_named("from aiohttp import web\nweb.Application()\n") == []
    assert (
        client_exceptions_named("from kubernetes_asyncio import client\nclient.ApiClient\n") == []
    )


MODULES = sorted(
    path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] != "kube"
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_client_seam_knows_the_client_libraries_exceptions(path: Path) -> None:
    assert client_exceptions_named(path.read_text()) == []
