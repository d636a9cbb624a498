"""The reconcile planner, rule by rule, and in a simulated cluster until it converges.

`World` stands in for the apiserver, the kubelet and the controller: it applies a plan's effects
the way the controller is meant to (events, actions, then `status_after`), and lets pods become
Ready or finish terminating when told to.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_operator.children import desired_pod, desired_service, is_ready, pod_name
from redis_operator.messages import EventKey
from redis_operator.planning import (
    ALL_REPLICAS_READY,
    NAME_CONFLICT,
    PODS_NOT_READY,
    READY,
    REPLICA_FAILURE,
    REQUEUE_CONFLICT_SECONDS,
    REQUEUE_WAIT_SECONDS,
    SCALING_DOWN,
    SCALING_UP,
    UPDATING,
    ChildRef,
    Failure,
    Plan,
    plan,
    plan_deletion,
    status_after,
    with_failure,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NAME = "my-op-redis"
UID = "redis-uid"


def make_redis(
    replicas: int = 2, image: str = "redis:5-alpine", port: int = 8333, generation: int = 1
) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": NAME, "namespace": "ns", "uid": UID, "generation": generation},
        "spec": {"replicas": replicas, "image": image, "port": port},
    }


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
    """A namespace with one Redis, its children, a kubelet and the controller's memory."""

    def __init__(self, redis: dict[str, Any]) -> None:
        self.redis = redis
        self.pods: dict[str, dict[str, Any]] = {}
        self.service: dict[str, Any] | None = None
        self.deleted_by_us: set[str] = set()
        self.events: list[EventKey] = []
        self.recreated: list[str] = []  # pods reported as deleted by someone else
        self.deleted_by_others: set[str] = set()
        self.clock = NOW
        self._uids = itertools.count()

    # -- the controller --------------------------------------------------------------------
    def plan(self) -> Plan:
        return plan(
            self.redis,
            list(self.pods.values()),
            self.service,
            frozenset(self.deleted_by_us),
            now=self.clock,
        )

    def reconcile(self) -> Plan:
        """One pass; also checks that nothing it did is done or told again by the next pass."""
        p = self.plan()
        self.apply(p)
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

    def apply(self, p: Plan, *, fail: bool = False) -> None:
        """Carry out the plan; with `fail`, the first pod action fails and the rest is skipped."""
        self.clock += timedelta(seconds=1)
        self.events += keys(p)
        self.recreated += [str(e.args["pod"]) for e in p.events if e.key is EventKey.POD_RECREATED]
        failure = None
        if fail and (p.create_pods or p.delete_pods or p.replace_pods):
            failure = Failure("FailedCreate", "injected")
            p = Plan()
        for body in p.create_pods:
            name = body["metadata"]["name"]
            assert name not in self.pods, f"{name} created twice"
            self.pods[name] = self._new(body) | {"status": {"phase": "Pending"}}
            self.deleted_by_us.discard(name)
        for ref in p.delete_pods + p.replace_pods:
            pod = self.pods[ref.name]
            assert pod["metadata"]["uid"] == ref.uid
            assert pod["metadata"]["ownerReferences"][0]["uid"] == UID, "deleted a foreign pod"
            self._terminate(pod)
            self.deleted_by_us.add(ref.name)
        if p.create_service is not None:
            assert self.service is None
            self.service = self._new(p.create_service)
        if p.patch_service is not None:
            assert self.service is not None
            spec = self.service["spec"]
            for key, value in p.patch_service["spec"].items():
                if isinstance(value, dict):
                    merged = {**spec.get(key, {}), **value}
                    spec[key] = {k: v for k, v in merged.items() if v is not None}
                else:
                    spec[key] = value
        status = status_after(self.redis, p, failure=failure, now=self.clock)
        if status is not None:
            self.redis["status"] = status

    def _new(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = f"uid-{next(self._uids)}"
        return obj

    def _terminate(self, pod: dict[str, Any]) -> None:
        pod["metadata"].setdefault("deletionTimestamp", self.clock.isoformat())

    # -- the kubelet -----------------------------------------------------------------------
    def progress(self, name: str) -> None:
        """The pod makes one step: a terminating pod goes, a new one becomes Ready."""
        pod = self.pods[name]
        if "deletionTimestamp" in pod["metadata"]:
            del self.pods[name]
        elif not is_foreign(pod):
            pod["status"] = {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
            }

    def settle(self) -> None:
        for name in list(self.pods):
            self.progress(name)

    # -- users -----------------------------------------------------------------------------
    def edit_spec(self, **changes: Any) -> None:
        self.redis["spec"] |= changes
        self.redis["metadata"]["generation"] += 1

    def delete_pod(self, name: str) -> None:
        if name in self.pods:
            self._terminate(self.pods[name])
            self.deleted_by_others.add(name)

    def converge(self, passes: int = 60) -> Plan:
        """Reconcile and let the kubelet work until neither has anything left to do."""
        for _ in range(passes):
            p = self.reconcile()
            kubelet_done = all(is_ready(pod) or is_foreign(pod) for pod in self.pods.values())
            if p.is_empty and kubelet_done:
                return p
            self.settle()
        raise AssertionError("did not converge")

    def assert_converged(self) -> None:
        spec = self.redis["spec"]
        expected = {pod_name(NAME, o) for o in range(spec["replicas"])}
        owned = {n for n, pod in self.pods.items() if not is_foreign(pod)}
        foreign = set(self.pods) - owned
        assert owned == expected - foreign
        for name in owned:
            (container,) = self.pods[name]["spec"]["containers"]
            assert container["image"] == spec["image"]
            assert container["ports"][0]["containerPort"] == spec["port"]
            assert is_ready(self.pods[name])
        assert self.service is not None
        assert self.service["spec"]["ports"][0]["port"] == spec["port"]
        status = self.redis["status"]
        assert status["observedGeneration"] == self.redis["metadata"]["generation"]
        assert status["replicas"] == status["readyReplicas"] == len(owned)
        conflicted = bool(foreign & expected)
        assert ready_condition(status)["status"] == ("False" if conflicted else "True")
        assert self.plan().is_empty


def converged_world(replicas: int = 2) -> World:
    world = World(make_redis(replicas=replicas))
    world.converge()
    world.events.clear()
    return world


# -- creation and scaling ---------------------------------------------------------------------


def test_first_pass_creates_everything_lowest_first_and_announces_scale_up() -> None:
    p = plan(make_redis(replicas=3), [], None, now=NOW)
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [
        f"{NAME}-0",
        f"{NAME}-1",
        f"{NAME}-2",
    ]
    assert p.create_pods[0] == desired_pod(make_redis(replicas=3), 0)
    assert p.create_service == desired_service(make_redis(replicas=3))
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
    assert p.requeue_after is None


def test_first_creation_with_zero_replicas_announces_nothing() -> None:
    p = plan(make_redis(replicas=0), [], None, now=NOW)
    assert not p.create_pods and not p.events and p.create_service is not None


def test_steady_state_is_an_empty_plan() -> None:
    world = converged_world()
    p = world.plan()
    assert p == Plan() and p.is_empty and p.status is None
    assert ready_condition(world.redis["status"])["reason"] == ALL_REPLICAS_READY
    assert world.redis["status"]["replicas"] == 2


def test_pods_becoming_ready_update_the_status_without_events() -> None:
    world = World(make_redis(replicas=2))
    world.reconcile()
    world.settle()
    p = world.reconcile()
    assert p.status is not None and not p.events and not p.has_actions
    assert p.status["readyReplicas"] == 2
    assert ready_condition(p.status)["status"] == "True"
    assert ready_condition(p.status)["lastTransitionTime"] == "2024-05-01T12:00:01Z"


def test_scale_2_3_1_3() -> None:
    world = converged_world(replicas=2)

    world.edit_spec(replicas=3)
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-2"]
    assert keys(p) == [EventKey.SCALING_UP]
    assert dict(p.events[0].args) == {"name": NAME, "replicas": 3}
    world.converge()

    world.edit_spec(replicas=1)
    p = world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-2", f"{NAME}-1"]
    assert keys(p) == [EventKey.SCALING_DOWN]
    assert p.status is not None and ready_condition(p.status)["reason"] == SCALING_DOWN

    # Scaled up again before the deleted pods are gone: wait for them, then recreate them
    # without taking them for pods someone else deleted.
    world.edit_spec(replicas=3)
    p = world.reconcile()
    assert keys(p) == [EventKey.SCALING_UP]
    assert not p.create_pods and p.requeue_after == REQUEUE_WAIT_SECONDS
    world.converge()
    world.assert_converged()
    assert world.events == [
        EventKey.SCALING_UP,
        EventKey.SCALING_DOWN,
        EventKey.SCALING_UP,
    ]


def test_net_zero_change_between_passes_announces_nothing() -> None:
    world = converged_world(replicas=2)
    world.edit_spec(replicas=5)
    world.edit_spec(replicas=2)
    p = world.reconcile()
    assert not p.events and not p.has_actions
    assert p.status is not None and p.status["observedGeneration"] == 3


def test_image_change_announces_no_scaling() -> None:
    world = converged_world(replicas=2)
    world.edit_spec(image="redis:6-alpine")
    p = world.reconcile()
    assert EventKey.SCALING_UP not in keys(p) and EventKey.SCALING_DOWN not in keys(p)


def test_scale_to_zero() -> None:
    world = converged_world(replicas=2)
    world.edit_spec(replicas=0)
    p = world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-1", f"{NAME}-0"]
    world.converge()
    world.assert_converged()
    assert world.pods == {}
    assert ready_condition(world.redis["status"])["status"] == "True"


# -- recreation -------------------------------------------------------------------------------


def test_pod_deleted_by_someone_else_is_recreated_with_a_warning() -> None:
    world = converged_world(replicas=3)
    world.delete_pod(f"{NAME}-1")

    p = world.reconcile()  # still terminating: wait, do not create under its name
    assert not p.create_pods and not p.events
    assert p.requeue_after == REQUEUE_WAIT_SECONDS
    assert p.status is not None and p.status["replicas"] == 2

    world.settle()
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert keys(p) == [EventKey.POD_RECREATED]
    assert dict(p.events[0].args) == {"pod": f"{NAME}-1"}
    world.converge()
    world.assert_converged()
    assert world.events == [EventKey.POD_RECREATED]


def test_pod_deleted_by_us_is_not_reported_as_recreated() -> None:
    redis = converged_world(replicas=2).redis
    p = plan(redis, [], desired_service(redis), frozenset({f"{NAME}-0", f"{NAME}-1"}), now=NOW)
    assert len(p.create_pods) == 2 and not p.events
    p = plan(redis, [], desired_service(redis), frozenset({f"{NAME}-0"}), now=NOW)
    assert keys(p) == [EventKey.POD_RECREATED]


def test_finished_pod_is_deleted_to_be_recreated() -> None:
    world = converged_world(replicas=2)
    world.pods[f"{NAME}-0"]["status"] = {"phase": "Failed", "reason": "Evicted"}
    p = world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]
    assert keys(p) == [EventKey.POD_FINISHED]
    assert dict(p.events[0].args) == {"pod": f"{NAME}-0", "phase": "Failed"}
    assert p.status is not None and p.status["replicas"] == 1
    world.converge()
    world.assert_converged()
    assert world.events == [EventKey.POD_FINISHED]


def test_stray_owned_pods_are_deleted() -> None:
    world = converged_world(replicas=1)
    stray = desired_pod(world.redis, 0)
    stray["metadata"] |= {"name": f"{NAME}-abc", "uid": "stray"}
    world.pods[f"{NAME}-abc"] = stray
    p = world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-abc"]
    world.converge()
    world.assert_converged()


# -- replacement ------------------------------------------------------------------------------


def unavailable(world: World) -> int:
    spec = world.redis["spec"]
    return sum(
        1
        for o in range(spec["replicas"])
        if (pod := world.pods.get(pod_name(NAME, o))) is None or not is_ready(pod)
    )


@pytest.mark.parametrize("change", [{"image": "redis:6-alpine"}, {"port": 7000}])
def test_stale_pods_are_replaced_one_at_a_time(change: dict[str, Any]) -> None:
    world = converged_world(replicas=3)
    world.edit_spec(**change)
    replaced: list[str] = []
    for _ in range(40):
        p = world.reconcile()
        assert len(p.replace_pods) <= 1
        replaced += names(p.replace_pods)
        assert unavailable(world) <= 1, "more than one pod down at once"
        if p.is_empty:
            break
        # The kubelet handles one pod at a time, so each wait is observed.
        pending = [n for n, pod in world.pods.items() if not is_ready(pod)]
        if pending:
            world.progress(pending[0])
    world.assert_converged()
    assert replaced == [f"{NAME}-2", f"{NAME}-1", f"{NAME}-0"]
    assert world.events.count(EventKey.POD_REPLACED) == 3
    assert EventKey.POD_RECREATED not in world.events


def test_replacement_waits_for_the_previous_one_to_be_ready() -> None:
    world = converged_world(replicas=2)
    world.edit_spec(image="redis:6-alpine")
    p = world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-1"]
    assert p.status is not None and ready_condition(p.status)["reason"] == UPDATING

    p = world.reconcile()  # the old pod is terminating
    assert not p.has_actions and p.requeue_after == REQUEUE_WAIT_SECONDS

    world.progress(f"{NAME}-1")  # gone
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert not p.events  # we deleted it ourselves

    p = world.reconcile()  # the replacement is not Ready yet: the next one waits
    assert not p.has_actions and p.requeue_after == REQUEUE_WAIT_SECONDS

    world.progress(f"{NAME}-1")  # Ready
    p = world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]


def test_no_replacement_while_another_pod_is_not_ready() -> None:
    world = converged_world(replicas=2)
    world.pods[f"{NAME}-0"]["status"] = {"phase": "Running", "conditions": []}
    world.edit_spec(image="redis:6-alpine")
    p = world.reconcile()
    # -0 is not Ready and stale: replacing it loses nothing; -1 is Ready and waits.
    assert names(p.replace_pods) == [f"{NAME}-0"]


def test_no_ready_pod_is_replaced_while_another_is_not_ready() -> None:
    world = converged_world(replicas=2)
    world.pods[f"{NAME}-0"]["status"] = {"phase": "Running", "conditions": []}
    redis = copy.deepcopy(world.redis)
    redis["spec"]["image"] = "redis:6-alpine"
    redis["metadata"]["generation"] = 2
    # Only -1 is stale (as if -0 had already been replaced and is starting).
    world.pods[f"{NAME}-0"]["spec"]["containers"][0]["image"] = "redis:6-alpine"
    p = plan(redis, list(world.pods.values()), world.service, now=NOW)
    assert not p.replace_pods and p.requeue_after == REQUEUE_WAIT_SECONDS


def test_no_replacement_while_a_pod_is_terminating() -> None:
    world = converged_world(replicas=3)
    world.edit_spec(replicas=2, image="redis:6-alpine")
    p = world.reconcile()
    assert names(p.delete_pods) == [f"{NAME}-2"]
    assert names(p.replace_pods) == [f"{NAME}-1"]  # -2 was not terminating yet
    world.progress(f"{NAME}-1")  # gone
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    world.progress(f"{NAME}-1")  # the replacement is Ready; -2 is still terminating
    p = world.reconcile()
    assert not p.has_actions and p.requeue_after == REQUEUE_WAIT_SECONDS
    world.progress(f"{NAME}-2")  # gone
    p = world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-0"]


def test_pods_that_never_started_do_not_block_each_other() -> None:
    world = World(make_redis(replicas=2, image="redis:typo"))
    world.reconcile()  # both pods created, neither ever becomes Ready
    world.edit_spec(image="redis:6-alpine")
    p = world.reconcile()
    assert names(p.replace_pods) == [f"{NAME}-1"]
    world.converge()
    world.assert_converged()


# -- conflicts --------------------------------------------------------------------------------


def test_pod_name_taken_by_a_foreign_pod() -> None:
    world = World(make_redis(replicas=2))
    world.pods[f"{NAME}-1"] = foreign_pod(f"{NAME}-1")
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-0"]
    assert keys(p) == [EventKey.SCALING_UP, EventKey.NAME_CONFLICT]
    assert dict(p.events[1].args) == {"name": NAME, "children": f"pod/{NAME}-1"}
    assert p.status is not None
    assert ready_condition(p.status)["reason"] == NAME_CONFLICT
    assert p.requeue_after == REQUEUE_CONFLICT_SECONDS

    world.converge()
    world.assert_converged()
    assert world.events.count(EventKey.NAME_CONFLICT) == 1
    assert world.plan().requeue_after == REQUEUE_CONFLICT_SECONDS

    # Scaling to 3 does not change the conflict: no new warning.
    world.edit_spec(replicas=3)
    assert EventKey.NAME_CONFLICT not in keys(world.converge())
    assert world.events.count(EventKey.NAME_CONFLICT) == 1

    # The foreign pod goes: ours takes its place, Ready again.
    del world.pods[f"{NAME}-1"]
    world.converge()
    world.assert_converged()
    assert ready_condition(world.redis["status"])["reason"] == ALL_REPLICAS_READY

    # It comes back (after ours was deleted): a new warning.
    world.delete_pod(f"{NAME}-1")
    world.settle()
    world.pods[f"{NAME}-1"] = foreign_pod(f"{NAME}-1")
    world.converge()
    assert world.events.count(EventKey.NAME_CONFLICT) == 2


def test_service_name_taken_by_a_foreign_service() -> None:
    redis = make_redis(replicas=1)
    service = {"metadata": {"name": NAME, "uid": "foreign"}, "spec": {"ports": []}}
    p = plan(redis, [], service, now=NOW)
    assert p.create_service is None and p.patch_service is None
    assert keys(p) == [EventKey.SCALING_UP, EventKey.NAME_CONFLICT]
    assert dict(p.events[1].args)["children"] == f"service/{NAME}"


def test_foreign_pods_beyond_the_replicas_are_ignored() -> None:
    world = converged_world(replicas=1)
    world.pods[f"{NAME}-5"] = foreign_pod(f"{NAME}-5")
    assert world.plan().is_empty


def test_pod_of_a_previous_redis_with_the_same_name_is_not_ours() -> None:
    world = converged_world(replicas=1)
    world.redis["metadata"]["uid"] = "new-uid"
    world.redis.pop("status")
    p = world.plan()
    assert EventKey.NAME_CONFLICT in keys(p)
    assert not p.delete_pods and not p.replace_pods


# -- the Service ------------------------------------------------------------------------------


def test_service_recreated_and_patched() -> None:
    world = converged_world(replicas=1)
    world.service = None
    p = world.reconcile()
    assert p.create_service is not None and not p.events
    world.converge()
    assert world.service is not None
    world.service["spec"]["selector"]["extra"] = "x"
    p = world.reconcile()
    assert p.patch_service is not None
    world.converge()
    world.assert_converged()
    assert "extra" not in world.service["spec"]["selector"]


# -- status and failures ----------------------------------------------------------------------


def test_last_transition_time_moves_only_with_the_status() -> None:
    world = converged_world(replicas=2)
    ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    world.clock += timedelta(hours=1)
    world.edit_spec(replicas=3)
    world.reconcile()
    not_ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    assert not_ready_since != ready_since
    world.settle()
    world.reconcile()
    assert ready_condition(world.redis["status"])["lastTransitionTime"] > not_ready_since


def test_condition_carries_the_generation() -> None:
    world = converged_world(replicas=2)
    ready_since = ready_condition(world.redis["status"])["lastTransitionTime"]
    world.edit_spec(replicas=2, image="redis:5-alpine")  # a no-op edit still bumps generation
    p = world.reconcile()
    assert p.status is not None and not p.events and not p.has_actions
    assert p.status["observedGeneration"] == 2
    assert ready_condition(p.status)["observedGeneration"] == 2
    assert ready_condition(p.status)["lastTransitionTime"] == ready_since


def test_failure_is_a_condition_and_the_spec_change_is_not_acknowledged() -> None:
    world = converged_world(replicas=1)
    world.edit_spec(replicas=2)
    p = world.plan()
    failure = Failure("FailedCreate", "pods is forbidden: exceeded quota")
    status = status_after(world.redis, p, failure=failure, now=NOW)
    assert status is not None
    assert status["observedGeneration"] == 1 and status["targetReplicas"] == 1
    failed = next(c for c in status["conditions"] if c["type"] == REPLICA_FAILURE)
    assert failed["status"] == "True" and failed["reason"] == "FailedCreate"
    assert failed["observedGeneration"] == 2
    world.redis["status"] = status

    # The retry announces the change again and does not claim the pod was deleted.
    p = world.plan()
    assert keys(p) == [EventKey.SCALING_UP] and len(p.create_pods) == 1
    # Failing the same way again writes nothing new.
    again = status_after(world.redis, p, failure=failure, now=NOW + timedelta(minutes=1))
    assert again is None or again == world.redis["status"]
    # The retry succeeds: the failure is cleared.
    world.apply(p)
    assert REPLICA_FAILURE not in [c["type"] for c in world.redis["status"]["conditions"]]


def test_stale_failure_is_cleared_by_a_pass_with_nothing_to_do() -> None:
    world = converged_world(replicas=1)
    world.redis["status"] = with_failure(
        world.redis["status"], "FailedDelete", "boom", generation=1, now=NOW
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


def test_not_ready_pods_are_reported() -> None:
    world = converged_world(replicas=2)
    world.pods[f"{NAME}-0"]["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p = world.reconcile()
    assert p.status is not None and not p.has_actions and not p.events
    assert p.status["readyReplicas"] == 1
    condition = ready_condition(p.status)
    assert (condition["reason"], condition["message"]) == (PODS_NOT_READY, "1/2 replicas ready")
    assert p.requeue_after is None


# -- deletion ---------------------------------------------------------------------------------


def test_deletion_deletes_owned_children_and_waits_for_them() -> None:
    world = converged_world(replicas=3)
    world.pods[f"{NAME}-7"] = foreign_pod(f"{NAME}-7")
    world.redis["metadata"]["deletionTimestamp"] = "2024-05-01T13:00:00Z"
    assert world.plan() == Plan()  # the normal planner leaves a deleted Redis alone

    d = plan_deletion(world.redis, list(world.pods.values()), world.service)
    assert names(d.delete_pods) == [f"{NAME}-2", f"{NAME}-1", f"{NAME}-0"]
    assert d.delete_service is not None and d.delete_service.name == NAME
    assert [e.key for e in d.events] == [EventKey.DELETING]
    assert dict(d.events[0].args) == {"name": NAME, "pods": 3}
    assert not d.done and d.requeue_after == REQUEUE_WAIT_SECONDS

    for ref in d.delete_pods:
        world.delete_pod(ref.name)
    assert world.service is not None
    world.service["metadata"]["deletionTimestamp"] = "2024-05-01T13:00:00Z"
    d = plan_deletion(world.redis, list(world.pods.values()), world.service)
    assert not d.delete_pods and d.delete_service is None and not d.events
    assert not d.done

    world.settle()
    d = plan_deletion(world.redis, list(world.pods.values()), None)
    assert d.done and not d.events
    assert list(world.pods) == [f"{NAME}-7"]


def test_deletion_order_puts_stray_pods_last() -> None:
    redis = make_redis(replicas=12)
    pods = [desired_pod(redis, o) for o in (0, 2, 11)]
    stray = desired_pod(redis, 1)
    stray["metadata"]["name"] = f"{NAME}-abc"
    d = plan_deletion(redis, [*pods, stray], None)
    assert names(d.delete_pods) == [f"{NAME}-11", f"{NAME}-2", f"{NAME}-0", f"{NAME}-abc"]
    assert dict(d.events[0].args)["pods"] == 4


def test_times_are_utc() -> None:
    east = datetime(2024, 5, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    p = plan(make_redis(), [], None, now=east)
    assert p.status is not None
    assert ready_condition(p.status)["lastTransitionTime"] == "2024-05-01T12:00:00Z"


def test_deletion_of_an_empty_redis_is_done_at_once() -> None:
    d = plan_deletion(make_redis(replicas=0), [foreign_pod(f"{NAME}-0")], None)
    assert d.done and not d.events


# -- convergence from any history ---------------------------------------------------------------

ACTIONS = st.one_of(
    st.tuples(st.just("reconcile"), st.just(0)),
    st.tuples(st.just("fail"), st.just(0)),
    st.tuples(st.just("progress"), st.integers(0, 5)),
    st.tuples(st.just("scale"), st.integers(0, 5)),
    st.tuples(st.just("image"), st.integers(0, 2)),
    st.tuples(st.just("port"), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("evict"), st.integers(0, 5)),
    st.tuples(st.just("squat"), st.integers(0, 5)),
    st.tuples(st.just("unsquat"), st.integers(0, 5)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replicas=st.integers(0, 4), history=st.lists(ACTIONS, max_size=30))
def test_any_history_converges_to_the_spec_and_then_writes_nothing(
    replicas: int, history: list[tuple[str, int]]
) -> None:
    world = World(make_redis(replicas=replicas))
    for action, n in history:
        name = pod_name(NAME, n)
        if action == "reconcile":
            world.reconcile()
        elif action == "fail":
            world.apply(world.plan(), fail=True)
        elif action == "progress" and name in world.pods:
            world.progress(name)
        elif action == "scale":
            world.edit_spec(replicas=n)
        elif action == "image":
            world.edit_spec(image=["redis:5-alpine", "redis:6-alpine", "redis:7-alpine"][n])
        elif action == "port":
            world.edit_spec(port=[6379, 7000, 8333][n])
        elif action == "delete":
            world.delete_pod(name)
        elif action == "evict" and name in world.pods and not is_foreign(world.pods[name]):
            world.pods[name]["status"] = {"phase": "Failed", "reason": "Evicted"}
        elif action == "squat" and name not in world.pods:
            world.pods[name] = foreign_pod(name)
        elif action == "unsquat" and is_foreign(world.pods.get(name)):
            del world.pods[name]

    before = len(world.events)
    world.converge()
    world.assert_converged()
    told = Counter(world.events[before:])
    assert told[EventKey.SCALING_UP] + told[EventKey.SCALING_DOWN] <= 1
    assert told[EventKey.NAME_CONFLICT] <= 1
    assert set(world.recreated) <= world.deleted_by_others
    final = world.plan()
    assert final.is_empty and final.requeue_after in (None, REQUEUE_CONFLICT_SECONDS)


def test_only_new_conflicts_warn() -> None:
    world = World(make_redis(replicas=3))
    world.pods[f"{NAME}-1"] = foreign_pod(f"{NAME}-1")
    world.converge()
    world.delete_pod(f"{NAME}-2")  # ours goes, and a foreign pod takes its name
    world.settle()
    world.pods[f"{NAME}-2"] = foreign_pod(f"{NAME}-2")
    p = world.reconcile()
    assert keys(p) == [EventKey.NAME_CONFLICT]
    assert dict(p.events[0].args)["children"] == f"pod/{NAME}-2"

    # One conflict resolves, one stays: nothing to warn about, and the pod that takes the
    # freed name is not one someone deleted.
    del world.pods[f"{NAME}-1"]
    p = world.reconcile()
    assert [pod["metadata"]["name"] for pod in p.create_pods] == [f"{NAME}-1"]
    assert not p.events
