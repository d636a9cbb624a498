"""The controller's memory of its own writes: those the watch has not shown yet, the pods it
deleted itself, and the deletions it has told.

:class:`Expectations` are client-go's: until the store reflects a pass's creates and deletes, a
new pass could act on a stale view (create a pod twice, delete one already going), so it waits.
``deleted_by_us`` is the ReplicaSet controller's other memory: without it, a pod deleted for a
scale-down or a replacement would be reported as deleted by someone else once it is gone.
A Redis being deleted may get no status write (its namespace may be going too), so the
``Deleting`` Event told about it is remembered here, once per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis_operator.api import is_being_deleted
from redis_operator.controller.store import ChildKey, Key, Store


@dataclass
class Expectations:
    """Writes of one Redis' passes that the watch has not shown yet."""

    timeout: float
    """Seconds after which they are dropped: never wait forever on a watch event that was lost."""
    creates: set[ChildKey] = field(default_factory=set)
    deletes: dict[ChildKey, str] = field(default_factory=dict)  # child -> uid deleted
    recorded_at: float = 0.0

    def record(self, now: float, creates: set[ChildKey], deletes: dict[ChildKey, str]) -> None:
        self.creates |= creates
        self.deletes.update(deletes)
        self.recorded_at = now

    def observe_gone(self, child: ChildKey) -> None:
        """The watch showed the child deleted: nothing is left to expect of it (a create the
        store no longer holds would otherwise be waited for until the timeout)."""
        self.creates.discard(child)
        self.deletes.pop(child, None)

    def satisfied(self, store: Store, namespace: str, now: float) -> bool:
        """Whether the store shows every write recorded (those it shows are forgotten)."""
        for kind, name in list(self.creates):
            if store.children(kind).get(namespace, name) is not None:
                self.creates.discard((kind, name))
        for (kind, name), uid in list(self.deletes.items()):
            held = store.children(kind).get(namespace, name)
            # Seen going (terminating) or gone (absent, or the name reused by a new object).
            if held is None or held["metadata"].get("uid") != uid or is_being_deleted(held):
                del self.deletes[(kind, name)]
        if now - self.recorded_at > self.timeout:
            self.creates.clear()
            self.deletes.clear()
        return not self.creates and not self.deletes


class OwnWrites:
    """Per Redis: the :class:`Expectations` of its passes, the pods they deleted, and whether
    its deletion was told."""

    def __init__(self, expectations_timeout: float) -> None:
        self._timeout = expectations_timeout
        self._expectations: dict[Key, Expectations] = {}
        self._deleted_by_us: dict[Key, set[str]] = {}
        self._deletion_told: dict[Key, str] = {}  # the uid of the Redis told

    def expectations(self, key: Key) -> Expectations:
        """The Redis' expectations (empty ones the first time)."""
        expectations = self._expectations.get(key)
        if expectations is None:
            expectations = self._expectations[key] = Expectations(self._timeout)
        return expectations

    def deleted_by_us(self, key: Key) -> frozenset[str]:
        """The pods of the Redis that its passes deleted and have not created again."""
        return frozenset(self._deleted_by_us.get(key, ()))

    def pod_deleted(self, key: Key, name: str) -> None:
        self._deleted_by_us.setdefault(key, set()).add(name)

    def pod_created(self, key: Key, name: str) -> None:
        self._deleted_by_us.get(key, set()).discard(name)

    def child_gone(self, key: Key, child: ChildKey) -> None:
        """A child of the Redis was deleted (its watch event)."""
        expectations = self._expectations.get(key)
        if expectations is not None:
            expectations.observe_gone(child)

    def deletion_told(self, key: Key, uid: str) -> bool:
        """Whether the deletion of the Redis with ``uid`` was told already."""
        return self._deletion_told.get(key) == uid

    def tell_deletion(self, key: Key, uid: str) -> None:
        self._deletion_told[key] = uid

    def forget(self, key: Key) -> None:
        """The Redis is gone: nothing of it is remembered."""
        self._expectations.pop(key, None)
        self._deleted_by_us.pop(key, None)
        self._deletion_told.pop(key, None)
