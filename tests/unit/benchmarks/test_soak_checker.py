"""The soak's checker on hand-made snapshots: each invariant catches what it names, and a
converged cluster passes them all."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from audit_log import Write
from soak_checker import (
    AT_REST,
    CONVERGED,
    DELETION,
    DUPLICATE,
    EVENTS,
    ORPHAN,
    OWNED_BY_DELETED,
    REFUSED,
    STATUS,
    Disturbances,
    EventLedger,
    Snapshot,
    at_rest_violations,
    node_deleted_successors,
    redis_of_write,
    refused_redis,
    refused_violations,
    state_violations,
)
from soak_world import RedisRecord, World

from redis_operator import api
from redis_operator.children import desired_pod, desired_service

NS = "soak-1"
IMAGE = "redis:7-alpine"


def world_with(*records: RedisRecord) -> World:
    world = World()
    world.namespace_created(NS)
    for record in records:
        world.redis_created(record)
    return world


def record(name: str = "r001", replicas: int = 3, uid: str = "uid-1") -> RedisRecord:
    return RedisRecord(NS, name, uid, replicas, IMAGE, 6379, created_at=0.0)


def objects(rec: RedisRecord) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The Redis, its pods and its Service as a converged operator leaves them."""
    spec = api.RedisSpec(replicas=rec.replicas, port=rec.port, image=rec.image)
    view = api.Redis(rec.name, NS, rec.uid, generation=1, deleting=False, spec=spec)
    redis = {
        "metadata": {"name": rec.name, "namespace": NS, "uid": rec.uid, "generation": 1},
        "spec": {"replicas": rec.replicas, "port": rec.port, "image": rec.image},
        "status": {
            "replicas": rec.replicas,
            "readyReplicas": rec.replicas,
            "observedGeneration": 1,
        },
    }
    pods = []
    for ordinal in range(rec.replicas):
        pod = desired_pod(view, ordinal)
        pod["metadata"]["uid"] = f"{rec.uid}-pod-{ordinal}"
        pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        pods.append(pod)
    service = desired_service(view)
    service["metadata"]["uid"] = f"{rec.uid}-svc"
    return redis, pods, service


def snapshot(*records: RedisRecord, events: list[dict[str, Any]] | None = None) -> Snapshot:
    redis, pods, services = [], [], []
    for rec in records:
        r, p, s = objects(rec)
        redis.append(r)
        pods += p
        services.append(s)
    return Snapshot(
        namespaces={NS: {"metadata": {"name": NS}, "status": {"phase": "Active"}}},
        redis=redis,
        pods=pods,
        services=services,
        events=events or [],
    )


def invariants(found: list[Any]) -> list[str]:
    return sorted(v.invariant for v in found)


def test_a_converged_cluster_passes() -> None:
    rec = record()
    assert state_violations(snapshot(rec), world_with(rec), now=10) == []


def test_a_missing_pod_and_a_stale_status_are_caught() -> None:
    rec = record()
    snap = snapshot(rec)
    pods = [p for p in snap.pods if p["metadata"]["name"] != "r001-2"]
    found = state_violations(
        Snapshot(snap.namespaces, snap.redis, pods, snap.services, []), world_with(rec), 10
    )
    # status says 3, 2 exist (twice: replicas and readyReplicas); the pods are not the spec's
    assert invariants(found) == [CONVERGED, STATUS, STATUS]


def test_status_must_be_for_the_current_generation() -> None:
    rec = record()
    snap = snapshot(rec)
    snap.redis[0]["metadata"]["generation"] = 2
    assert invariants(state_violations(snap, world_with(rec), 10)) == [STATUS]


def test_a_spec_the_soak_did_not_write_is_caught() -> None:
    rec = record()
    world = world_with(rec)
    world.scaled(rec.key, 4)
    found = state_violations(snapshot(record()), world, 10)
    assert CONVERGED in invariants(found)


def test_a_second_pod_claiming_an_ordinal_by_hostname_is_a_duplicate() -> None:
    rec = record()
    snap = snapshot(rec)
    stray = copy.deepcopy(snap.pods[0])
    stray["metadata"].update(name="r001-copy", uid="stray")
    found = state_violations(
        Snapshot(snap.namespaces, snap.redis, [*snap.pods, stray], snap.services, []),
        world_with(rec),
        10,
    )
    assert DUPLICATE in invariants(found)


def test_children_of_a_deleted_redis_and_orphans_are_caught() -> None:
    kept, gone = record(), record("r002", uid="uid-2")
    world = world_with(kept, gone)
    world.redis_deleted(gone.key, now=5)
    full = snapshot(kept, gone)
    others = [r for r in full.redis if r["metadata"]["uid"] != gone.uid]
    orphan = copy.deepcopy(full.pods[0])
    orphan["metadata"]["name"] = orphan["spec"]["hostname"] = "r009-0"
    orphan["metadata"]["labels"]["app.kubernetes.io/instance"] = "r009"
    orphan["metadata"]["ownerReferences"][0]["uid"] = "never-seen"
    snap = Snapshot(full.namespaces, others, [*full.pods, orphan], full.services, [])
    found = state_violations(snap, world, 10)
    assert invariants(found) == sorted([ORPHAN] + [OWNED_BY_DELETED] * 4)  # 3 pods, 1 Service


def test_a_redis_or_namespace_that_stays_after_its_deletion_is_caught() -> None:
    rec = record()
    world = world_with(rec)
    world.redis_deleted(rec.key, now=5)
    snap = snapshot(rec)
    snap.redis[0]["metadata"]["finalizers"] = ["example.com/hold"]
    found = state_violations(snap, world, 60)
    assert invariants(found) == [DELETION]
    assert "55s after its deletion" in found[0].detail

    world = world_with(rec)
    world.namespace_deleted(NS, now=5)
    found = state_violations(snapshot(rec), world, 60)
    assert invariants(found) == [DELETION]  # the namespace; its children are its business
    assert found[0].subject == f"namespace {NS}"


def test_a_deleted_namespace_that_is_gone_passes() -> None:
    rec = record()
    world = world_with(rec)
    world.namespace_deleted(NS, now=5)
    assert state_violations(Snapshot({}, [], [], [], []), world, 60) == []


def write(verb: str, resource: str, name: str, code: int, message: str = "") -> Write:
    return Write(verb, resource, NS, name, code, message, "2026-12-01T00:00:00.000000Z")


def test_any_write_at_rest_is_a_violation() -> None:
    assert at_rest_violations([], 15) == []
    found = at_rest_violations([write("patch", "redis/status", "r001", 200)], 15)
    assert invariants(found) == [AT_REST]


def test_a_create_refused_again_and_again_is_a_storm() -> None:
    terminating = 'pods "r001-0" is forbidden: ... because it is being terminated'
    refusals = [write("create", "pods", "r001-0", 403, terminating)] * 6
    found = refused_violations(refusals, max_total=30, max_per_object=5)
    assert invariants(found) == [REFUSED]
    assert "namespace terminating" in found[0].detail
    assert refused_violations(refusals[:5], max_total=30, max_per_object=5) == []
    many = [write("create", "pods", f"r{i:03d}-0", 403) for i in range(31)]
    assert invariants(refused_violations(many, max_total=30, max_per_object=5)) == [REFUSED]


def test_writes_are_attributed_to_their_redis() -> None:
    assert redis_of_write(write("create", "pods", "r001-2", 201)) == f"{NS}/r001"
    assert redis_of_write(write("patch", "redis/status", "r001", 200)) == f"{NS}/r001"
    assert redis_of_write(write("create", "events", "r001.18c0ffee", 201)) == f"{NS}/r001"
    assert redis_of_write(write("create", "services", "r001", 201)) == f"{NS}/r001"
    assert redis_of_write(write("update", "leases", "redis-operator", 200)) is None
    refused = [write("create", "pods", "r001-2", 403), write("create", "pods", "r002-0", 201)]
    assert refused_redis(refused) == frozenset({f"{NS}/r001"})


def event(
    rec: RedisRecord, reason: str, message: str, count: int = 1, type_: str = "Normal"
) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Redis", "uid": rec.uid, "name": rec.name},
        "source": {"component": "RedisOperator"},
        "type": type_,
        "reason": reason,
        "message": message,
        "count": count,
    }


def test_scale_events_add_up_across_event_objects() -> None:
    rec = record()
    world = world_with(rec)  # created with 3: ScalingUp to 3
    world.scaled(rec.key, 1)
    world.scaled(rec.key, 3)  # the same message again
    current = record(replicas=3)
    events = [
        event(rec, "ScalingUp", "r001 replicas set to 3", count=1),
        event(rec, "ScalingUp", "r001 replicas set to 3", count=1),  # after a restart
        event(rec, "ScalingDown", "r001 replicas set to 1", type_="Warning"),
    ]
    ledger = EventLedger()
    violations, tolerated = ledger.check(
        snapshot(current, events=events), world, Disturbances(), 10
    )
    assert (violations, tolerated) == ([], [])


def test_an_unexplained_repeat_is_a_violation_an_explained_one_is_told_once() -> None:
    rec = record()
    world = world_with(rec)
    events = [event(rec, "ScalingUp", "r001 replicas set to 3", count=2)]
    violations, _ = EventLedger().check(snapshot(rec, events=events), world, Disturbances(), 10)
    assert invariants(violations) == [EVENTS]
    assert "2 recorded, 1 expected" in violations[0].detail

    ledger = EventLedger()
    killed = Disturbances(operator_killed=True)
    violations, tolerated = ledger.check(snapshot(rec, events=events), world, killed, 10)
    assert violations == [] and len(tolerated) == 1
    assert ledger.check(snapshot(rec, events=events), world, Disturbances(), 20) == ([], [])


def test_a_refused_write_of_that_redis_explains_a_repeat() -> None:
    rec = record()
    events = [event(rec, "ScalingUp", "r001 replicas set to 3", count=2)]
    refused = Disturbances(refused_for=frozenset({rec.key}))
    violations, tolerated = EventLedger().check(
        snapshot(rec, events=events), world_with(rec), refused, 10
    )
    assert violations == [] and len(tolerated) == 1


def at(w: Write, time: str, agent: str = "") -> Write:
    return replace(w, time=f"2026-12-01T11:26:13.{time}Z", agent=agent)


def test_a_successor_kwok_deleted_by_name_explains_a_recreate() -> None:
    kwok = "kwok/v0.8.0 (linux/amd64)"
    writes = [
        at(write("delete", "pods", "r001-4", 200), "825000", "operator"),
        at(write("delete", "pods", "r001-4", 200), "835000", kwok),  # finishing the delete
        at(write("create", "pods", "r001-4", 201), "856100", "operator"),
        at(write("delete", "pods", "r001-4", 200), "856900", kwok),  # again: the successor
        at(write("create", "pods", "r001-4", 201), "891000", "operator"),
        at(write("create", "pods", "r002-0", 201), "900000", "operator"),
        at(write("delete", "pods", "r002-0", 200), "950000", ""),  # the soak's own delete
        at(write("delete", "pods", "r002-0", 200), "960000", kwok),
        at(write("create", "pods", "r003-0", 201), "970000", "operator"),
        at(write("deletecollection", "pods", "", 200), "980000", "namespace-controller"),
        at(write("delete", "pods", "r003-0", 200), "990000", kwok),
    ]
    assert node_deleted_successors(writes) == frozenset({f"{NS}/r001"})
    assert node_deleted_successors(writes[:3] + writes[4:]) == frozenset()

    rec = record()
    events = [
        event(rec, "ScalingUp", "r001 replicas set to 3"),
        event(rec, "PodRecreated", "Pod r001-4 was deleted; recreated it"),
    ]
    explained = Disturbances(node_deleted_for=frozenset({rec.key}))
    violations, tolerated = EventLedger().check(
        snapshot(rec, events=events), world_with(rec), explained, 10
    )
    assert violations == [] and "kwok deleted" in tolerated[0].detail


def test_a_missing_event_is_a_violation_unless_the_spam_filter_could_have_taken_it() -> None:
    rec = record()
    world = world_with(rec)
    violations, _ = EventLedger().check(snapshot(rec), world, Disturbances(), 10)
    assert invariants(violations) == [EVENTS]
    assert "0 recorded, 1 expected" in violations[0].detail

    busy = [event(rec, "SuccessfulCreate", "Created pod: r001-0", count=25)]
    violations, tolerated = EventLedger().check(
        snapshot(rec, events=busy), world, Disturbances(), 10
    )
    assert violations == [] and "spam filter" in tolerated[0].detail
    # Warning Events have a bucket of their own: 25 Normal ones do not explain a lost Warning.
    world.scaled(rec.key, 1)
    violations, _ = EventLedger().check(
        snapshot(
            record(replicas=1), events=[*busy, event(rec, "ScalingUp", "r001 replicas set to 3")]
        ),
        world,
        Disturbances(),
        10,
    )
    assert [v.detail.split(":")[0] for v in violations] == ["ScalingDown 'r001 replicas set to 1'"]


def test_a_kill_explains_a_lost_event() -> None:
    rec = record()
    violations, tolerated = EventLedger().check(
        snapshot(rec), world_with(rec), Disturbances(operator_killed=True), 10
    )
    assert violations == [] and len(tolerated) == 1


def test_a_combined_event_breaks_the_premise_and_is_reported() -> None:
    rec = record()
    events = [
        event(rec, "ScalingUp", "r001 replicas set to 3"),
        event(rec, "ScalingUp", "(combined from similar events): r001 replicas set to 5"),
    ]
    violations, _ = EventLedger().check(
        snapshot(rec, events=events), world_with(rec), Disturbances(), 10
    )
    assert invariants(violations) == [EVENTS]


def test_hand_deleted_pods_are_expected_to_be_told_once() -> None:
    rec = record()
    world = world_with(rec)
    world.pod_deleted(rec.key, "r001-1")
    events = [
        event(rec, "ScalingUp", "r001 replicas set to 3"),
        event(rec, "PodRecreated", "Pod r001-1 was deleted; recreated it", type_="Warning"),
    ]
    assert EventLedger().check(snapshot(rec, events=events), world, Disturbances(), 10) == (
        [],
        [],
    )


def test_events_of_a_deleted_namespace_and_other_sources_are_not_counted() -> None:
    rec = record()
    world = world_with(rec)
    other = event(rec, "ScalingUp", "r001 replicas set to 3")
    other["source"] = {"component": "someone-else"}
    violations, _ = EventLedger().check(snapshot(rec, events=[other]), world, Disturbances(), 10)
    assert invariants(violations) == [EVENTS]  # ours is still missing
    world.namespace_deleted(NS, now=5)
    assert EventLedger().check(Snapshot({}, [], [], [], []), world, Disturbances(), 10) == (
        [],
        [],
    )
