"""The soak's record of what it did: its namespaces and Redis, and the Events it expects.

The operations (``soak_operations``) are decided from this record alone, never from what the
cluster shows, so a seed replays the same sequence; the checker (``soak_checker``) compares
the cluster with it. Every Redis and namespace name is used once per run, so a name always
means one object.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from redis_operator.messages import EventKey, Language, render

SOAK_LABEL = "redis-operator.soak/namespace"
"""Label on every namespace the soak makes (value ``true``)."""

EventCount = tuple[str, str, str, str]
"""An Event the operator records, by the Redis' uid, type, reason and message."""


@dataclass
class RedisRecord:
    """One Redis the soak created, as its last write left it."""

    namespace: str
    name: str
    uid: str
    replicas: int
    image: str
    port: int
    created_at: float
    """Seconds into the soak."""
    deleted_at: float | None = None
    """When the soak deleted it, or its namespace."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class NamespaceRecord:
    name: str
    deleted_at: float | None = None


def _event(key: EventKey, **args: str | int) -> tuple[str, str, str]:
    rendered = render(key, Language.EN, **args)
    return rendered.type, rendered.reason, rendered.message


@dataclass
class World:
    """Everything the soak created and changed, and the Events that should show for it."""

    namespaces: dict[str, NamespaceRecord] = field(default_factory=dict)
    redis: dict[str, RedisRecord] = field(default_factory=dict)
    """By ``namespace/name``."""
    expected: Counter[EventCount] = field(default_factory=Counter)
    next_redis: int = 0
    next_namespace: int = 0

    def live_namespaces(self) -> list[str]:
        return sorted(n.name for n in self.namespaces.values() if n.deleted_at is None)

    def live_redis(self) -> list[RedisRecord]:
        return sorted((r for r in self.redis.values() if r.deleted_at is None), key=lambda r: r.key)

    def allocate_namespace_name(self) -> str:
        """A name never used before in this run."""
        self.next_namespace += 1
        return f"soak-{self.next_namespace}"

    def allocate_redis_name(self) -> str:
        """A name never used before in this run (in any namespace)."""
        self.next_redis += 1
        return f"r{self.next_redis:03d}"

    # -- what the operations did ----------------------------------------------------------

    def namespace_created(self, name: str) -> None:
        self.namespaces[name] = NamespaceRecord(name)

    def namespace_deleted(self, name: str, now: float) -> None:
        self.namespaces[name].deleted_at = now
        for record in self.redis.values():
            if record.namespace == name and record.deleted_at is None:
                record.deleted_at = now

    def redis_created(self, record: RedisRecord) -> None:
        """A new Redis: with replicas, the operator announces the scale-up from 0."""
        self.redis[record.key] = record
        if record.replicas > 0:
            self._expect(record, EventKey.SCALING_UP, replicas=record.replicas)

    def scaled(self, key: str, replicas: int) -> None:
        """spec.replicas changed: one ScalingUp or ScalingDown to the new count."""
        record = self.redis[key]
        if replicas == record.replicas:
            return
        event = EventKey.SCALING_UP if replicas > record.replicas else EventKey.SCALING_DOWN
        record.replicas = replicas
        self._expect(record, event, replicas=replicas)

    def respecified(self, key: str, image: str, port: int) -> None:
        record = self.redis[key]
        record.image, record.port = image, port

    def redis_deleted(self, key: str, now: float) -> None:
        self.redis[key].deleted_at = now

    def pod_deleted(self, key: str, pod: str) -> None:
        """A pod deleted by hand: the operator recreates it and says so once."""
        record = self.redis[key]
        self.expected[(record.uid, *_event(EventKey.POD_RECREATED, pod=pod))] += 1

    def _expect(self, record: RedisRecord, event: EventKey, *, replicas: int) -> None:
        self.expected[(record.uid, *_event(event, name=record.name, replicas=replicas))] += 1


#: The Events the checker counts: the ones the soak's own operations cause, each once.
CHECKED_REASONS = frozenset(
    {EventKey.SCALING_UP.value, EventKey.SCALING_DOWN.value, EventKey.POD_RECREATED.value}
)
