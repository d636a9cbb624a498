"""The operator's metrics: every series exists from the start, and the counters move.

What a reconcile pass counts is tested with the reconciler (test_reconciler.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from event_recorder import EventBroadcaster, InMemorySink
from redis_operator.api import ChildKind
from redis_operator.messages import EventKey
from redis_operator.metrics import ErrorReason, OperatorMetrics, Outcome, process_registry


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
    assert value(registry, failures, kind="service", verb="create") == 0
    # A role Service a Redis does not want is deleted; pods are never patched by the planner.
    assert value(registry, failures, kind="service", verb="delete") == 0
    assert registry.get_sample_value(failures, {"kind": "pod", "verb": "patch"}) is None
    for name in ("pods_created", "pods_deleted", "pods_recreated", "services_created"):
        assert value(registry, f"redis_operator_{name}_total") == 0
    assert registry.get_sample_value("redis_operator_services_deleted_total") is None


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
    metrics.pod_deleted()
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
    meta = {"name": "my-op-redis", "namespace": "ns", "uid": "redis-uid"}
    redis = {"apiVersion": "myapp.tangx.in/v1", "kind": "Redis", "metadata": meta}
    recorder.event(redis, "Normal", "ScalingUp", "my-op-redis replicas set to 2")
    await broadcaster.shutdown(timeout=5)
    text = generate_latest(registry).decode()
    assert 'event_recorder_events_recorded_total{type="Normal"} 1.0' in text
    assert 'event_recorder_api_writes_total{result="success",verb="create"} 1.0' in text
    assert "redis_operator_reconcile_total" in text
