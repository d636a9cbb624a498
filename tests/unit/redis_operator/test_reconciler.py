"""The reconciler on the fake apiserver: the legacy finalizer, deletion left to the garbage
collector, terminating namespaces, write order, the store lagging the cluster (404/409,
expectations), deleted_by_us, status only on change, the error boundary, workers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

from redis_operator.api import LEGACY_FINALIZER, ChildKind
from redis_operator.auth import password_digest, password_from_secret
from redis_operator.children import AUTH_DIGEST_ANNOTATION, AUTH_SECRET_LABEL
from redis_operator.controller.expectations import Expectations
from redis_operator.controller.store import Store
from redis_operator.kube.client import NAMESPACE, REDIS, SECRET, Obj
from redis_operator.kube.errors import ApiError, KubeError, TransportError
from redis_operator.kube.fake import FakeKubeApi, Verb, Write
from redis_operator.metrics import Outcome
from redis_operator.planning import REPLICA_FAILURE
from redis_operator.settings import ControllerSettings
from tests.unit.redis_operator.support import (
    NAME,
    NS,
    Controller,
    collect_garbage,
    finish_deletion,
    make_controller,
    make_ready,
    redis_body,
)

KEY = (NS, NAME)
POD = ChildKind.POD
SERVICE = ChildKind.SERVICE


def calls(writes: list[Write]) -> list[tuple[str, str, str]]:
    return [(w.verb.value, str(w.kind), w.name) for w in writes]


def reasons(c: Controller) -> list[str]:
    return [text.split()[1] for text in c.recorder.events]


def conditions(c: Controller) -> dict[str, dict[str, Any]]:
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None
    return {cond["type"]: cond for cond in (redis.get("status") or {}).get("conditions", [])}


def passes(c: Controller) -> dict[str, float]:
    return {o.value: c.metric("redis_operator_reconcile_total", outcome=o) for o in Outcome}


def create_redis(c: Controller, finalizers: list[str] | None = None, **spec: Any) -> None:
    body = redis_body(**spec)
    if finalizers is not None:
        body["metadata"]["finalizers"] = finalizers  # as earlier versions left it
    c.fake.create_object(REDIS, NS, body)
    c.deliver()


def edit_spec(c: Controller, **spec: Any) -> None:
    c.fake.patch_object(REDIS, NS, NAME, {"spec": spec})
    c.deliver()


def settle(c: Controller) -> None:
    """The kubelet finishes what it has to do: terminating pods go, the others become Ready."""
    c.deliver()
    for pod in c.fake.objects(POD, NS):
        if pod["metadata"].get("deletionTimestamp"):
            finish_deletion(c.fake, pod["metadata"]["name"])
        else:
            make_ready(c.fake, pod["metadata"]["name"])
    c.deliver()


async def converged(replicas: int = 2, settings: ControllerSettings | None = None) -> Controller:
    """A controller whose Redis has converged: the next pass writes nothing."""
    c = make_controller(settings)
    create_redis(c, replicas=replicas)
    for _ in range(5):
        writes = await c.reconcile()
        settle(c)
        if not writes:
            c.recorder.clear()
            c.queue.delayed.clear()
            return c
    raise AssertionError("did not converge")


def api_error(status: int, reason: str = "") -> ApiError:
    return ApiError(status, reason or str(status), f"injected {status}")


# -- no finalizer; the legacy one released ------------------------------------------------------


async def test_first_pass_creates_and_writes_status_and_adds_no_finalizer() -> None:
    c = make_controller()
    create_redis(c, replicas=2)
    writes = await c.reconcile()
    assert calls(writes) == [
        ("create", SECRET, f"{NAME}-auth"),
        ("create", POD, f"{NAME}-0"),
        ("create", POD, f"{NAME}-1"),
        ("create", SERVICE, NAME),
        ("patch_status", REDIS, NAME),
    ]
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None and "finalizers" not in redis["metadata"]
    assert reasons(c) == ["ScalingUp", *["SuccessfulCreate"] * 4]


async def test_the_legacy_finalizer_is_released_once_then_nothing_is_written() -> None:
    c = make_controller()
    create_redis(c, finalizers=["example.com/keep", LEGACY_FINALIZER], replicas=1)
    version = c.fake.get(REDIS, NS, NAME)["metadata"]["resourceVersion"]  # type: ignore[index]
    writes = await c.reconcile()
    assert calls(writes)[0] == ("patch", REDIS, NAME)
    assert writes[0].body == {
        "metadata": {"finalizers": ["example.com/keep"], "resourceVersion": version}
    }
    assert ("patch", REDIS, NAME) not in calls(writes[1:])  # the pass went on as usual
    for _ in range(3):
        settle(c)
        await c.reconcile()
    settle(c)
    assert await c.reconcile() == []
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None and redis["metadata"]["finalizers"] == ["example.com/keep"]
    patches = [w for w in c.fake.writes if (w.verb, w.kind) == (Verb.PATCH, REDIS)]
    assert len(patches) == 1


async def test_a_redis_held_by_the_legacy_finalizer_is_released_and_goes() -> None:
    c = await converged(replicas=2)
    c.fake.patch_object(REDIS, NS, NAME, {"metadata": {"finalizers": [LEGACY_FINALIZER]}})
    c.fake.delete_object(REDIS, NS, NAME)  # an earlier version's object, deleted: held
    c.deliver()
    writes = await c.reconcile()
    assert calls(writes) == [("patch", REDIS, NAME)]
    assert writes[0].body["metadata"]["finalizers"] == []
    assert c.fake.get(REDIS, NS, NAME) is None  # its last finalizer gone, it went
    assert reasons(c) == ["Deleting"]
    collect_garbage(c.fake)  # the owner is gone: its children go
    settle(c)
    assert await c.reconcile() == []
    assert c.fake.objects(POD, NS) == [] and c.fake.get(SERVICE, NS, NAME) is None


# -- deletion is the garbage collector's --------------------------------------------------------


async def test_pods_the_garbage_collector_removed_before_the_deletion_was_seen_still_count() -> (
    None
):
    """Under load the GC's pod deletions can reach the store before the Redis' own change."""
    c = await converged(replicas=2)
    c.fake.delete_object(REDIS, NS, NAME, propagation="Foreground")
    for pod in c.fake.objects(POD, NS):
        c.fake.delete_object(POD, NS, pod["metadata"]["name"], grace_period=0)
    c.deliver()
    assert c.store.candidate_pods(NS, NAME) == []
    assert await c.reconcile() == []
    assert c.recorder.events == [f"Normal Deleting Deleting {NAME} and its 2 pods"]


async def test_a_redis_deleted_in_the_foreground_gets_one_deleting_event_and_no_write() -> None:
    c = await converged(replicas=2)
    acted = passes(c)["acted"]
    c.fake.delete_object(REDIS, NS, NAME, propagation="Foreground")
    c.deliver()
    assert await c.reconcile() == []
    assert c.recorder.events == [f"Normal Deleting Deleting {NAME} and its 2 pods"]
    assert passes(c)["acted"] == acted + 1  # an Event is an act
    # The garbage collector deletes the children, the pods terminate: the pods' events queue
    # passes, which neither recreate nor tell anything.
    while collect_garbage(c.fake):
        c.deliver()
        assert await c.reconcile() == []
        settle(c)
    c.deliver()
    assert c.fake.get(REDIS, NS, NAME) is None
    assert c.fake.objects(POD, NS) == [] and c.fake.get(SERVICE, NS, NAME) is None
    assert await c.reconcile() == []
    assert len(c.recorder.events) == 1


async def test_a_redis_deleted_in_the_background_leaves_its_children_to_the_gc() -> None:
    c = await converged(replicas=1)
    c.fake.create_object(POD, NS, {"metadata": {"name": f"{NAME}-3"}})
    c.fake.delete_object(REDIS, NS, NAME)  # gone at once: no finalizer holds it
    c.deliver()
    assert c.fake.get(REDIS, NS, NAME) is None
    assert await c.reconcile() == []
    collect_garbage(c.fake)
    settle(c)
    assert await c.reconcile() == []
    assert c.recorder.events == []
    assert [p["metadata"]["name"] for p in c.fake.objects(POD, NS)] == [f"{NAME}-3"]
    assert c.fake.get(SERVICE, NS, NAME) is None


async def test_a_redis_deleted_as_an_orphaner_tells_nothing() -> None:
    c = await converged(replicas=1)
    c.fake.delete_object(REDIS, NS, NAME, propagation="Orphan")
    c.deliver()
    assert await c.reconcile() == []
    collect_garbage(c.fake)  # the children lose their owner reference; the Redis goes
    c.deliver()
    assert c.fake.get(REDIS, NS, NAME) is None
    assert await c.reconcile() == []
    assert c.recorder.events == []
    (pod,) = c.fake.objects(POD, NS)
    assert "ownerReferences" not in pod["metadata"]


# -- a namespace being deleted ------------------------------------------------------------------


async def converged_pair() -> Controller:
    """Two converged Redis, ``NAME`` and ``other``, in the namespace."""
    c = await converged(replicas=2)
    create_redis(c, name="other", replicas=2)
    for _ in range(4):
        await c.reconcile("other")
        settle(c)
    assert await c.reconcile("other") == []
    c.recorder.clear()
    return c


def namespace_controller_deletes_the_pods(c: Controller) -> None:
    for pod in c.fake.objects(POD, NS):
        c.fake.delete_object(POD, NS, pod["metadata"]["name"], grace_period=0)


async def test_a_create_refused_as_terminating_stops_creates_status_and_events_there() -> None:
    c = await converged_pair()
    status = c.fake.get(REDIS, NS, NAME)["status"]  # type: ignore[index]
    namespace_controller_deletes_the_pods(c)
    c.deliver()
    c.fake.terminate_namespace(NS)  # its watch event not delivered yet: the refusal tells
    writes = await c.reconcile()
    assert writes and {(w.verb, w.kind) for w in writes} == {(Verb.CREATE, POD)}
    assert all(isinstance(w.error, ApiError) and w.error.status == 403 for w in writes)
    assert c.recorder.events == []  # no FailedCreate, no PodRecreated
    assert c.fake.get(REDIS, NS, NAME)["status"] == status  # type: ignore[index]
    assert c.metric("redis_operator_child_write_failures_total", kind="pod", verb="create") == 0
    assert passes(c)["failed"] == 0 and c.queue.failures(KEY) == 0
    assert (KEY, c.settings.terminal_error_requeue_seconds) not in c.queue.delayed
    # The other Redis of the namespace tries nothing: the namespace is known to be going.
    assert await c.reconcile("other") == []
    c.deliver()
    assert await c.reconcile() == [] and await c.reconcile("other") == []
    assert c.recorder.events == []


async def test_a_namespace_seen_terminating_gets_no_write_at_all() -> None:
    c = await converged_pair()
    c.fake.terminate_namespace(NS)
    namespace_controller_deletes_the_pods(c)
    c.fake.delete_object(SERVICE, NS, "other")
    c.deliver()
    assert await c.reconcile() == [] and await c.reconcile("other") == []
    assert c.recorder.events == []


async def test_the_legacy_finalizer_is_released_in_a_terminating_namespace_too() -> None:
    c = await converged(replicas=1)
    c.fake.patch_object(REDIS, NS, NAME, {"metadata": {"finalizers": [LEGACY_FINALIZER]}})
    c.fake.terminate_namespace(NS)
    namespace_controller_deletes_the_pods(c)
    c.fake.delete_object(REDIS, NS, NAME)
    c.deliver()
    assert calls(await c.reconcile()) == [("patch", REDIS, NAME)]  # else the namespace hangs
    assert c.fake.get(REDIS, NS, NAME) is None
    assert c.recorder.events == []


async def test_a_namespace_created_again_under_the_same_name_is_served() -> None:
    c = await converged(replicas=1)
    namespace_controller_deletes_the_pods(c)
    c.deliver()
    c.fake.terminate_namespace(NS)
    await c.reconcile()  # refused: the namespace is marked
    c.fake.remove_namespace(NS)
    c.clock.advance(5)
    c.fake.create_object(NAMESPACE, "", {"metadata": {"name": NS}})
    create_redis(c, replicas=1)  # delivers the removal, the new namespace and the new Redis
    writes = await c.reconcile()
    assert ("create", POD, f"{NAME}-0") in calls(writes)
    assert all(w.error is None for w in writes)


# -- the store behind the cluster: 404 and 409 --------------------------------------------------


async def test_delete_of_a_pod_already_gone_requeues_soon_without_a_failed_event() -> None:
    c = await converged(replicas=2)
    edit_spec(c, replicas=1)
    c.fake.delete_object(POD, NS, f"{NAME}-1", grace_period=0)  # gone; the watch lags
    writes = await c.reconcile()
    assert [(w.verb, w.name, getattr(w.error, "status", None)) for w in writes[:1]] == [
        (Verb.DELETE, f"{NAME}-1", 404)
    ]
    assert "FailedDelete" not in reasons(c)
    assert REPLICA_FAILURE not in conditions(c)
    assert (KEY, c.settings.requeue_soon_seconds) in c.queue.delayed
    assert c.queue.failures(KEY) == 0


async def test_delete_never_hits_a_successor_of_the_pod_it_saw() -> None:
    c = await converged(replicas=2)
    edit_spec(c, replicas=1)
    c.fake.delete_object(POD, NS, f"{NAME}-1", grace_period=0)
    c.fake.create_object(POD, NS, {"metadata": {"name": f"{NAME}-1"}})  # someone else's now
    writes = await c.reconcile()
    assert writes[0].verb is Verb.DELETE and isinstance(writes[0].error, ApiError)
    assert writes[0].error.status == 409
    assert c.fake.get(POD, NS, f"{NAME}-1") is not None
    assert "FailedDelete" not in reasons(c)
    assert (KEY, c.settings.requeue_soon_seconds) in c.queue.delayed


async def test_create_of_a_name_that_exists_requeues_soon_without_a_failed_event() -> None:
    c = await converged(replicas=1)
    edit_spec(c, replicas=2)
    c.fake.create_object(POD, NS, {"metadata": {"name": f"{NAME}-1"}})  # not seen yet
    writes = await c.reconcile()
    failed = [w for w in writes if w.error is not None]
    assert [(w.verb, w.name) for w in failed] == [(Verb.CREATE, f"{NAME}-1")]
    assert isinstance(failed[0].error, ApiError) and failed[0].error.reason == "AlreadyExists"
    assert "FailedCreate" not in reasons(c)
    assert (KEY, c.settings.requeue_soon_seconds) in c.queue.delayed
    # A status from a store that is behind would acknowledge the scale-up though -1 was never
    # created: the pass writes none.
    assert Verb.PATCH_STATUS not in [w.verb for w in writes]
    assert c.fake.get(REDIS, NS, NAME)["status"]["targetReplicas"] == 1


# -- expectations --------------------------------------------------------------------------------


async def test_a_pass_waits_until_the_watch_shows_its_deletes() -> None:
    c = await converged(replicas=2)
    edit_spec(c, replicas=1)
    assert calls(await c.reconcile())[0] == ("delete", POD, f"{NAME}-1")
    # The watch has not shown the deletion yet: a pass now would plan from a stale store.
    assert await c.reconcile() == []
    assert passes(c)["waiting"] == 1
    assert (KEY, c.settings.expectations_recheck_seconds) in c.queue.delayed
    c.deliver()
    # Seen terminating: no longer waiting; the status now counts one replica.
    assert calls(await c.reconcile()) == [("patch_status", REDIS, NAME)]
    assert passes(c)["waiting"] == 1


async def test_expectations_time_out() -> None:
    c = await converged(replicas=2)
    edit_spec(c, replicas=1)
    await c.reconcile()
    assert await c.reconcile() == []  # waiting for the watch
    c.clock.advance(c.settings.expectations_timeout_seconds + 1)  # the event was lost
    writes = await c.reconcile()
    assert calls(writes)[0] == ("delete", POD, f"{NAME}-1")  # planned again, on the store


async def test_a_pod_created_and_gone_before_the_next_pass_is_created_again_at_once() -> None:
    c = make_controller()
    create_redis(c, replicas=2)
    await c.reconcile()
    c.fake.delete_object(POD, NS, f"{NAME}-0", grace_period=0)  # gone before the next pass
    c.deliver()
    writes = await c.reconcile()
    assert ("create", POD, f"{NAME}-0") in calls(writes)
    assert passes(c)["waiting"] == 0


def test_expectations_wait_for_creates_and_deletes_to_show() -> None:
    store = Store()
    pod = {"metadata": {"name": "p", "namespace": NS, "uid": "u1", "resourceVersion": "1"}}
    expectations = Expectations(timeout=300)
    expectations.record(0.0, {(POD, "p")}, {})
    assert not expectations.satisfied(store, NS, 1.0)
    store.pods.upsert(pod)
    assert expectations.satisfied(store, NS, 1.0)

    expectations.record(2.0, set(), {(POD, "p"): "u1"})
    assert not expectations.satisfied(store, NS, 3.0)
    terminating = {"deletionTimestamp": "t", "resourceVersion": "2"}
    store.pods.upsert(pod | {"metadata": pod["metadata"] | terminating})
    assert expectations.satisfied(store, NS, 3.0)

    expectations.record(4.0, {(POD, "q")}, {})
    assert not expectations.satisfied(store, NS, 304.0)
    assert expectations.satisfied(store, NS, 304.5)  # dropped after the timeout

    expectations.record(305.0, {(POD, "r")}, {(POD, "s"): "u2"})
    expectations.observe_gone((POD, "r"))  # its DELETED event: the create was seen, and more
    expectations.observe_gone((POD, "s"))
    assert expectations.satisfied(store, NS, 306.0)


# -- deleted_by_us ------------------------------------------------------------------------------


async def test_a_pod_we_deleted_is_not_reported_as_recreated() -> None:
    c = await converged(replicas=3)
    edit_spec(c, replicas=2)
    await c.reconcile()
    settle(c)
    await c.reconcile()
    edit_spec(c, replicas=3)
    writes = await c.reconcile()
    assert ("create", POD, f"{NAME}-2") in calls(writes)
    assert "PodRecreated" not in reasons(c)
    assert c.metric("redis_operator_pods_recreated_total") == 0


async def test_a_pod_someone_else_deleted_is_reported_as_recreated() -> None:
    c = await converged(replicas=3)
    c.fake.delete_object(POD, NS, f"{NAME}-1")
    settle(c)
    writes = await c.reconcile()
    assert ("create", POD, f"{NAME}-1") in calls(writes)
    assert "PodRecreated" in reasons(c)
    assert c.metric("redis_operator_pods_recreated_total") == 1


# -- write ordering and status -----------------------------------------------------------------


class CountingFake(FakeKubeApi):
    """Counts the creates in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().create(kind, namespace, body)
        finally:
            self.in_flight -= 1


async def test_pods_and_service_are_created_together() -> None:
    fake = CountingFake()
    c = make_controller(fake=fake)
    create_redis(c, replicas=3)
    await c.reconcile()
    assert fake.most_in_flight == 4  # three pods and the Service in one round trip


async def test_removals_come_before_creations() -> None:
    c = await converged(replicas=2)
    c.fake.edit(POD, NS, f"{NAME}-0", lambda pod: pod.update(status={"phase": "Failed"}))
    c.fake.delete_object(POD, NS, f"{NAME}-1", grace_period=0)
    c.deliver()
    writes = await c.reconcile()
    children = [(verb, name) for verb, kind, name in calls(writes) if kind == POD]
    assert children == [("delete", f"{NAME}-0"), ("create", f"{NAME}-1")]


async def test_a_pass_tells_its_events_as_soon_as_a_write_is_answered() -> None:
    """A pass that dies after its first write has told the scale-up and what it created."""
    c = make_controller(ControllerSettings(max_concurrent_writes=1))
    create_redis(c, replicas=3)
    c.fake.fail(Verb.CREATE, POD, RuntimeError("the process dies"), name=f"{NAME}-1")
    with pytest.raises(RuntimeError):
        await c.reconcile()
    assert c.recorder.events[:3] == [
        f"Normal ScalingUp {NAME} replicas set to 3",
        f"Normal SuccessfulCreate Created secret: {NAME}-auth",
        f"Normal SuccessfulCreate Created pod: {NAME}-0",
    ]


async def test_a_pass_with_nothing_to_do_writes_nothing() -> None:
    c = await converged(replicas=2)
    for _ in range(3):
        assert await c.reconcile() == []
        c.deliver()
    assert c.recorder.events == []
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None
    assert redis["status"]["readyReplicas"] == 2
    assert passes(c)["noop"] >= 3


async def test_status_is_written_only_when_it_changes() -> None:
    c = await converged(replicas=2)
    c.fake.edit(POD, NS, f"{NAME}-0", lambda pod: pod.update(status={"phase": "Running"}))
    c.deliver()
    assert calls(await c.reconcile()) == [("patch_status", REDIS, NAME)]
    c.deliver()
    assert await c.reconcile() == []


# -- requeues ------------------------------------------------------------------------------------

TIMINGS = ControllerSettings(requeue_wait_seconds=0.25, requeue_conflict_seconds=7.0)


async def test_a_pass_waiting_for_a_replacement_looks_again_after_the_wait_setting() -> None:
    c = await converged(replicas=1, settings=TIMINGS)
    edit_spec(c, image="redis:6-alpine")
    assert calls(await c.reconcile())[0] == ("delete", POD, f"{NAME}-0")
    assert c.queue.delayed == [(KEY, 0.25)]


async def test_a_pass_with_a_name_conflict_looks_again_after_the_conflict_setting() -> None:
    c = make_controller(TIMINGS)
    c.fake.create_object(POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    create_redis(c, replicas=1)
    await c.reconcile()
    assert "NameConflict" in reasons(c)
    assert c.queue.delayed == [(KEY, 7.0)]


# -- a malformed spec -----------------------------------------------------------------------------


async def test_a_malformed_spec_ends_the_pass_as_a_bug_does_after_the_legacy_release() -> None:
    c = make_controller()
    body = redis_body() | {"spec": {"replicas": "2"}}
    body["metadata"]["finalizers"] = [LEGACY_FINALIZER]
    c.fake.create_object(REDIS, NS, body)
    c.deliver()
    before = len(c.fake.writes)
    with pytest.raises(ValueError, match=r"spec\.replicas"):
        await c.reconcile()  # the worker logs it and backs off
    assert calls(c.fake.writes[before:]) == [("patch", REDIS, NAME)]  # the release only
    assert c.metric("redis_operator_reconcile_errors_total", reason="unexpected") == 1

    c.deliver()
    c.fake.delete_object(REDIS, NS, NAME)  # nothing holds it
    assert c.fake.get(REDIS, NS, NAME) is None


# -- the error boundary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [api_error(500), api_error(503), api_error(429), TransportError("OSError: reset")]
)
async def test_retryable_child_write_failure_is_told_and_backs_off(error: KubeError) -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    c.fake.fail(Verb.CREATE, SERVICE, error)
    await c.reconcile()
    assert "FailedCreate" in reasons(c)
    assert conditions(c)[REPLICA_FAILURE]["reason"] == "FailedCreate"
    assert c.queue.failures(KEY) == 1  # backing off
    assert (KEY, c.settings.terminal_error_requeue_seconds) not in c.queue.delayed


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_terminal_child_write_failure_is_told_at_once_and_retried_late(status: int) -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    c.fake.fail(Verb.CREATE, POD, api_error(status))
    await c.reconcile()
    assert [r for r in reasons(c) if r.startswith("Failed")] == ["FailedCreate"]
    assert f"{status} {status}: injected" in conditions(c)[REPLICA_FAILURE]["message"]
    assert c.queue.failures(KEY) == 0  # not at the backoff's pace
    assert (KEY, c.settings.terminal_error_requeue_seconds) in c.queue.delayed
    assert passes(c)["failed"] == 1
    assert c.metric("redis_operator_child_write_failures_total", kind="pod", verb="create") == 1


async def test_terminal_failure_of_a_delete_and_a_service_patch() -> None:
    c = await converged(replicas=2)
    c.fake.patch_object(SERVICE, NS, NAME, {"spec": {"ports": []}})
    edit_spec(c, replicas=1)
    c.fake.fail(Verb.DELETE, POD, api_error(403, "Forbidden"))
    c.fake.fail(Verb.PATCH, SERVICE, api_error(422, "Invalid"))
    await c.reconcile()
    assert sorted(r for r in reasons(c) if r.startswith("Failed")) == [
        "FailedDelete",
        "FailedUpdate",
    ]
    assert REPLICA_FAILURE in conditions(c)
    assert (KEY, c.settings.terminal_error_requeue_seconds) in c.queue.delayed
    assert c.queue.failures(KEY) == 0


async def test_one_retryable_failure_among_terminal_ones_backs_off() -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    c.fake.fail(Verb.CREATE, POD, api_error(403))
    c.fake.fail(Verb.CREATE, SERVICE, api_error(503))
    await c.reconcile()
    assert c.queue.failures(KEY) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (api_error(409, "Conflict"), "api_error"),
        (api_error(500), "api_error"),
        (TransportError("TimeoutError: "), "transport_error"),
    ],
)
async def test_retryable_status_write_failure_backs_off(
    error: KubeError, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    c.fake.fail(Verb.PATCH_STATUS, REDIS, error)
    with caplog.at_level(logging.WARNING):
        await c.reconcile()
    assert c.metric("redis_operator_reconcile_errors_total", reason=reason) == 1
    assert passes(c)["error"] == 1
    assert c.queue.failures(KEY) == 1
    assert [r.levelno for r in caplog.records if "retrying" in r.getMessage()] == [logging.WARNING]


@pytest.mark.parametrize(("verb", "status"), [(Verb.PATCH_STATUS, 403), (Verb.PATCH, 422)])
async def test_terminal_status_or_finalizer_failure_is_an_error_retried_late(
    verb: Verb, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    c = make_controller()
    create_redis(c, finalizers=[LEGACY_FINALIZER], replicas=1)
    c.fake.fail(verb, REDIS, api_error(status))
    with caplog.at_level(logging.WARNING):
        await c.reconcile()
    assert c.metric("redis_operator_reconcile_errors_total", reason="api_error") == 1
    assert c.queue.failures(KEY) == 0
    assert (KEY, c.settings.terminal_error_requeue_seconds) in c.queue.delayed
    (record,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert record.levelno == logging.ERROR and f"{status} {status}: injected" in record.getMessage()


async def test_a_finalizer_patch_on_a_changed_redis_conflicts_and_backs_off() -> None:
    c = make_controller()
    create_redis(c, finalizers=[LEGACY_FINALIZER], replicas=1)
    c.fake.patch_object(REDIS, NS, NAME, {"metadata": {"labels": {"a": "b"}}})  # not seen yet
    writes = await c.reconcile()
    assert [(w.verb, getattr(w.error, "status", None)) for w in writes] == [(Verb.PATCH, 409)]
    assert c.queue.failures(KEY) == 1
    c.deliver()
    assert calls(await c.reconcile())[0] == ("patch", REDIS, NAME)


# -- workers ------------------------------------------------------------------------------------


async def test_a_crashing_pass_does_not_kill_its_worker(caplog: pytest.LogCaptureFixture) -> None:
    c = make_controller(ControllerSettings(workers=1, backoff_base_seconds=60))
    c.fake.create_object(REDIS, NS, redis_body(name="broken", replicas=1))
    c.fake.fail(Verb.CREATE, POD, RuntimeError("a bug"), name="broken-0")
    c.deliver()  # queues "broken"
    workers = asyncio.create_task(c.reconciler.run_workers())
    try:
        for _ in range(100):
            await asyncio.sleep(0)
        assert "reconcile of ns/broken crashed" in caplog.text
        assert c.queue.failures((NS, "broken")) == 1
        create_redis(c, replicas=1)  # the same worker takes the next key
        for _ in range(100):
            await asyncio.sleep(0)
            if c.fake.get(POD, NS, f"{NAME}-0") is not None:
                break
        assert c.fake.get(POD, NS, f"{NAME}-0") is not None
        assert c.metric("redis_operator_reconcile_errors_total", reason="unexpected") == 1
    finally:
        c.queue.shutdown()
        await asyncio.wait_for(workers, timeout=5)


# -- what the metrics count on a pass -----------------------------------------------------------


async def test_passes_and_children_are_counted() -> None:
    c = make_controller()
    create_redis(c, replicas=2)
    await c.reconcile()
    assert passes(c)["acted"] == 1
    assert c.metric("redis_operator_pods_created_total") == 2
    assert c.metric("redis_operator_services_created_total") == 1
    assert c.metric("redis_operator_reconcile_duration_seconds_count", outcome="acted") == 1

    c.deliver()
    await c.reconcile()  # status catches up with the pods created
    c.deliver()
    await c.reconcile()  # converged: nothing to do
    assert passes(c) == {"noop": 1, "acted": 2, "failed": 0, "waiting": 0, "error": 0}

    # Someone else deletes a pod: recreated, and counted as such.
    c.fake.delete_object(POD, NS, f"{NAME}-1", grace_period=0)
    c.deliver()
    await c.reconcile()
    assert c.metric("redis_operator_pods_recreated_total") == 1
    assert c.metric("redis_operator_pods_created_total") == 3

    # Scale down: one pod deleted; until its deletion is observed, passes wait.
    edit_spec(c, replicas=1)
    await c.reconcile()
    assert c.metric("redis_operator_pods_deleted_total") == 1
    await c.reconcile()
    assert passes(c)["waiting"] == 1
    assert len([w for w in c.fake.writes if w.verb is Verb.CREATE and w.kind != SECRET]) == 4


async def test_failed_writes_and_errors_are_counted() -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    errors = "redis_operator_reconcile_errors_total"

    c.fake.fail(Verb.CREATE, POD, api_error(403, "Forbidden"))
    c.fake.fail(Verb.CREATE, SERVICE, api_error(403, "Forbidden"))
    await c.reconcile()
    assert passes(c)["failed"] == 1
    failures = "redis_operator_child_write_failures_total"
    assert c.metric(failures, kind="pod", verb="create") == 1
    assert c.metric(failures, kind="service", verb="create") == 1
    assert c.metric("redis_operator_pods_created_total") == 0

    c.deliver()
    c.fake.fail(Verb.PATCH_STATUS, REDIS, api_error(409, "Conflict"))
    await c.reconcile()
    assert passes(c)["error"] == 1
    assert c.metric(errors, reason="api_error") == 1

    c.deliver()
    edit_spec(c, replicas=2)
    c.fake.fail(Verb.PATCH_STATUS, REDIS, TransportError("OSError: connection refused"))
    await c.reconcile()
    assert c.metric(errors, reason="transport_error") == 1

    c.deliver()
    edit_spec(c, replicas=3)
    c.fake.fail(Verb.PATCH_STATUS, REDIS, RuntimeError("a bug"))
    with pytest.raises(RuntimeError):
        await c.reconcile()  # the worker logs it and backs off
    assert c.metric(errors, reason="unexpected") == 1
    assert passes(c)["error"] == 3


async def test_a_gone_redis_is_a_noop_pass() -> None:
    c = make_controller()
    assert await c.reconcile("gone") == []
    assert passes(c)["noop"] == 1


async def test_a_redis_found_gone_by_its_own_write_is_forgotten() -> None:
    c = await converged(replicas=1)
    c.fake.delete_object(REDIS, NS, NAME)
    c.fake.delete_object(POD, NS, f"{NAME}-0", grace_period=0)
    assert c.fake.lose_events() > 0  # the watch never tells: the store still holds them
    c.fake.delete_object(SERVICE, NS, NAME)  # the garbage collector's, seen once it resumed
    c.deliver()
    writes = await c.reconcile()
    assert writes[-1].verb is Verb.PATCH_STATUS and writes[-1].error.status == 404
    assert c.store.redis.get(NS, NAME) is None
    c.deliver()  # the Service it created for the ghost: the garbage collector removes it
    assert await c.reconcile() == []
    assert c.metric("redis_operator_reconcile_errors_total", reason="api_error") == 0


# -- the password's Secret ------------------------------------------------------------------------


async def test_the_generated_password_is_created_once_and_never_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    c = await converged(replicas=2)
    (secret,) = c.fake.objects(SECRET, NS)
    assert secret["metadata"]["name"] == f"{NAME}-auth"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Redis"
    password = password_from_secret(secret, "password").reveal()
    assert len(password) >= 43
    # Converged: another pass reads nothing and writes nothing (the Secret is watched).
    c.fake.fail(Verb.GET, SECRET, api_error(500), times=1000)
    assert await c.reconcile() == []
    assert secret["metadata"]["labels"][AUTH_SECRET_LABEL] == NAME
    digest = password_digest(secret, "password")
    assert digest is not None and password not in digest
    for pod in c.fake.objects(POD, NS):
        assert pod["metadata"]["annotations"][AUTH_DIGEST_ANNOTATION] == digest
    assert len([w for w in c.fake.writes if w.kind == SECRET]) == 1
    redis = c.fake.get(REDIS, NS, NAME)
    told = [*c.recorder.events, caplog.text, json.dumps(redis), json.dumps(c.fake.objects(POD))]
    assert not [text for text in told if password in text]


async def test_a_secret_taken_by_someone_else_is_a_name_conflict() -> None:
    c = make_controller()
    labels = {AUTH_SECRET_LABEL: "x"}
    c.fake.create_object(
        SECRET, NS, {"metadata": {"name": f"{NAME}-auth", "labels": labels}, "data": {}}
    )
    create_redis(c, replicas=1)
    await c.reconcile()
    assert not [w for w in c.fake.writes if w.kind == SECRET]
    assert f"secret/{NAME}-auth" in " ".join(c.recorder.events)
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None
    (ready,) = [x for x in redis["status"]["conditions"] if x["type"] == "Ready"]
    assert ready["reason"] == "NameConflict" and f"secret/{NAME}-auth" in ready["message"]


async def test_an_unlabelled_secret_under_the_generated_name_is_a_failed_create() -> None:
    c = make_controller()
    c.fake.create_object(SECRET, NS, {"metadata": {"name": f"{NAME}-auth"}, "data": {}})
    create_redis(c, replicas=1)
    await c.reconcile()
    assert any(
        e.startswith(f"Warning FailedCreate Error creating secret {NAME}-auth") and "exists" in e
        for e in c.recorder.events
    )


@pytest.mark.parametrize("auth", [{"disabled": True}, {"secretRef": {"name": "mine"}}])
async def test_no_secret_is_created_unless_the_password_is_generated(auth: Any) -> None:
    c = make_controller()
    body = redis_body(replicas=1)
    body["spec"]["auth"] = auth
    c.fake.create_object(REDIS, NS, body)
    c.deliver()
    await c.reconcile()
    assert c.fake.objects(SECRET, NS) == []
    (pod,) = c.fake.objects(POD, NS)
    volumes = pod["spec"].get("volumes") or []
    assert [v["secret"]["secretName"] for v in volumes if "secret" in v] == (
        [] if "disabled" in auth else ["mine"]
    )


async def test_a_failed_secret_create_is_a_warning_and_retried() -> None:
    c = make_controller()
    create_redis(c, replicas=1)
    c.fake.fail(Verb.CREATE, SECRET, api_error(403, "Forbidden"))
    await c.reconcile()
    assert any(
        e.startswith(f"Warning FailedCreate Error creating secret {NAME}-auth")
        for e in c.recorder.events
    )
    await c.reconcile()
    assert len(c.fake.objects(SECRET, NS)) == 1


def user_redis(c: Controller) -> None:
    body = redis_body(replicas=2)
    body["spec"]["auth"] = {"secretRef": {"name": "mine", "key": "pw"}}
    c.fake.create_object(REDIS, NS, body)
    c.deliver()


def auth_condition(c: Controller) -> dict[str, Any]:
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None
    (condition,) = [x for x in redis["status"]["conditions"] if x["type"] == "AuthSecret"]
    return dict(condition)


async def test_a_missing_user_secret_or_key_is_told_once_naming_them_and_nothing_is_lost() -> None:
    c = make_controller()
    user_redis(c)
    await c.reconcile()
    settle(c)
    assert len(c.fake.objects(POD, NS)) == 2  # the pods wait for the Secret, as created
    missing = [e for e in c.recorder.events if "AuthSecretMissing" in e]
    assert missing == [
        f"Warning AuthSecretMissing Secret mine not found among the Secrets labelled "
        f"{AUTH_SECRET_LABEL}: create it, or label it"
    ]
    assert auth_condition(c)["status"] == "False"
    assert auth_condition(c)["reason"] == "SecretNotFound"
    await c.reconcile()
    assert len([e for e in c.recorder.events if "AuthSecretMissing" in e]) == 1  # once

    while len(c.queue):
        c.queue.done(await c.queue.get())
    secret = {"metadata": {"name": "mine", "labels": {AUTH_SECRET_LABEL: ""}}, "data": {}}
    c.fake.create_object(SECRET, NS, secret)
    c.deliver()
    assert len(c.queue) == 1 and await c.queue.get() == KEY  # a Secret change queues its Redis
    c.queue.done(KEY)
    await c.reconcile()
    assert [e for e in c.recorder.events if "AuthKeyMissing" in e] == [
        "Warning AuthKeyMissing Secret mine has no key pw"
    ]
    assert auth_condition(c)["reason"] == "KeyNotFound"

    value = base64.b64encode(b"user-chosen-pass").decode()
    c.fake.edit(SECRET, NS, "mine", lambda s: s.update(data={"pw": value}))
    c.deliver()
    await c.reconcile()
    assert auth_condition(c)["status"] == "True"
    told = [*c.recorder.events, json.dumps(c.fake.get(REDIS, NS, NAME))]
    assert not [text for text in told if "user-chosen-pass" in text or value in text]


async def test_an_unlabelled_secret_is_not_held() -> None:
    c = make_controller()
    c.fake.create_object(SECRET, NS, {"metadata": {"name": "other"}, "data": {"k": "dg=="}})
    c.deliver()
    assert len(c.store.secrets) == 0


async def test_a_rotated_user_password_replaces_the_pods_one_at_a_time() -> None:
    c = make_controller()
    value = base64.b64encode(b"first").decode()
    labels = {AUTH_SECRET_LABEL: NAME}
    c.fake.create_object(
        SECRET, NS, {"metadata": {"name": "mine", "labels": labels}, "data": {"pw": value}}
    )
    user_redis(c)
    for _ in range(3):
        await c.reconcile()
        settle(c)
    assert await c.reconcile() == []
    second = base64.b64encode(b"second").decode()
    c.fake.edit(SECRET, NS, "mine", lambda s: s.update(data={"pw": second}))
    c.deliver()
    writes = await c.reconcile()
    assert [w.name for w in writes if w.verb is Verb.DELETE] == [f"{NAME}-1"]
    assert any("PodReplaced" in e for e in c.recorder.events)
