"""The soak's operations and their seeded random choice, decided from the soak's record alone.

A burst is a few operations; within one, a Redis (and a namespace being replaced) is the
target of at most one, and each disruption (operator kill, apiserver outage, namespace
replacement) happens at most once. So after the quiet period that follows, every change has
been seen by the operator on its own, and the Events it should have recorded are known.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from soak_world import RedisRecord, World

from redis_operator.children import pod_name


@dataclass(frozen=True)
class CreateRedis:
    namespace: str
    name: str
    replicas: int
    image: str
    port: int

    def describe(self) -> str:
        return f"create {self.namespace}/{self.name} x{self.replicas}"


@dataclass(frozen=True)
class Scale:
    key: str
    replicas: int
    was: int

    def describe(self) -> str:
        return f"scale {self.key} {self.was}->{self.replicas}"


@dataclass(frozen=True)
class Respecify:
    """A new image or a new port: every pod is replaced."""

    key: str
    image: str
    port: int

    def describe(self) -> str:
        return f"respecify {self.key} {self.image} :{self.port}"


@dataclass(frozen=True)
class DeleteRedis:
    key: str

    def describe(self) -> str:
        return f"delete {self.key}"


@dataclass(frozen=True)
class DeletePod:
    key: str
    """The Redis whose pod it is."""
    pod: str

    def describe(self) -> str:
        return f"delete-pod {self.key.split('/')[0]}/{self.pod}"


@dataclass(frozen=True)
class KillOperator:
    """kill -9, then a new operator process after ``down`` seconds."""

    down: float

    def describe(self) -> str:
        return f"kill-operator (down {self.down:.1f}s)"


@dataclass(frozen=True)
class ApiserverOutage:
    seconds: float

    def describe(self) -> str:
        return f"apiserver-outage {self.seconds:.1f}s"


@dataclass(frozen=True)
class ReplaceNamespace:
    """Delete a whole namespace (its Redis with it) and make a new, empty one."""

    old: str
    new: str

    def describe(self) -> str:
        return f"replace-namespace {self.old} -> {self.new}"


Operation = (
    CreateRedis
    | Scale
    | Respecify
    | DeleteRedis
    | DeletePod
    | KillOperator
    | ApiserverOutage
    | ReplaceNamespace
)

#: Relative frequency of each operation (when it is possible).
WEIGHTS: dict[type[Operation], float] = {
    CreateRedis: 3,
    Scale: 4,
    Respecify: 2,
    DeleteRedis: 1,
    DeletePod: 2,
    KillOperator: 0.6,
    ApiserverOutage: 0.4,
    ReplaceNamespace: 0.4,
}


@dataclass(frozen=True)
class Limits:
    """The bounds of what the soak creates and how long it disrupts."""

    max_redis: int = 20
    max_replicas: int = 5
    burst_ops: int = 5
    images: tuple[str, ...] = ("redis:7-alpine",)
    ports: tuple[int, ...] = (6379, 7000, 8333)
    operator_down: tuple[float, float] = (0.5, 5.0)
    outage: tuple[float, float] = (2.0, 8.0)


@dataclass
class Burst:
    """What a burst has touched so far: nothing is the target of two of its operations."""

    redis: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    """Namespaces replaced in this burst (their Redis are off limits)."""
    used: set[type[Operation]] = field(default_factory=set)


DISRUPTIONS: frozenset[type[Operation]] = frozenset(
    {KillOperator, ApiserverOutage, ReplaceNamespace}
)


def _free_redis(world: World, burst: Burst) -> list[RedisRecord]:
    return [
        r
        for r in world.live_redis()
        if r.key not in burst.redis and r.namespace not in burst.namespaces
    ]


def _choose(
    kind: type[Operation], rng: random.Random, world: World, burst: Burst, limits: Limits
) -> Operation | None:
    """One operation of this kind on a random target, or None if it has none."""
    free = _free_redis(world, burst)
    if kind is CreateRedis:
        spaces = [n for n in world.live_namespaces() if n not in burst.namespaces]
        if len(world.live_redis()) >= limits.max_redis or not spaces:
            return None
        return CreateRedis(
            rng.choice(spaces),
            world.allocate_redis_name(),
            rng.randint(0, limits.max_replicas),
            rng.choice(limits.images),
            rng.choice(limits.ports),
        )
    if kind is Scale and free:
        record = rng.choice(free)
        counts = [n for n in range(limits.max_replicas + 1) if n != record.replicas]
        return Scale(record.key, rng.choice(counts), record.replicas)
    if kind is Respecify and free:
        record = rng.choice(free)
        images = [i for i in limits.images if i != record.image]
        if images and rng.random() < 0.5:
            return Respecify(record.key, rng.choice(images), record.port)
        ports = [p for p in limits.ports if p != record.port]
        return Respecify(record.key, record.image, rng.choice(ports)) if ports else None
    if kind is DeleteRedis and free:
        return DeleteRedis(rng.choice(free).key)
    if kind is DeletePod:
        with_pods = [r for r in free if r.replicas > 0]
        if with_pods:
            record = rng.choice(with_pods)
            return DeletePod(record.key, pod_name(record.name, rng.randrange(record.replicas)))
        return None
    if kind is KillOperator:
        return KillOperator(round(rng.uniform(*limits.operator_down), 1))
    if kind is ApiserverOutage:
        return ApiserverOutage(round(rng.uniform(*limits.outage), 1))
    if kind is ReplaceNamespace:
        untouched = [
            n
            for n in world.live_namespaces()
            if not any(key.startswith(f"{n}/") for key in burst.redis)
        ]
        if untouched:
            return ReplaceNamespace(rng.choice(untouched), world.allocate_namespace_name())
    return None


def next_operation(
    rng: random.Random, world: World, burst: Burst, limits: Limits
) -> Operation | None:
    """The burst's next operation, drawn by weight among those possible; None if none is.

    Marks its target in ``burst``; the caller applies its effect to ``world`` once done.
    """
    kinds = [k for k in WEIGHTS if not (k in DISRUPTIONS and k in burst.used)]
    while kinds:
        kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        operation = _choose(kind, rng, world, burst, limits)
        if operation is None:
            kinds.remove(kind)
            continue
        burst.used.add(kind)
        match operation:
            case Scale(key=key) | Respecify(key=key) | DeleteRedis(key=key) | DeletePod(key=key):
                burst.redis.add(key)
            case CreateRedis(namespace=namespace, name=name):
                burst.redis.add(f"{namespace}/{name}")
            case ReplaceNamespace(old=old, new=new):
                burst.namespaces |= {old, new}
        return operation
    return None


def initial_operations(
    rng: random.Random, world: World, limits: Limits, count: int
) -> list[CreateRedis]:
    """The first burst: ``count`` Redis spread over the namespaces."""
    spaces = world.live_namespaces()
    return [
        CreateRedis(
            spaces[i % len(spaces)],
            world.allocate_redis_name(),
            rng.randint(0, limits.max_replicas),
            rng.choice(limits.images),
            rng.choice(limits.ports),
        )
        for i in range(count)
    ]
