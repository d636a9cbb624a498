"""Prometheus metrics of the operator: reconcile passes, the children it writes, its work queue.

Everything is registered on a :class:`~prometheus_client.CollectorRegistry` passed in (a private
one by default), never on the process-wide default registry, so that tests can make as many as
they like. The manager gives the event recorder's broadcaster the same registry, so one scrape
of ``/metrics`` shows both (``event_recorder_*``, see ``event_recorder/metrics.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from redis_operator.api import ChildKind
from redis_operator.messages import EventKey

PREFIX = "redis_operator"

#: Seconds; a pass with nothing to do takes microseconds, one that writes takes API round trips.
PASS_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Outcome(StrEnum):
    """How one reconcile pass of one Redis ended."""

    NOOP = "noop"
    """Nothing to do: the pass wrote nothing (or the Redis is gone, or its namespace is being
    deleted: then a create it tried was refused, quietly)."""
    ACTED = "acted"
    """The pass had work (children, status, Events, the legacy finalizer) and none of it
    failed."""
    FAILED = "failed"
    """A child write failed: Warning Event and condition written; retried with backoff, or
    after a fixed delay if the error is terminal."""
    WAITING = "waiting"
    """The pass was put off: its earlier writes are not observed yet."""
    ERROR = "error"
    """The pass raised: an API error outside the children (retried with backoff, or after a
    fixed delay if terminal) or a bug."""


class ErrorReason(StrEnum):
    """Why a pass ended with :attr:`Outcome.ERROR`."""

    API_ERROR = "api_error"
    """The API answered with an error (e.g. a conflict, 5xx or 403 on a status or finalizer
    write)."""
    TRANSPORT_ERROR = "transport_error"
    """The API did not answer (connection refused or reset, timeout)."""
    UNEXPECTED = "unexpected"
    """Anything else: a bug; the worker logs the traceback and backs the key off."""


_VERBS = {
    EventKey.FAILED_CREATE: "create",
    EventKey.FAILED_DELETE: "delete",
    EventKey.FAILED_UPDATE: "patch",
}

#: The child writes the controller makes: pods are created and deleted, Services created and
#: patched (the garbage collector deletes them with their Redis).
_WRITES = (
    (ChildKind.POD, "create"),
    (ChildKind.POD, "delete"),
    (ChildKind.SERVICE, "create"),
    (ChildKind.SERVICE, "patch"),
    (ChildKind.SERVICE, "delete"),
)


@dataclass(frozen=True)
class ReplicaSample:
    """One replica of a Redis in replication mode as a step observed it: its link to the
    primary and its lag in bytes (None when not known)."""

    pod: str
    linked: bool
    lag_bytes: int | None


def process_registry() -> CollectorRegistry:
    """A new registry with the process's own metrics (``process_*``, ``python_*``), as the
    default registry has them: CPU, memory, open file descriptors, GC."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class OperatorMetrics:
    """The operator's counters, histogram and gauge, registered on one registry.

    Register them once per registry: a second :class:`OperatorMetrics` on the same registry
    fails with a duplicate-timeseries error, as prometheus_client does for any collector.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

        self.passes = counter("reconcile", "Reconcile passes, by outcome.", ("outcome",))
        self.pass_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Duration of reconcile passes, by outcome.",
            ("outcome",),
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self.errors = counter(
            "reconcile_errors",
            "Reconcile passes that raised (outcome=error), by reason.",
            ("reason",),
        )
        self.child_write_failures = counter(
            "child_write_failures",
            "Pod and Service writes that failed (a Failed* Warning Event), by kind and verb.",
            ("kind", "verb"),
        )
        self.pods_created = counter("pods_created", "Pods created.")
        self.pods_deleted = counter("pods_deleted", "Pods deleted.")
        self.pods_recreated = counter(
            "pods_recreated", "Pods recreated after someone else deleted them (PodRecreated)."
        )
        self.services_created = counter("services_created", "Services created.")
        redis_labels = ("namespace", "redis")
        pod_labels = (*redis_labels, "pod")
        self.primary = gauge(
            "replication_primary",
            "Replication mode: 1 on the pod that is primary, 0 on the replicas.",
            pod_labels,
        )
        self.connected_replicas = gauge(
            "replication_connected_replicas",
            "Replication mode: replicas whose link to the primary is up.",
            redis_labels,
        )
        self.lag_bytes = gauge(
            "replication_lag_bytes",
            "Replication mode: the primary's offset minus the replica's, per linked replica.",
            pod_labels,
        )
        self.failovers = counter(
            "failovers", "Replication mode: replicas promoted (FailoverCompleted).", redis_labels
        )
        self._replication_series: dict[tuple[str, str], set[str]] = {}
        self.queue_depth = gauge(
            "workqueue_depth",
            "Redis keys waiting in the work queue for a worker (not counting delayed retries).",
        )
        # Every label value from the start: a series that appears only on first use breaks
        # rate() and alerts like `increase(..._errors_total[5m]) > 0`.
        for outcome in Outcome:
            self.passes.labels(outcome=outcome.value)
            self.pass_seconds.labels(outcome=outcome.value)
        for reason in ErrorReason:
            self.errors.labels(reason=reason.value)
        for kind, verb in _WRITES:
            self.child_write_failures.labels(kind=kind.value, verb=verb)

    def observe_pass(self, outcome: Outcome, seconds: float) -> None:
        """One reconcile pass ended with ``outcome`` after ``seconds``."""
        self.passes.labels(outcome=outcome.value).inc()
        self.pass_seconds.labels(outcome=outcome.value).observe(seconds)

    def reconcile_error(self, reason: ErrorReason) -> None:
        """A pass raised (observe it with :attr:`Outcome.ERROR` too)."""
        self.errors.labels(reason=reason.value).inc()

    def child_created(self, kind: ChildKind) -> None:
        (self.pods_created if kind is ChildKind.POD else self.services_created).inc()

    def pod_deleted(self) -> None:
        self.pods_deleted.inc()

    def pod_recreated(self) -> None:
        self.pods_recreated.inc()

    def child_write_failed(self, kind: str, failure: EventKey) -> None:
        """A write of a ``kind`` child failed; ``failure`` is the Failed* Event recorded."""
        self.child_write_failures.labels(kind=kind, verb=_VERBS[failure]).inc()

    def track_queue_depth(self, depth: Callable[[], int]) -> None:
        """Read the work queue's depth at each scrape."""
        self.queue_depth.set_function(depth)

    def observe_replication(
        self, namespace: str, redis: str, primary: str | None, replicas: Iterable[ReplicaSample]
    ) -> None:
        """What a replication step of a Redis saw; the series of pods it no longer has go."""
        samples = list(replicas)
        pods = {s.pod for s in samples} | ({primary} if primary else set())
        self._drop_pods(namespace, redis, keep=pods)
        self._replication_series[(namespace, redis)] = pods
        if primary is not None:
            self.primary.labels(namespace, redis, primary).set(1)
        for sample in samples:
            self.primary.labels(namespace, redis, sample.pod).set(0)
            if sample.linked and sample.lag_bytes is not None:
                self.lag_bytes.labels(namespace, redis, sample.pod).set(sample.lag_bytes)
            else:
                _remove(self.lag_bytes, namespace, redis, sample.pod)
        linked = sum(1 for s in samples if s.linked)
        self.connected_replicas.labels(namespace, redis).set(linked)
        self.failovers.labels(namespace, redis)

    def failed_over(self, namespace: str, redis: str) -> None:
        """A replica of the Redis was promoted after its primary was lost."""
        self.failovers.labels(namespace, redis).inc()

    def forget_redis(self, namespace: str, redis: str) -> None:
        """The Redis is going: its replication series go with it."""
        self._drop_pods(namespace, redis, keep=set())
        self._replication_series.pop((namespace, redis), None)
        _remove(self.connected_replicas, namespace, redis)
        _remove(self.failovers, namespace, redis)

    def _drop_pods(self, namespace: str, redis: str, *, keep: set[str]) -> None:
        for pod in self._replication_series.get((namespace, redis), set()) - keep:
            _remove(self.primary, namespace, redis, pod)
            _remove(self.lag_bytes, namespace, redis, pod)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    """Drop one labelled series if it exists (prometheus_client raises KeyError otherwise)."""
    try:
        metric.remove(*labels)
    except KeyError:
        return
