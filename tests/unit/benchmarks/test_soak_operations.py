"""The soak's choice of operations: replayable from the seed, and within a burst never two on
one target nor a disruption twice."""

from __future__ import annotations

import random

from soak_operations import (
    DISRUPTIONS,
    Burst,
    CreateRedis,
    DeletePod,
    DeleteRedis,
    Limits,
    Operation,
    ReplaceNamespace,
    Respecify,
    Scale,
    initial_operations,
    next_operation,
)
from soak_world import RedisRecord, World

LIMITS = Limits(max_redis=6, burst_ops=5, images=("redis:7-alpine", "redis:6.2-alpine"))


def apply(world: World, operation: Operation, now: float) -> None:
    """What the soak's driver records once an operation succeeded (uids made up)."""
    match operation:
        case CreateRedis(namespace, name, replicas, image, port):
            uid = f"uid-{name}"
            world.redis_created(RedisRecord(namespace, name, uid, replicas, image, port, now))
        case Scale(key, replicas):
            world.scaled(key, replicas)
        case Respecify(key, image, port):
            world.respecified(key, image, port)
        case DeleteRedis(key):
            world.redis_deleted(key, now)
        case DeletePod(key, pod):
            world.pod_deleted(key, pod)
        case ReplaceNamespace(old, new):
            world.namespace_deleted(old, now)
            world.namespace_created(new)


def run(seed: int, bursts: int) -> tuple[list[list[Operation]], World]:
    rng, world = random.Random(seed), World()
    for _ in range(2):
        world.namespace_created(world.allocate_namespace_name())
    done: list[list[Operation]] = [list(initial_operations(rng, world, LIMITS, 3))]
    for first in done[0]:
        apply(world, first, 0)
    for index in range(bursts):
        burst, operations = Burst(), []
        for _ in range(rng.randint(1, LIMITS.burst_ops)):
            operation = next_operation(rng, world, burst, LIMITS)
            if operation is None:
                break
            apply(world, operation, index)
            operations.append(operation)
        done.append(operations)
    return done, world


def target(operation: Operation) -> str | None:
    """The Redis an operation is about, if any."""
    match operation:
        case CreateRedis(namespace=namespace, name=name):
            return f"{namespace}/{name}"
        case Scale(key=key) | Respecify(key=key) | DeleteRedis(key=key) | DeletePod(key=key):
            return key
    return None


def test_a_seed_replays_the_same_operations() -> None:
    assert run(7, 50)[0] == run(7, 50)[0]
    assert run(7, 50)[0] != run(8, 50)[0]


def test_a_burst_touches_each_target_once_and_disrupts_once_per_kind() -> None:
    bursts, _ = run(11, 300)
    for operations in bursts[1:]:
        keys = [k for k in map(target, operations) if k is not None]
        assert len(keys) == len(set(keys)), operations
        kinds = [type(o) for o in operations if type(o) in DISRUPTIONS]
        assert len(kinds) == len(set(kinds)), operations
        replaced = {o.old for o in operations if isinstance(o, ReplaceNamespace)}
        assert not any(k.split("/")[0] in replaced for k in keys), operations


def test_every_kind_of_operation_happens_and_the_limits_hold() -> None:
    bursts, world = run(3, 300)
    kinds = {type(o) for operations in bursts for o in operations}
    assert len(kinds) == 8
    assert len(world.live_redis()) <= LIMITS.max_redis
    assert len(world.live_namespaces()) == 2
    assert all(0 <= r.replicas <= LIMITS.max_replicas for r in world.redis.values())
    names = [r.name for r in world.redis.values()]
    assert len(names) == len(set(names))  # a name means one object for the whole run


def test_a_scale_changes_the_count_and_is_expected_once() -> None:
    world = World()
    world.namespace_created("soak-1")
    world.redis_created(RedisRecord("soak-1", "r001", "u", 0, "redis:7-alpine", 6379, 0))
    assert not world.expected  # created with no replicas: nothing to announce
    world.scaled("soak-1/r001", 2)
    world.scaled("soak-1/r001", 2)  # no change, no Event
    world.scaled("soak-1/r001", 0)
    assert dict(world.expected) == {
        ("u", "Normal", "ScalingUp", "r001 replicas set to 2"): 1,
        ("u", "Warning", "ScalingDown", "r001 replicas set to 0"): 1,
    }
