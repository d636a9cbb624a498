"""Prometheus counters of the recorder: what callers recorded and what reached the API."""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from event_recorder.event import EVENT_TYPES
from event_recorder.writes import Verb

WRITE_RESULTS = ("success", "api_error", "transport_error")


class RecorderMetrics:
    """The counters, registered once per registry.

    Broadcasters sharing a registry share the counters (registering twice would
    fail), so use :func:`metrics_for` rather than this constructor.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"event_recorder_{name}", doc, labels, registry=registry)

        self.recorded = counter(
            "events_recorded", "Events accepted from callers, by type.", ("type",)
        )
        self.refused = counter(
            "events_refused",
            "Events refused before correlation (invalid_type, invalid_object).",
            ("reason",),
        )
        self.aggregated = counter(
            "events_aggregated", "Events folded into a '(combined from similar events)' Event."
        )
        self.deduplicated = counter(
            "events_deduplicated", "Repeats counted on an existing Event instead of a new one."
        )
        self.spam_filtered = counter(
            "events_spam_filtered", "Writes skipped by the per-object spam filter."
        )
        self.dropped = counter(
            "events_dropped", "Writes dropped unsent (queue_full, shutdown).", ("reason",)
        )
        self.failed = counter(
            "events_failed",
            "Writes given up on (rejected, retries_exhausted, unexpected).",
            ("reason",),
        )
        self.api_writes = counter(
            "api_writes", "API calls writing Events, by verb and result.", ("verb", "result")
        )
        # The hot path resolves label children once, not on every call.
        self.recorded_by_type = {t: self.recorded.labels(type=t) for t in EVENT_TYPES}
        for verb in Verb:
            for result in WRITE_RESULTS:
                self.api_writes.labels(verb=verb.value, result=result)


_lock = threading.Lock()
_by_registry: WeakKeyDictionary[CollectorRegistry, RecorderMetrics] = WeakKeyDictionary()


def metrics_for(registry: CollectorRegistry | None = None) -> RecorderMetrics:
    """The counters in ``registry`` (the default Prometheus registry when None)."""
    target = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = _by_registry[target] = RecorderMetrics(target)
        return metrics
