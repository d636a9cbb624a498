"""The reconcile planner, rule by rule, and in a simulated cluster until it converges.

`World` is a namespace on the fake apiserver (`kube/fake.py`) with one Redis, the real
controller (its store fed by the fake's watch, its reconciler making the writes) and what
everyone else does: the kubelet lets pods become Ready and finishes terminating ones, users
edit the spec, delete pods, take child names and delete the Redis, and the garbage collector
deletes (or orphans) the children of a Redis deleted. Each pass also predicts the pass from
the pure planner and checks the reconciler did just that.

Tests of an observation no cluster history leads to (a pod's image or a Service's deletion
state set by hand, a new Redis under an old name before its first pass) and of `status_after`
call the pure planner directly, on the World's objects.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redis_operator.api import LEGACY_FINALIZER, ChildKind, Redis
from redis_operator.children import (
    ROLE_LABEL,
    auth_secret_name,
    desired_pod,
    desired_service,
    is_finished,
    is_owned_by,
    is_ready,
    pod_name,
)
from redis_operator.kube.client import REDIS, SECRET
from redis_operator.kube.errors import ApiError, KubeError, TransportError
from redis_operator.kube.fake import Verb, Write
from redis_operator.messages import EventKey
from redis_operator.planning import (
    ALL_REPLICAS_READY,
    NAME_CONFLICT,
    PODS_NOT_READY,
    READY,
    REPLICA_FAILURE,
    SCALING_DOWN,
    SCALING_UP,
    UPDATING,
    ChildRef,
    Failure,
    Plan,
    Requeue,
    deletion_event,
    plan,
    status_after,
    with_failure,
    without_legacy_finalizer,
)
from tests.unit.redis_operator.support import (
    NS,
    START,
    collect_garbage,
    finish_deletion,
    make_controller,
    make_ready,
)

NOW = START
NAME = "my-op-redis"
UID = "redis-uid"
KEY = (NS, NAME)
POD = ChildKind.POD
SERVICE = ChildKind.SERVICE

#: Events of the plan, not of the writes that carry it out.
_WRITE_EVENTS = {
    EventKey.SUCCESSFUL_CREATE,
    EventKey.SUCCESSFUL_DELETE,
    EventKey.SUCCESSFUL_UPDATE,
    EventKey.FAILED_CREATE,
    EventKey.FAILED_DELETE,
    EventKey.FAILED_UPDATE,
}

#: What an injected failure of the pod writes can be: retryable, terminal, no answer.
FAILURES: list[KubeError] = [
    ApiError(500, "InternalError", "etcdserver: request timed out"),
    ApiError(403, "Forbidden", 'pods is forbidden: exceeded quota: "pods"'),
    TransportError("ClientConnectorError: connection refused"),
]


def make_redis(
    replicas: int = 2, image: str = "redis:5-alpine", port: int = 8333, generation: int = 1
) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": NAME, "namespace": "ns", "uid": UID, "generation": generation},
        "spec": {"replicas": replicas, "image": image, "port": port},
    }


def typed_redis(**spec: Any) -> Redis:
    """The planner's input form of `make_redis(**spec)`."""
    return Redis.from_object(make_redis(**spec))


def foreign_pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"foreign-{name}"}}


def is_foreign(pod: dict[str, Any] | None) -> bool:
    return pod is not None and "ownerReferences" not in pod["metadata"]


def keys(p: Plan) -> list[EventKey]:
    return [event.key for event in p.events]


def names(refs: tuple[ChildRef, ...]) -> list[str]:
    return [ref.name for ref in refs]


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == READY)


class World:
    """A namespace with one Redis, its children, a kubelet, users, and the real controller."""

    def __init__(self, redis: dict[str, Any]) -> None:
        self.controller = make_controller()
        self.fake = self.controller.fake
        self.fake.create_object(REDIS, NS, redis)
        self.events: list[EventKey] = []
        self.recreated: list[str] = []  # pods reported as deleted by someone else
        self.deleted_by_others: set[str] = set()
        self._told = 0  # recorder entries already read into `events`

    # -- what the apiserver holds ----------------------------------------------------------
    @property
    def redis(self) -> dict[str, Any]:
        redis = self.fake.get(REDIS, NS, NAME)
        assert redis is not None
        return redis

    @property
    def pods(self) -> dict[str, dict[str, Any]]:
        return {pod["metadata"]["name"]: pod for pod in self.fake.objects(POD, NS)}

    @property
    def service(self) -> dict[str, Any] | None:
        return self.fake.get(SERVICE, NS, NAME)

    @property
    def clock(self) -> datetime:
        return self.controller.clock.wall

    @clock.setter
    def clock(self, wall: datetime) -> None:
        self.controller.clock.wall = wall

    # -- the controller --------------------------------------------------------------------
    def plan(self) -> Plan:
        """What the next pass will do: the pure planner on what the controller's store holds,
        once the watch has caught up."""
        self.fake.deliver()
        store = self.controller.store
        redis = store.redis.get(NS, NAME)
        assert redis is not None
        return plan(
            Redis.from_object(redis),
            store.candidate_pods(NS, NAME),
            store.services.get(NS, NAME),
            self.controller.own_writes.deleted_by_us(KEY),
            now=self.clock,
            auth_secret=self.fake.get(SECRET, NS, auth_secret_name(NAME)),
        )

    async def reconcile(
        self, *, fail: KubeError | None = None, fail_status: KubeError | None = None
    ) -> Plan:
        """One pass of the real reconciler; the plan it carried out.

        Checks that the pass wrote what the plan says, and that nothing it did is done or told
        again by the next pass. With `fail`, every pod create and delete of the pass fails so;
        with `fail_status`, its status write.
        """
        p = self.plan()
        if fail is not None:
            self.fake.fail(Verb.CREATE, POD, fail, times=1000)
            self.fake.fail(Verb.DELETE, POD, fail, times=1000)
        if fail_status is not None:
            self.fake.fail(Verb.PATCH_STATUS, REDIS, fail_status)
        writes = await self._pass()
        if fail is not None or fail_status is not None:
            return p
        assert all(w.error is None for w in writes), writes
        children = [(w.verb, w.kind, w.name) for w in writes if w.kind != REDIS]
        expected = [(Verb.CREATE, SECRET, f"{NAME}-auth")] if p.create_auth_secret else []
        expected += [(Verb.DELETE, POD, ref.name) for ref in p.delete_pods + p.replace_pods]
        expected += [(Verb.CREATE, POD, body["metadata"]["name"]) for body in p.create_pods]
        if p.create_service is not None:
            expected.append((Verb.CREATE, SERVICE, NAME))
        if p.patch_service is not None:
            expected.append((Verb.PATCH, SERVICE, NAME))
        assert children == expected, (children, p)

        again = self.plan()
        repeated = set(keys(again)) & set(keys(p)) - {EventKey.SCALING_UP, EventKey.SCALING_DOWN}
        assert not repeated, (p, again)
        assert not {EventKey.SCALING_UP, EventKey.SCALING_DOWN} & set(keys(again))
        created = {pod["metadata"]["name"] for pod in p.create_pods}
        assert not created & {pod["metadata"]["name"] for pod in again.create_pods}
        deleted = set(names(p.delete_pods + p.replace_pods))
        assert not deleted & set(names(again.delete_pods + again.replace_pods))
        assert not (p.create_service and again.create_service)
        return p

    async def lagging_pass(self) -> None:
        """A pass on a store the watch has not brought up to date: writes may find objects
        gone or changed, and it may have to wait for its earlier writes to show."""
        await self._pass()

    async def _pass(self) -> list[Write]:
        before = self.pods
        writes = await self.controller.reconcile()
        self.fake.clear_failures()
        self.controller.clock.advance(1)
        self._read_events()
        for write in writes:
            if write.verb is Verb.DELETE and write.kind == POD and write.error is None:
                assert not is_foreign(before[write.name]), "deleted a foreign pod"
        return writes

    def _read_events(self) -> None:
        recorded = self.controller.recorder.events
        for text in recorded[self._told :]:
            words = text.split()
            key = EventKey(words[1])
            if key in _WRITE_EVENTS:
                continue
            self.events.append(key)
            if key is EventKey.POD_RECREATED:
                self.recreated.append(words[3])
        self._told = len(recorded)

    # -- the kubelet -----------------------------------------------------------------------
    def progress(self, name: str) -> None:
        """The pod makes one step: a terminating pod goes, a new one becomes Ready."""
        pod = self.pods[name]
        if "deletionTimestamp" in pod["metadata"]:
            finish_deletion(self.fake, name)
        elif not is_foreign(pod) and not is_ready(pod) and not is_finished(pod):
            make_ready(self.fake, name)

    def settle(self) -> None:
        for name in list(self.pods):
            self.progress(name)

    def set_pod_status(self, name: str, status: dict[str, Any]) -> None:
        self.fake.edit(POD, NS, name, lambda pod: pod.update(status=status))

    # -- users -----------------------------------------------------------------------------
    def edit_spec(self, **changes: Any) -> None:
        self.fake.patch_object(REDIS, NS, NAME, {"spec": changes})

    def delete_pod(self, name: str) -> None:
        if name in self.pods:
            self.fake.delete_object(POD, NS, name)
            self.deleted_by_others.add(name)

    def squat(self, name: str) -> None:
        """Someone creates a pod under a child's name."""
        self.fake.create_object(POD, NS, foreign_pod(name))

    def add_pod(self, body: dict[str, Any]) -> None:
        self.fake.create_object(POD, NS, body)

    def remove_pod(self, name: str) -> None:
        """A pod goes at once (a foreign pod deleted with no grace period)."""
        self.fake.delete_object(POD, NS, name, grace_period=0)

    def delete_service(self) -> None:
        self.fake.delete_object(SERVICE, NS, NAME)

    def edit_service(self, patch: dict[str, Any]) -> None:
        self.fake.patch_object(SERVICE, NS, NAME, patch)

    # -- convergence -----------------------------------------------------------------------
    async def converge(self, passes: int = 60) -> Plan:
        """Reconcile and let the kubelet work until neither has anything left to do."""
        for _ in range(passes):
            p = await self.reconcile()
            kubelet_done = all(is_ready(pod) or is_foreign(pod) for pod in self.pods.values())
            if p.is_empty and kubelet_done:
                return p
            self.settle()
        raise AssertionError("did not converge")

    async def assert_converged(self) -> None:
        """The cluster is what the spec says, and a pass writes nothing at all."""
        spec = self.redis["spec"]
        pods = self.pods
        expected = {pod_name(NAME, o) for o in range(spec["replicas"])}
        owned = {n for n, pod in pods.items() if not is_foreign(pod)}
        foreign = set(pods) - owned
        assert owned == expected - foreign
        for name in owned:
            (container,) = pods[name]["spec"]["containers"]
            assert container["image"] == spec["image"]
            assert container["ports"][0]["containerPort"] == spec["port"]
            assert is_ready(pods[name])
        service = self.service
        assert service is not None
        assert service["spec"]["ports"][0]["port"] == spec["port"]
        status = self.redis["status"]
        assert status["observedGeneration"] == self.redis["metadata"]["generation"]
        assert status["replicas"] == status["readyReplicas"] == len(owned)
        conflicted = bool(foreign & expected)
        assert ready_condition(status)["status"] == ("False" if conflicted else "True")
        assert self.plan().is_empty
        told = len(self.controller.recorder.events)
        assert await self.controller.reconcile() == []  # zero writes
        assert len(self.controller.recorder.events) == told  # and no Event


async def converged_world(replicas: int = 2) -> World:
    world = World(make_redis(replicas=replicas))
    await world.converge()
    world.events.clear()
    return world


# -- creation and scaling ---------------------------------------------------------------------


def test_first_pass_creates_everything_lowest_first_and_announces_scale_up() -> None:
    p = plan(typed_redis(replicas=3), [], None, now=NOW)
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [
        f"{NAME}-0",
        f"{NAME}-1",
        f"{NAME}-2",
    ]
    assert p.create_pods[0] == desired_pod(typed_redis(replicas=3), 0)
    assert p.create_service == desired_service(typed_redis(replicas=3))
    assert keys(p) == [EventKey.SCALING_UP]
    assert dict(p.events[0].args) == {"name": NAME, "replicas": 3}
    assert p.status is not None
    assert p.status["observedGeneration"] == 1 and p.status["targetReplicas"] == 3
    assert p.status["replicas"] == 0 and p.status["readyReplicas"] == 0
    assert p.status["selector"] == (
        f"app.kubernetes.io/instance={NAME},app.kubernetes.io/managed-by=redis-operator,"
        "app.kubernetes.io/name=redis"
    )
    condition = ready_condition(p.status)
    assert condition == {
        "type": READY,
        "status": "False",
        "observedGeneration": 1,
        "lastTransitionTime": "2024-05-01T12:00:00Z",
        "reason": SCALING_UP,
        "message": "0/3 replicas ready",
    }
    assert p.requeue is None


def test_first_creation_with_zero_replicas_announces_nothing() -> None:
    p = plan(typed_redis(replicas=0), [], None, now=NOW)
    assert not p.create_pods and not p.events and p.create_service is not None


async def test_steady_state_is_an_empty_plan() -> None:
    world = await converged_world()
    p = world.plan()
    assert p == Plan() and p.is_empty and p.status is None
    assert ready_condition(world.redis["status"])["reason"] == ALL_REPLICAS_READY
    assert world.redis["status"]["replicas"] == 2


async def test_pods_becoming_ready_update_the_status_without_events() -> None:
    world = World(make_redis(replicas=2))
    await world.reconcile()
    world.settle()
    p = await world.reconcile()
    assert p.status is not None and not p.events and not p.has_actions
    assert p.status["readyReplicas"] == 2
    assert ready_condition(p.status)["status"] == "True"
    assert ready_condition(p.status)["lastTransitionTime"] == "2024-05-01T12:00:01Z"


async def test_scale_2_3_1_3() -> None:
    world = await converged_world(replicas=2)

    world.edit_spec(replicas=3)
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-2"]
    assert keys(p) == [EventKey.SCALING_UP]
    assert dict(p.events[0].args) == {"name": NAME, "replicas": 3}
    await world.converge()

    world.edit_spec(replicas=1)
    p = await world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-2", f"{NAME}-1"]
    assert keys(p) == [EventKey.SCALING_DOWN]
    assert p.status is not None and ready_condition(p.status)["reason"] == SCALING_DOWN

    # Scaled up again before the deleted pods are gone: wait for them, then recreate them
    # without taking them for pods someone else deleted.
    world.edit_spec(replicas=3)
    p = await world.reconcile()
    assert keys(p) == [EventKey.SCALING_UP]
    assert not p.create_pods and p.requeue is Requeue.WAIT
    await world.converge()
    await world.assert_converged()
    assert world.events == [
        EventKey.SCALING_UP,
        EventKey.SCALING_DOWN,
        EventKey.SCALING_UP,
    ]


async def test_net_zero_change_between_passes_announces_nothing() -> None:
    world = await converged_world(replicas=2)
    world.edit_spec(replicas=5)
    world.edit_spec(replicas=2)
    p = await world.reconcile()
    assert not p.events and not p.has_actions
    assert p.status is not None and p.status["observedGeneration"] == 3


async def test_image_change_announces_no_scaling() -> None:
    world = await converged_world(replicas=2)
    world.edit_spec(image="redis:6-alpine")
    p = await world.reconcile()
    assert EventKey.SCALING_UP not in keys(p) and EventKey.SCALING_DOWN not in keys(p)


async def test_scale_to_zero() -> None:
    world = await converged_world(replicas=2)
    world.edit_spec(replicas=0)
    p = await world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-1", f"{NAME}-0"]
    await world.converge()
    await world.assert_converged()
    assert world.pods == {}
    assert ready_condition(world.redis["status"])["status"] == "True"


# -- recreation -------------------------------------------------------------------------------


async def test_pod_deleted_by_someone_else_is_recreated_with_a_warning() -> None:
    world = await converged_world(replicas=3)
    world.delete_pod(f"{NAME}-1")

    p = await world.reconcile()  # still terminating: wait, do not create under its name
    assert not p.create_pods and not p.events
    assert p.requeue is Requeue.WAIT
    assert p.status is not None and p.status["replicas"] == 2

    world.settle()
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert keys(p) == [EventKey.POD_RECREATED]
    assert dict(p.events[0].args) == {"pod": f"{NAME}-1"}
    await world.converge()
    await world.assert_converged()
    assert world.events == [EventKey.POD_RECREATED]


async def test_pod_deleted_by_us_is_not_reported_as_recreated() -> None:
    redis = Redis.from_object((await converged_world(replicas=2)).redis)
    p = plan(redis, [], desired_service(redis), frozenset({f"{NAME}-0", f"{NAME}-1"}), now=NOW)
    assert len(p.create_pods) == 2 and not p.events
    p = plan(redis, [], desired_service(redis), frozenset({f"{NAME}-0"}), now=NOW)
    assert keys(p) == [EventKey.POD_RECREATED]


async def test_finished_pod_is_deleted_to_be_recreated() -> None:
    world = await converged_world(replicas=2)
    world.set_pod_status(f"{NAME}-0", {"phase": "Failed", "reason": "Evicted"})
    p = await world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]
    assert keys(p) == [EventKey.POD_FINISHED]
    assert dict(p.events[0].args) == {"pod": f"{NAME}-0", "phase": "Failed"}
    assert p.status is not None and p.status["replicas"] == 1
    await world.converge()
    await world.assert_converged()
    assert world.events == [EventKey.POD_FINISHED]


async def test_stray_owned_pods_are_deleted() -> None:
    world = await converged_world(replicas=1)
    stray = desired_pod(Redis.from_object(world.redis), 0)
    stray["metadata"] |= {"name": f"{NAME}-abc", "uid": "stray"}
    world.add_pod(stray)
    p = await world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-abc"]
    await world.converge()
    await world.assert_converged()


# -- replacement ------------------------------------------------------------------------------


def unavailable(world: World) -> int:
    spec = world.redis["spec"]
    return sum(
        1
        for o in range(spec["replicas"])
        if (pod := world.pods.get(pod_name(NAME, o))) is None or not is_ready(pod)
    )


@pytest.mark.parametrize(
    "change",
    [
        {"image": "redis:6-alpine"},
        {"port": 7000},
        {"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}},
        {"nodeSelector": {"type": "kwok"}},
        {"tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]},
    ],
)
async def test_stale_pods_are_replaced_one_at_a_time(change: dict[str, Any]) -> None:
    world = await converged_world(replicas=3)
    world.edit_spec(**change)
    replaced: list[str] = []
    for _ in range(40):
        p = await world.reconcile()
        assert len(p.replace_pods) <= 1
        replaced += names(p.replace_pods)
        assert unavailable(world) <= 1, "more than one pod down at once"
        if p.is_empty:
            break
        # The kubelet handles one pod at a time, so each wait is observed.
        pending = [n for n, pod in world.pods.items() if not is_ready(pod)]
        if pending:
            world.progress(pending[0])
    await world.assert_converged()
    assert replaced == [f"{NAME}-2", f"{NAME}-1", f"{NAME}-0"]
    assert world.events.count(EventKey.POD_REPLACED) == 3
    assert EventKey.POD_RECREATED not in world.events


async def test_replacement_waits_for_the_previous_one_to_be_ready() -> None:
    world = await converged_world(replicas=2)
    world.edit_spec(image="redis:6-alpine")
    p = await world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-1"]
    assert p.status is not None and ready_condition(p.status)["reason"] == UPDATING

    p = await world.reconcile()  # the old pod is terminating
    assert not p.has_actions and p.requeue is Requeue.WAIT

    world.progress(f"{NAME}-1")  # gone
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert not p.events  # we deleted it ourselves

    p = await world.reconcile()  # the replacement is not Ready yet: the next one waits
    assert not p.has_actions and p.requeue is Requeue.WAIT

    world.progress(f"{NAME}-1")  # Ready
    p = await world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]


async def test_no_replacement_while_another_pod_is_not_ready() -> None:
    world = await converged_world(replicas=2)
    world.set_pod_status(f"{NAME}-0", {"phase": "Running", "conditions": []})
    world.edit_spec(image="redis:6-alpine")
    p = await world.reconcile()
    # -0 is not Ready and stale: replacing it loses nothing; -1 is Ready and waits.
    assert names(p.replace_pods) == [f"{NAME}-0"]


async def test_no_ready_pod_is_replaced_while_another_is_not_ready() -> None:
    world = await converged_world(replicas=2)
    pods = world.pods  # an observation made by hand
    pods[f"{NAME}-0"]["status"] = {"phase": "Running", "conditions": []}
    redis = world.redis
    redis["spec"]["image"] = "redis:6-alpine"
    redis["metadata"]["generation"] = 2
    # Only -1 is stale (as if -0 had already been replaced and is starting).
    pods[f"{NAME}-0"]["spec"]["containers"][0]["image"] = "redis:6-alpine"
    p = plan(Redis.from_object(redis), list(pods.values()), world.service, now=NOW)
    assert not p.replace_pods and p.requeue is Requeue.WAIT


async def test_no_replacement_while_a_pod_is_terminating() -> None:
    world = await converged_world(replicas=3)
    world.edit_spec(replicas=2, image="redis:6-alpine")
    p = await world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-2"]
    assert names(p.replace_pods) == [f"{NAME}-1"]  # -2 was not terminating yet
    world.progress(f"{NAME}-1")  # gone
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    world.progress(f"{NAME}-1")  # the replacement is Ready; -2 is still terminating
    p = await world.reconcile()
    assert not p.has_actions and p.requeue is Requeue.WAIT
    world.progress(f"{NAME}-2")  # gone
    p = await world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]


async def test_pods_that_never_started_do_not_block_each_other() -> None:
    world = World(make_redis(replicas=2, image="redis:typo"))
    await world.reconcile()  # both pods created, neither ever becomes Ready
    world.edit_spec(image="redis:6-alpine")
    p = await world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-1"]
    await world.converge()
    await world.assert_converged()


# -- conflicts --------------------------------------------------------------------------------


async def test_pod_name_taken_by_a_foreign_pod() -> None:
    world = World(make_redis(replicas=2))
    world.squat(f"{NAME}-1")
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-0"]
    assert keys(p) == [EventKey.SCALING_UP, EventKey.NAME_CONFLICT]
    assert dict(p.events[1].args) == {"name": NAME, "children": f"pod/{NAME}-1"}
    assert p.status is not None
    assert ready_condition(p.status)["reason"] == NAME_CONFLICT
    assert p.requeue is Requeue.CONFLICT

    await world.converge()
    await world.assert_converged()
    assert world.events.count(EventKey.NAME_CONFLICT) == 1
    assert world.plan().requeue is Requeue.CONFLICT

    # Scaling to 3 does not change the conflict: no new warning.
    world.edit_spec(replicas=3)
    assert EventKey.NAME_CONFLICT not in keys(await world.converge())
    assert world.events.count(EventKey.NAME_CONFLICT) == 1

    # The foreign pod goes: ours takes its place, Ready again.
    world.remove_pod(f"{NAME}-1")
    await world.converge()
    await world.assert_converged()
    assert ready_condition(world.redis["status"])["reason"] == ALL_REPLICAS_READY

    # It comes back (after ours was deleted): a new warning.
    world.delete_pod(f"{NAME}-1")
    world.settle()
    world.squat(f"{NAME}-1")
    await world.converge()
    assert world.events.count(EventKey.NAME_CONFLICT) == 2


def test_service_name_taken_by_a_foreign_service() -> None:
    redis = typed_redis(replicas=1)
    service = {"metadata": {"name": NAME, "uid": "foreign"}, "spec": {"ports": []}}
    p = plan(redis, [], service, now=NOW)
    assert p.create_service is None and p.patch_service is None
    assert keys(p) == [EventKey.SCALING_UP, EventKey.NAME_CONFLICT]
    assert dict(p.events[1].args)["children"] == f"service/{NAME}"


async def test_foreign_pods_beyond_the_replicas_are_ignored() -> None:
    world = await converged_world(replicas=1)
    world.squat(f"{NAME}-5")
    assert world.plan().is_empty


async def test_pod_of_a_previous_redis_with_the_same_name_is_not_ours() -> None:
    world = await converged_world(replicas=1)
    redis = world.redis  # a new Redis of the same name, before any pass
    redis["metadata"]["uid"] = "new-uid"
    redis.pop("status")
    p = plan(Redis.from_object(redis), list(world.pods.values()), world.service, now=NOW)
    assert EventKey.NAME_CONFLICT in keys(p)
    assert not p.delete_pods and not p.replace_pods


# -- the Service ------------------------------------------------------------------------------


async def test_service_recreated_and_patched() -> None:
    world = await converged_world(replicas=1)
    world.delete_service()
    p = await world.reconcile()
    assert p.create_service is not None and not p.events
    await world.converge()
    world.edit_service({"spec": {"selector": {"extra": "x"}}})
    p = await world.reconcile()
    assert p.patch_service is not None
    await world.converge()
    await world.assert_converged()
    service = world.service
    assert service is not None and "extra" not in service["spec"]["selector"]


# -- status and failures ----------------------------------------------------------------------


async def test_last_transition_time_moves_only_with_the_status() -> None:
    world = await converged_world(replicas=2)
    ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    world.clock += timedelta(hours=1)
    world.edit_spec(replicas=3)
    await world.reconcile()
    not_ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    assert not_ready_since != ready_since
    world.settle()
    await world.reconcile()
    assert ready_condition(world.redis["status"])["lastTransitionTime"] > not_ready_since


async def test_condition_carries_the_generation() -> None:
    world = await converged_world(replicas=2)
    ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    world.edit_spec(replicas=3)
    world.edit_spec(replicas=2)  # undone before any pass: the generation moved all the same
    p = await world.reconcile()
    assert p.status is not None and not p.events and not p.has_actions
    assert p.status["observedGeneration"] == 3
    assert ready_condition(p.status)["observedGeneration"] == 3
    assert ready_condition(p.status)["lastTransitionTime"] == ready_since


async def test_failure_is_a_condition_and_the_spec_change_is_not_acknowledged() -> None:
    world = await converged_world(replicas=1)
    world.edit_spec(replicas=2)
    redis = world.redis
    p = world.plan()
    failure = Failure("FailedCreate", "pods is forbidden: exceeded quota")
    status = status_after(Redis.from_object(redis), p, failure=failure, now=NOW)
    assert status is not None
    assert status["observedGeneration"] == 1 and status["targetReplicas"] == 1
    failed = next(c for c in status["conditions"] if c["type"] == REPLICA_FAILURE)
    assert failed["status"] == "True" and failed["reason"] == "FailedCreate"
    assert failed["observedGeneration"] == 2
    redis["status"] = status

    # The retry announces the change again and does not claim the pod was deleted.
    retried = Redis.from_object(redis)
    p = plan(retried, list(world.pods.values()), world.service, now=NOW)
    assert keys(p) == [EventKey.SCALING_UP] and len(p.create_pods) == 1
    # Failing the same way again writes nothing new.
    again = status_after(retried, p, failure=failure, now=NOW + timedelta(minutes=1))
    assert again is None or again == redis["status"]
    # The retry succeeds: the failure is cleared.
    cleared = status_after(retried, p, now=NOW)
    assert cleared is not None
    assert REPLICA_FAILURE not in [c["type"] for c in cleared["conditions"]]


async def test_stale_failure_is_cleared_by_a_pass_with_nothing_to_do() -> None:
    world = await converged_world(replicas=1)
    world.fake.edit(
        REDIS,
        NS,
        NAME,
        lambda redis: redis.update(
            status=with_failure(redis["status"], "FailedDelete", "boom", generation=1, now=NOW)
        ),
    )
    p = world.plan()
    assert not p.has_actions and p.status is not None
    assert [c["type"] for c in p.status["conditions"]] == [READY]


def test_with_failure_keeps_the_transition_time_of_an_ongoing_failure() -> None:
    first = with_failure({}, "FailedCreate", "a", generation=1, now=NOW)
    later = with_failure(first, "FailedDelete", "b", generation=2, now=NOW + timedelta(hours=1))
    (condition,) = later["conditions"]
    assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert (condition["reason"], condition["message"]) == ("FailedDelete", "b")


async def test_not_ready_pods_are_reported() -> None:
    world = await converged_world(replicas=2)
    world.set_pod_status(
        f"{NAME}-0", {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    )
    p = await world.reconcile()
    assert p.status is not None and not p.has_actions and not p.events
    assert p.status["readyReplicas"] == 1
    condition = ready_condition(p.status)
    assert (condition["reason"], condition["message"]) == (PODS_NOT_READY, "1/2 replicas ready")
    assert p.requeue is None


# -- deletion ---------------------------------------------------------------------------------


async def test_a_redis_being_deleted_gets_an_empty_plan() -> None:
    world = await converged_world(replicas=3)
    world.squat(f"{NAME}-7")
    world.fake.delete_object(REDIS, NS, NAME, propagation="Foreground")
    assert world.plan() == Plan()  # nothing is recreated, deleted or written for it
    redis = Redis.from_object(world.redis)
    event = deletion_event(redis, world.redis["metadata"]["finalizers"], list(world.pods.values()))
    assert event is not None and event.key is EventKey.DELETING
    assert dict(event.args) == {"name": NAME, "pods": 3}  # its own, not the squatter


def test_the_deleting_count_is_the_last_status_when_the_garbage_collector_was_quicker() -> None:
    """The pods may be gone from the store before the deletion is seen; the status that
    counted them is never written again, so the Event does not say 0."""
    redis = Redis.from_object({**make_redis(replicas=3), "status": {"replicas": 3}})
    event = deletion_event(redis, ["foregroundDeletion"], [])
    assert event is not None and dict(event.args) == {"name": NAME, "pods": 3}
    one_left = deletion_event(redis, ["foregroundDeletion"], [desired_pod(redis, 2)])
    assert one_left is not None and dict(one_left.args)["pods"] == 3


def test_the_deleting_count_takes_pods_the_status_has_not_counted_yet() -> None:
    redis = Redis.from_object({**make_redis(replicas=2), "status": {"replicas": 0}})
    pods = [desired_pod(redis, 0), desired_pod(redis, 1)]
    event = deletion_event(redis, ["foregroundDeletion"], pods)
    assert event is not None and dict(event.args)["pods"] == 2


def test_a_redis_with_no_status_and_no_pods_is_deleted_with_0_pods() -> None:
    event = deletion_event(typed_redis(replicas=0), ["foregroundDeletion"], [])
    assert event is not None and event.render("en").message == f"Deleting {NAME} and its 0 pods"


def test_a_redis_orphaning_its_children_has_no_deletion_to_tell() -> None:
    redis = typed_redis(replicas=1)
    assert deletion_event(redis, ["orphan"], [desired_pod(redis, 0)]) is None
    event = deletion_event(redis, ["foregroundDeletion"], [desired_pod(redis, 0)])
    assert event is not None and dict(event.args)["pods"] == 1


@pytest.mark.parametrize(
    ("finalizers", "kept"),
    [
        ([], None),
        (["example.com/x"], None),
        ([LEGACY_FINALIZER], []),
        (["a", LEGACY_FINALIZER, "foregroundDeletion"], ["a", "foregroundDeletion"]),
    ],
)
def test_only_the_legacy_finalizer_is_released(
    finalizers: list[str], kept: list[str] | None
) -> None:
    assert without_legacy_finalizer(finalizers) == kept


def test_times_are_utc() -> None:
    east = datetime(2024, 5, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    p = plan(typed_redis(), [], None, now=east)
    assert p.status is not None
    assert ready_condition(p.status)["lastTransitionTime"] == "2024-05-01T12:00:00Z"


# -- convergence from any history ---------------------------------------------------------------

#: Merge patches of the spec's resources and placement (so they also combine).
PLACEMENTS: list[dict[str, Any]] = [
    {"resources": {"requests": {"cpu": "1"}}},
    {"nodeSelector": {"type": "kwok"}, "tolerations": [{"operator": "Exists"}]},
    {"resources": {"limits": {"memory": "1Gi"}}, "nodeSelector": {"type": None}},
]

ACTIONS = st.one_of(
    st.tuples(st.just("reconcile"), st.just(0)),
    st.tuples(st.just("fail"), st.integers(0, len(FAILURES) - 1)),
    st.tuples(st.just("fail_status"), st.integers(0, len(FAILURES) - 1)),
    st.tuples(st.just("lag"), st.just(0)),
    st.tuples(st.just("progress"), st.integers(0, 5)),
    st.tuples(st.just("scale"), st.integers(0, 5)),
    st.tuples(st.just("image"), st.integers(0, 2)),
    st.tuples(st.just("port"), st.integers(0, 2)),
    st.tuples(st.just("placement"), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("evict"), st.integers(0, 5)),
    st.tuples(st.just("squat"), st.integers(0, 5)),
    st.tuples(st.just("unsquat"), st.integers(0, 5)),
)


async def play(world: World, history: list[tuple[str, int]]) -> None:
    for action, n in history:
        name = pod_name(NAME, n)
        pods = world.pods
        if action == "reconcile":
            await world.reconcile()
        elif action == "fail":
            await world.reconcile(fail=FAILURES[n])
        elif action == "fail_status":
            await world.reconcile(fail_status=FAILURES[n])
        elif action == "lag":
            await world.lagging_pass()
        elif action == "progress" and name in pods:
            world.progress(name)
        elif action == "scale":
            world.edit_spec(replicas=n)
        elif action == "image":
            world.edit_spec(image=["redis:5-alpine", "redis:6-alpine", "redis:7-alpine"][n])
        elif action == "port":
            world.edit_spec(port=[6379, 7000, 8333][n])
        elif action == "placement":
            world.edit_spec(**PLACEMENTS[n])
        elif action == "delete":
            world.delete_pod(name)
        elif action == "evict" and name in pods and not is_foreign(pods[name]):
            world.set_pod_status(name, {"phase": "Failed", "reason": "Evicted"})
        elif action == "squat" and name not in pods:
            world.squat(name)
        elif action == "unsquat" and is_foreign(pods.get(name)):
            world.remove_pod(name)


async def live_through(world: World, history: list[tuple[str, int]]) -> None:
    await play(world, history)
    before = len(world.events)
    await world.converge()
    await world.assert_converged()
    told = Counter(world.events[before:])
    assert told[EventKey.SCALING_UP] + told[EventKey.SCALING_DOWN] <= 1
    assert told[EventKey.NAME_CONFLICT] <= 1
    assert set(world.recreated) <= world.deleted_by_others
    final = world.plan()
    assert final.is_empty and final.requeue in (None, Requeue.CONFLICT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replicas=st.integers(0, 4), history=st.lists(ACTIONS, max_size=30))
@example(replicas=2, history=[("reconcile", 0), ("delete", 0), ("progress", 0)])
@example(replicas=1, history=[("fail", 0), ("squat", 0), ("lag", 0), ("lag", 0)])
def test_any_history_converges_to_the_spec_and_then_writes_nothing(
    replicas: int, history: list[tuple[str, int]]
) -> None:
    """Users, the kubelet, injected API failures and passes on a lagging watch, in any order:
    the real reconciler on the fake apiserver never deletes a pod it does not own, converges,
    tells each change once, and then writes nothing."""
    asyncio.run(live_through(World(make_redis(replicas=replicas)), history))


Cascade = Literal["Background", "Foreground", "Orphan"]


async def delete_after(world: World, history: list[tuple[str, int]], cascade: Cascade) -> None:
    await play(world, history)
    uid = world.redis["metadata"]["uid"]
    staying = {n: p for n, p in world.pods.items() if "deletionTimestamp" not in p["metadata"]}
    owned = {n for n, pod in staying.items() if is_owned_by(pod, uid)}
    foreign = {n for n, pod in staying.items() if is_foreign(pod)}
    service = world.service
    owned_service = service is not None and is_owned_by(service, uid)
    world.fake.delete_object(REDIS, NS, NAME, propagation=cascade)
    world.fake.deliver()
    writes, told = len(world.fake.writes), len(world.controller.recorder.events)
    for _ in range(10):  # passes, the garbage collector and the kubelet, until all is done
        await world.controller.reconcile()
        collected = collect_garbage(world.fake)
        world.settle()
        world.fake.deliver()
        if not collected and world.fake.get(REDIS, NS, NAME) is None:
            break
    else:
        raise AssertionError("the deletion did not finish")
    assert world.fake.writes[writes:] == []  # not one write of the operator's
    events = [text.split()[1] for text in world.controller.recorder.events[told:]]
    assert events == (["Deleting"] if cascade == "Foreground" else [])
    pods = world.pods
    assert not any(is_owned_by(pod, uid) for pod in pods.values())
    if cascade == "Orphan":
        assert set(pods) == owned | foreign  # left, without their owner reference
        assert (world.service is not None) == owned_service
    else:
        assert set(pods) == foreign and world.service is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(0, 4),
    history=st.lists(ACTIONS, max_size=20),
    cascade=st.sampled_from(["Background", "Foreground", "Orphan"]),
)
def test_after_any_history_deletion_is_the_garbage_collectors(
    replicas: int, history: list[tuple[str, int]], cascade: Cascade
) -> None:
    """Whatever came before, once the watch shows the Redis deleted the reconciler writes
    nothing (no pod recreated, no status), tells at most the one Deleting Event, and the
    garbage collector leaves no child of it, or every child orphaned."""
    asyncio.run(delete_after(World(make_redis(replicas=replicas)), history, cascade))


async def test_a_failed_pass_keeps_a_conflict_that_went_away_known() -> None:
    world = World(make_redis(replicas=1))
    world.squat(f"{NAME}-0")
    await world.reconcile()  # NameConflict, remembered in the Ready condition
    world.remove_pod(f"{NAME}-0")
    await world.reconcile(fail=FAILURES[0])  # creating ours fails
    status = world.redis["status"]
    assert ready_condition(status)["reason"] == NAME_CONFLICT  # still known
    assert REPLICA_FAILURE in [c["type"] for c in status["conditions"]]
    await world.converge()
    await world.assert_converged()
    assert EventKey.POD_RECREATED not in world.events  # no pod of ours was ever deleted


async def test_a_failed_pass_that_forgets_no_conflict_reports_the_plans_ready_condition() -> None:
    world = await converged_world(replicas=1)
    world.edit_spec(replicas=2)
    await world.reconcile(fail=FAILURES[0])
    status = world.redis["status"]
    assert ready_condition(status)["reason"] == SCALING_UP
    assert status["observedGeneration"] == 1 and status["targetReplicas"] == 1

    world.edit_spec(replicas=3)
    world.squat(f"{NAME}-2")  # a new conflict, told by a pass whose create of -1 fails
    p = await world.reconcile(fail=FAILURES[0])
    assert EventKey.NAME_CONFLICT in keys(p) and len(p.create_pods) == 1
    assert ready_condition(world.redis["status"])["reason"] == NAME_CONFLICT


async def test_only_new_conflicts_warn() -> None:
    world = World(make_redis(replicas=3))
    world.squat(f"{NAME}-1")
    await world.converge()
    world.delete_pod(f"{NAME}-2")  # ours goes, and a foreign pod takes its name
    world.settle()
    world.squat(f"{NAME}-2")
    p = await world.reconcile()
    assert keys(p) == [EventKey.NAME_CONFLICT]
    assert dict(p.events[0].args)["children"] == f"pod/{NAME}-2"

    # One conflict resolves, one stays: nothing to warn about, and the pod that takes the
    # freed name is not one someone deleted.
    world.remove_pod(f"{NAME}-1")
    p = await world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert not p.events


def replication_redis() -> Redis:
    body = make_redis(replicas=2)
    body["spec"] |= {"mode": "replication", "auth": {"disabled": True}}
    return Redis.from_object(body)


def test_replication_mode_wants_its_role_services_and_a_foreign_one_is_a_conflict() -> None:
    redis = replication_redis()
    p = plan(redis, [], None, now=NOW)
    assert [s["metadata"]["name"] for s in p.create_services] == [
        f"{NAME}-primary",
        f"{NAME}-replicas",
    ]
    (primary, _) = p.create_services
    foreign = {"metadata": {"name": f"{NAME}-primary", "namespace": NS, "uid": "x"}}
    p = plan(redis, [], None, now=NOW, role_services={f"{NAME}-primary": foreign})
    assert [s["metadata"]["name"] for s in p.create_services] == [f"{NAME}-replicas"]
    assert p.status is not None
    assert f"service/{NAME}-primary" in ready_condition(p.status)["message"]
    # Owned ones are kept as they are, and removed from a Redis that does not want them.
    p = plan(redis, [], None, now=NOW, role_services={f"{NAME}-primary": primary})
    assert not p.patch_services
    standalone = Redis.from_object(make_redis(replicas=2))
    owned = primary | {"metadata": primary["metadata"] | {"uid": "svc-uid"}}
    p = plan(standalone, [], None, now=NOW, role_services={f"{NAME}-primary": owned})
    assert p.delete_services == (ChildRef(f"{NAME}-primary", "svc-uid"),)


def test_a_scale_down_never_deletes_the_pod_labelled_primary() -> None:
    redis = replication_redis()
    pods = []
    for ordinal in range(3):
        pod = desired_pod(redis, ordinal)
        pod["metadata"]["uid"] = f"uid-{ordinal}"
        pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        if ordinal == 2:
            pod["metadata"]["labels"][ROLE_LABEL] = "primary"
        pods.append(pod)
    p = plan(redis, pods, None, now=NOW)
    assert p.delete_pods == () and p.requeue is Requeue.WAIT
    pods[2]["metadata"]["labels"][ROLE_LABEL] = "replica"  # switched over
    assert names(plan(redis, pods, None, now=NOW).delete_pods) == [f"{NAME}-2"]
