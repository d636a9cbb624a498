"""Which namespaces are being deleted: from their watch events and from refused creates, and
when a namespace of the same name is a new one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis_operator.controller.namespaces import TerminatingNamespaces, is_terminating

REFUSED_AT = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def namespace(created: str = "2024-05-01T11:00:00Z", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "ns", "creationTimestamp": created, **meta}}


def test_a_namespace_is_terminating_once_marked_for_deletion() -> None:
    assert not is_terminating(namespace() | {"status": {"phase": "Active"}})
    assert is_terminating(namespace(deletionTimestamp="2024-05-01T12:00:00Z"))
    assert is_terminating(namespace() | {"status": {"phase": "Terminating"}})


def test_the_watch_marks_and_forgets() -> None:
    known = TerminatingNamespaces()
    known.on_namespace("ADDED", namespace())
    assert "ns" not in known
    known.on_namespace("MODIFIED", namespace(deletionTimestamp="2024-05-01T12:00:00Z"))
    assert "ns" in known
    known.on_namespace("DELETED", namespace(deletionTimestamp="2024-05-01T12:00:00Z"))
    assert "ns" not in known


def test_a_refusal_is_forgotten_for_a_namespace_or_redis_created_after_it() -> None:
    known = TerminatingNamespaces()
    known.refuse("ns", REFUSED_AT)
    known.refuse("ns", datetime(2024, 5, 1, 13, tzinfo=UTC))  # the first refusal counts
    assert "ns" in known and "other" not in known
    known.on_namespace(None, namespace())  # the old namespace, seen late (a listing): still going
    known.observed("ns", namespace("2024-05-01T12:00:30Z"))  # a Redis of the same second
    assert "ns" in known
    known.observed("ns", namespace("2024-05-01T12:00:31Z"))  # a Redis made later: a new namespace
    assert "ns" not in known

    known.refuse("ns", REFUSED_AT)
    known.on_namespace("ADDED", namespace("2024-05-01T12:01:00Z"))  # the namespace, new
    assert "ns" not in known
    known.refuse("ns", REFUSED_AT)
    known.on_namespace("DELETED", namespace())
    assert "ns" not in known
