"""Every knob of the operator is documented where it is defined, with its default."""

from __future__ import annotations

import ast
import inspect

from redis_operator import settings


def _fields_and_docs(cls: type) -> list[tuple[str, bool, str | None]]:
    """(name, has a default, attribute docstring) for each field, in order."""
    body = ast.parse(inspect.getsource(cls)).body[0]
    assert isinstance(body, ast.ClassDef)
    found = []
    statements = body.body
    for i, node in enumerate(statements):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            following = statements[i + 1] if i + 1 < len(statements) else None
            doc = None
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                doc = str(following.value.value)
            found.append((node.target.id, node.value is not None, doc))
    return found


SETTINGS_TYPES = [
    settings.ControllerSettings,
    settings.ReplicationSettings,
    settings.WatchSettings,
    settings.WebhookSettings,
    settings.WebhookCertificateSettings,
    settings.Settings,
]


def test_every_setting_has_a_docstring_that_states_its_default() -> None:
    for cls in SETTINGS_TYPES:
        fields = _fields_and_docs(cls)
        assert fields, cls
        for name, has_default, doc in fields:
            assert doc, f"{cls.__name__}.{name} has no docstring"
            if has_default:
                assert "default" in doc.lower(), f"{cls.__name__}.{name}: say the default"


def test_the_settings_tree_holds_every_settings_type() -> None:
    tree = settings.Settings()
    assert isinstance(tree.controller, settings.ControllerSettings)
    assert isinstance(tree.watch, settings.WatchSettings)
    assert tree.events is settings.EVENT_OPTIONS
    assert tree.webhook is None and tree.leader_election is None


def test_docs_list_every_setting() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "operations.md").read_text(encoding="utf-8")
    for cls in SETTINGS_TYPES:
        for name, _, _ in _fields_and_docs(cls):
            assert f"`{cls.__name__}.{name}" in doc or f"`{name}`" in doc, (
                f"docs/operations.md does not list {cls.__name__}.{name}"
            )


def test_the_watch_timeout_the_apiserver_parses_is_whole_seconds() -> None:
    # The watch sends it as ?timeoutSeconds=..., which the apiserver parses as an integer.
    assert isinstance(settings.WatchSettings().server_timeout_seconds, int)
