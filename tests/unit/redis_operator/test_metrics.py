"""The operator's metrics: the counters move, and the controller moves them on a pass."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, generate_latest

from event_recorder import EventBroadcaster, FakeRecorder, InMemorySink
from redis_operator.api import FINALIZER, ChildKind
from redis_operator.controller import RedisController
from redis_operator.messages import EventKey
from redis_operator.metrics import ErrorReason, OperatorMetrics, Outcome, process_registry

NS = "ns"
NAME = "my-op-redis"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    sample = registry.get_sample_value(name, labels)
    assert sample is not None, f"no sample {name}{labels}"
    return sample


# -- the metrics object -----------------------------------------------------------------------


def test_every_series_exists_at_zero() -> None:
    registry = CollectorRegistry()
    OperatorMetrics(registry)
    for outcome in Outcome:
        assert value(registry, "redis_operator_reconcile_total", outcome=outcome) == 0
        count = "redis_operator_reconcile_duration_seconds_count"
        assert value(registry, count, outcome=outcome) == 0
    for reason in ErrorReason:
        assert value(registry, "redis_operator_reconcile_errors_total", reason=reason) == 0
    failures = "redis_operator_child_write_failures_total"
    assert value(registry, failures, kind="pod", verb="create") == 0
    assert value(registry, failures, kind="pod", verb="delete") == 0
    assert value(registry, failures, kind="service", verb="patch") == 0
    assert registry.get_sample_value(failures, {"kind": "pod", "verb": "patch"}) is None
    for name in ("pods_created", "pods_deleted", "pods_recreated"):
        assert value(registry, f"redis_operator_{name}_total") == 0
    for name in ("services_created", "services_deleted"):
        assert value(registry, f"redis_operator_{name}_total") == 0


def test_counters_move() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    metrics.observe_pass(Outcome.ACTED, 0.2)
    metrics.observe_pass(Outcome.ACTED, 0.3)
    metrics.observe_pass(Outcome.NOOP, 0.0001)
    metrics.reconcile_error(ErrorReason.TRANSPORT_ERROR)
    metrics.child_created(ChildKind.POD)
    metrics.child_created(ChildKind.POD)
    metrics.child_created(ChildKind.SERVICE)
    metrics.child_deleted(ChildKind.POD)
    metrics.child_deleted(ChildKind.SERVICE)
    metrics.pod_recreated()
    metrics.child_write_failed(ChildKind.SERVICE, EventKey.FAILED_UPDATE)

    assert value(registry, "redis_operator_reconcile_total", outcome="acted") == 2
    assert value(registry, "redis_operator_reconcile_total", outcome="noop") == 1
    seconds = "redis_operator_reconcile_duration_seconds"
    assert value(registry, f"{seconds}_sum", outcome="acted") == pytest.approx(0.5)
    assert value(registry, f"{seconds}_bucket", outcome="acted", le="0.25") == 1
    assert value(registry, f"{seconds}_bucket", outcome="noop", le="0.0005") == 1
    errors = "redis_operator_reconcile_errors_total"
    assert value(registry, errors, reason="transport_error") == 1
    assert value(registry, "redis_operator_pods_created_total") == 2
    assert value(registry, "redis_operator_services_created_total") == 1
    assert value(registry, "redis_operator_pods_deleted_total") == 1
    assert value(registry, "redis_operator_services_deleted_total") == 1
    assert value(registry, "redis_operator_pods_recreated_total") == 1
    failures = "redis_operator_child_write_failures_total"
    assert value(registry, failures, kind="service", verb="patch") == 1


def test_queue_depth_is_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    depth = [3]
    metrics.track_queue_depth(lambda: depth[0])
    assert value(registry, "redis_operator_workqueue_depth") == 3
    depth[0] = 0
    assert value(registry, "redis_operator_workqueue_depth") == 0


def test_registries_are_independent() -> None:
    first, second = OperatorMetrics(), OperatorMetrics()  # private registries: no clash
    first.child_created(ChildKind.POD)
    assert value(first.registry, "redis_operator_pods_created_total") == 1
    assert value(second.registry, "redis_operator_pods_created_total") == 0
    with pytest.raises(ValueError, match="Duplicated"):
        OperatorMetrics(first.registry)


def test_process_registry_has_the_process_metrics() -> None:
    registry = process_registry()
    OperatorMetrics(registry)
    text = generate_latest(registry).decode()
    assert "python_info{" in text
    assert "process_open_fds " in text  # Linux
    assert "redis_operator_pods_created_total 0.0" in text


async def test_recorder_metrics_share_the_registry() -> None:
    registry = CollectorRegistry()
    OperatorMetrics(registry)
    broadcaster = EventBroadcaster(InMemorySink(), registry=registry)
    await broadcaster.start()
    recorder = broadcaster.new_recorder(component="RedisOperator", host="h")
    redis = {"apiVersion": "myapp.tangx.in/v1", "kind": "Redis", "metadata": _meta()}
    recorder.event(redis, "Normal", "ScalingUp", "my-op-redis replicas set to 2")
    await broadcaster.shutdown(timeout=5)
    text = generate_latest(registry).decode()
    assert 'event_recorder_events_recorded_total{type="Normal"} 1.0' in text
    assert 'event_recorder_api_writes_total{result="success",verb="create"} 1.0' in text
    assert "redis_operator_reconcile_total" in text


# -- the controller, on a fake API ------------------------------------------------------------


def _meta(**extra: Any) -> dict[str, Any]:
    return {"name": NAME, "namespace": NS, "uid": "redis-uid", **extra}


class FakeKube:
    """The controller's KubeApi; ``fail`` scripts an error for the next child calls,
    ``fail_redis`` for the next patches of the Redis (finalizers, status)."""

    def __init__(self, controller: RedisController) -> None:
        self.controller = controller
        self.fail: Exception | None = None
        self.fail_redis: Exception | None = None
        self.uids = 0

    async def create(self, kind: ChildKind, namespace: str, body: dict[str, Any]) -> Any:
        if self.fail is not None:
            raise self.fail
        self.uids += 1
        created = copy.deepcopy(body)
        created["metadata"].update(namespace=NS, uid=f"uid-{self.uids}", resourceVersion="1")
        return created

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        if self.fail is not None:
            raise self.fail

    async def patch_redis(
        self, namespace: str, name: str, patch: dict[str, Any], *, status: bool
    ) -> Any:
        if self.fail_redis is not None:
            raise self.fail_redis
        redis = copy.deepcopy(self.controller.store.redis.get(NS, name))
        assert redis is not None
        part = "status" if status else "metadata"
        redis.setdefault(part, {}).update(patch[part])
        return redis


def make_controller() -> tuple[RedisController, FakeKube, CollectorRegistry]:
    api_client: Any = SimpleNamespace()
    registry = CollectorRegistry()
    controller = RedisController(api_client, FakeRecorder(), metrics=OperatorMetrics(registry))
    kube = FakeKube(controller)
    controller.kube = kube  # type: ignore[assignment]
    return controller, kube, registry


def put_redis(controller: RedisController, replicas: int, generation: int) -> None:
    old = controller.store.redis.get(NS, NAME)
    controller.store.redis.upsert(
        {
            "apiVersion": "myapp.tangx.in/v1",
            "kind": "Redis",
            "metadata": _meta(
                generation=generation, resourceVersion=str(generation), finalizers=[FINALIZER]
            ),
            "spec": {"replicas": replicas, "image": "redis:5-alpine", "port": 8333},
            "status": (old or {}).get("status", {}),
        }
    )


def passes(registry: CollectorRegistry) -> dict[str, float]:
    return {o.value: value(registry, "redis_operator_reconcile_total", outcome=o) for o in Outcome}


async def test_controller_counts_passes_and_children() -> None:
    controller, kube, registry = make_controller()
    put_redis(controller, replicas=2, generation=1)

    await controller.reconcile((NS, NAME))
    assert passes(registry)["acted"] == 1
    assert value(registry, "redis_operator_pods_created_total") == 2
    assert value(registry, "redis_operator_services_created_total") == 1
    count = "redis_operator_reconcile_duration_seconds_count"
    assert value(registry, count, outcome="acted") == 1

    await controller.reconcile((NS, NAME))  # status catches up with the pods created
    await controller.reconcile((NS, NAME))  # converged: nothing to do
    assert passes(registry) == {"noop": 1, "acted": 2, "failed": 0, "waiting": 0, "error": 0}

    # Someone else deletes a pod: recreated, and counted as such.
    pod = controller.store.pods.get(NS, f"{NAME}-1")
    assert pod is not None
    controller.store.pods.remove(pod)
    await controller.reconcile((NS, NAME))
    assert value(registry, "redis_operator_pods_recreated_total") == 1
    assert value(registry, "redis_operator_pods_created_total") == 3

    # Scale down: one pod deleted; until its deletion is observed, passes wait.
    put_redis(controller, replicas=1, generation=2)
    await controller.reconcile((NS, NAME))
    assert value(registry, "redis_operator_pods_deleted_total") == 1
    await controller.reconcile((NS, NAME))
    assert passes(registry)["waiting"] == 1
    assert controller.metrics.registry is registry
    assert kube.uids == 4


async def test_controller_counts_failed_writes_and_errors() -> None:
    controller, kube, registry = make_controller()
    put_redis(controller, replicas=1, generation=1)
    errors = "redis_operator_reconcile_errors_total"

    kube.fail = ApiException(status=403, reason="Forbidden")
    await controller.reconcile((NS, NAME))
    assert passes(registry)["failed"] == 1
    failures = "redis_operator_child_write_failures_total"
    assert value(registry, failures, kind="pod", verb="create") == 1
    assert value(registry, failures, kind="service", verb="create") == 1
    assert value(registry, "redis_operator_pods_created_total") == 0

    kube.fail = None
    kube.fail_redis = ApiException(status=409, reason="Conflict")  # the status write
    await controller.reconcile((NS, NAME))
    assert passes(registry)["error"] == 1
    assert value(registry, errors, reason="api_error") == 1

    kube.fail_redis = OSError("connection refused")
    put_redis(controller, replicas=2, generation=2)
    await controller.reconcile((NS, NAME))
    assert value(registry, errors, reason="transport_error") == 1

    kube.fail_redis = RuntimeError("a bug")
    put_redis(controller, replicas=3, generation=3)
    with pytest.raises(RuntimeError):
        await controller.reconcile((NS, NAME))  # the worker logs it and backs off
    assert value(registry, errors, reason="unexpected") == 1
    assert passes(registry)["error"] == 3


async def test_gone_redis_is_a_noop_pass() -> None:
    controller, _, registry = make_controller()
    await controller.reconcile((NS, "gone"))
    assert passes(registry)["noop"] == 1
