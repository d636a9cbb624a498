"""Which namespaces are being deleted: there the controller creates nothing, writes no status
and records no Event (a Redis there only loses its legacy finalizer, if it has one).

Two signals tell, as they tell Kubernetes' own controllers:

- the Namespace objects' watch: a namespace with a ``deletionTimestamp`` (``status.phase:
  Terminating``) is being deleted from the moment its deletion starts, before the namespace
  controller has deleted a single pod, so the controller never tries a create there at all;
- a create refused with 403 and the cause ``NamespaceTerminating``
  (:func:`~redis_operator.kube.errors.is_namespace_terminating`): the apiserver's own word for
  when the watch is behind (just after a start, or a lagging stream). The ReplicaSet
  controller relies on this one alone.

Why the watch, at the price of ``list, watch`` on namespaces cluster-wide (a Namespace is
cluster-scoped, so serving only some namespaces needs that grant too): the refusal comes too
late to stop the storm. The namespace controller deletes the pods first and the Redis objects
only once those are gone, so before any create is refused every Redis of the namespace has
seen its pods terminating and written a status saying so, and every pass then in flight has
sent its creates (up to the write concurrency) into the refusal. Namespaces are few and small,
and the operator already watches every pod and Service of the cluster.

A namespace can be deleted and created again under the same name, so the mark a refusal left
is forgotten when the namespace's DELETED event comes, or when something created after the
refusal is seen there (the new namespace itself, or a new Redis in it). A successful write does
not clear it: a create sent just before the deletion can succeed after one sent just after was
refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis_operator.api import is_being_deleted

Obj = Mapping[str, Any]

TERMINATING = "Terminating"
"""``status.phase`` of a namespace being deleted."""


def is_terminating(namespace: Obj) -> bool:
    """Whether a Namespace object is being deleted."""
    status: Obj = namespace.get("status") or {}
    return is_being_deleted(namespace) or status.get("phase") == TERMINATING


def _created(obj: Obj) -> datetime | None:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        created = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


@dataclass
class TerminatingNamespaces:
    """The namespaces known to be being deleted, from their watch and from refused creates."""

    watched: set[str] = field(default_factory=set)
    """Namespaces whose own watch events show them being deleted."""
    refused: dict[str, datetime] = field(default_factory=dict)
    """Namespaces where a create was refused as terminating, and when."""

    def __contains__(self, namespace: object) -> bool:
        return namespace in self.watched or namespace in self.refused

    def on_namespace(self, event_type: str | None, namespace: Obj) -> None:
        """A watch event of a Namespace object."""
        name = str(namespace["metadata"]["name"])
        if event_type == "DELETED":
            self.watched.discard(name)
            self.refused.pop(name, None)
        elif is_terminating(namespace):
            self.watched.add(name)
        else:
            self.watched.discard(name)
            self.observed(name, namespace)

    def refuse(self, namespace: str, now: datetime) -> None:
        """A create there was refused because the namespace is being deleted."""
        self.refused.setdefault(namespace, now)

    def observed(self, namespace: str, obj: Obj) -> None:
        """``obj`` (the namespace itself, or an object in it) was seen: if it was created after
        the refusal, the namespace is a new one under the same name."""
        refused = self.refused.get(namespace)
        if refused is None:
            return
        created = _created(obj)
        if created is not None and created > refused:
            del self.refused[namespace]
