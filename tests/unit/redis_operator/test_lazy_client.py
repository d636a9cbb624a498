"""The stand-ins for the generated client packages: every name the real package binds, each
imported on first use, and the operator's start imports none of the models it does not use."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_asyncio.client
import kubernetes_asyncio.client.models
import pytest

from redis_operator import lazy_client


def init_of(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


def test_the_stand_in_binds_what_the_package_binds() -> None:
    client = kubernetes_asyncio.client
    assert isinstance(sys.modules["kubernetes_asyncio.client"], type(client))
    imported, constants = lazy_client.exports(
        "kubernetes_asyncio.client", init_of("kubernetes_asyncio.client")
    )
    assert {"ApiClient", "Configuration", "CoreV1Api", "V1Pod"} <= set(imported)
    assert constants["__version__"] == client.__version__
    for name in ("ApiClient", "Configuration", "CoreV1Api", "V1Pod", "V1ObjectMeta"):
        module, attribute = imported[name]
        assert attribute is not None
        assert getattr(client, name) is getattr(importlib.import_module(module), attribute)
    assert kubernetes_asyncio.client.models.V1Pod is client.V1Pod
    assert "V1Service" in dir(client)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        kubernetes_asyncio.client.NoSuchThing  # noqa: B018


def test_a_package_that_imports_nothing_at_its_top_is_left_alone(tmp_path: Path) -> None:
    init = tmp_path / "pkg" / "__init__.py"
    init.parent.mkdir()
    init.write_text("if True:\n    from pkg.a import A\n__version__ = '1'\n")
    assert lazy_client.exports("pkg", init) == ({}, {"__version__": "1"})


@pytest.mark.parametrize("package", lazy_client.GENERATED)
def test_the_generated_packages_are_read_line_by_line_as_their_syntax_tree_reads(
    package: str,
) -> None:
    text = init_of(package).read_text(encoding="utf-8")
    by_line = lazy_client._line_exports(package, text)
    assert by_line is not None
    assert by_line == lazy_client._tree_exports(package, text)
    assert by_line[0]


@pytest.mark.parametrize(
    "statement",
    [
        "from pkg.a import (A, B)",
        "from ..up import A",
        "import pkg.a",
        "VERSION = 1",
        "try:",
        'NOTE = """two',
    ],
)
def test_a_statement_of_another_form_is_read_from_the_syntax_tree(statement: str) -> None:
    assert lazy_client._line_exports("pkg", f"from pkg.b import B\n{statement}\n") is None


def test_the_lines_of_strings_and_statements_are_not_read_as_statements() -> None:
    text = (
        '"""A docstring.\n'
        "from pkg.doc import Nothing\n"
        '"""\n'
        "# from pkg.comment import Nothing\n"
        "__all__ = [\n"
        '    "A",\n'
        "]\n"
        "from __future__ import annotations\n"
        "from pkg.a import A as Alias  # noqa\n"
        "from . import sub\n"
        "from .b import B\n"
        "__version__ = '2.0'\n"
    )
    expected = (
        {"Alias": ("pkg.a", "A"), "sub": ("pkg.sub", None), "B": ("pkg.b", "B")},
        {"__version__": "2.0"},
    )
    assert lazy_client._line_exports("pkg", text) == expected
    assert lazy_client._tree_exports("pkg", text) == expected


def test_starting_the_operator_imports_no_generated_model_it_does_not_use() -> None:
    probe = (
        "import json, sys, redis_operator.cli, redis_operator.manager; "
        "print(json.dumps(sorted(m for m in sys.modules if '.models.' in m or '.api.' in m)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert len(loaded) < 10, loaded
    assert "kubernetes_asyncio.client.models.v1_pod" not in loaded
    assert not [m for m in loaded if ".api." in m]
