"""The Prometheus counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from event_recorder import (
    ApiStatusError,
    EventBroadcaster,
    InMemorySink,
    RecorderOptions,
    TransportError,
    Verb,
    metrics_for,
)
from tests.unit.event_recorder.support import (
    BroadcasterFactory,
    ManualSleep,
    redis,
    sample,
    settle,
)


async def test_counters_follow_what_happened(
    make_broadcaster: BroadcasterFactory,
    sink: InMemorySink,
    sleep: ManualSleep,
    registry: CollectorRegistry,
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(queue_size=40))
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")

    for _ in range(30):  # 1 create, 24 patches, 5 spam-filtered
        recorder.event(redis("a"), "Normal", "Same", "same message")
    for i in range(11):  # 9 creates, 1 combined create, 1 combined patch
        recorder.event(redis("b"), "Warning", "Varying", f"message {i}")
    recorder.event(redis("c"), "Deleting", "Bad", "bad type")
    await broadcaster.flush()

    sink.fail(ApiStatusError(403, "forbidden"))
    recorder.event(redis("d"), "Normal", "Forbidden", "m")
    sink.fail(TransportError("reset"))
    recorder.event(redis("e"), "Normal", "Flaky", "m")
    await settle()
    await sleep.advance(10)
    await broadcaster.flush()

    assert sample(registry, "events_recorded", type="Normal") == 32
    assert sample(registry, "events_recorded", type="Warning") == 11
    assert sample(registry, "events_refused", reason="invalid_type") == 1
    assert sample(registry, "events_aggregated") == 2
    assert sample(registry, "events_deduplicated") == 29 + 1
    assert sample(registry, "events_spam_filtered") == 5
    assert sample(registry, "events_failed", reason="rejected") == 1
    assert sample(registry, "api_writes", verb="create", result="success") == 1 + 10 + 1
    assert sample(registry, "api_writes", verb="patch", result="success") == 24 + 1
    assert sample(registry, "api_writes", verb="create", result="api_error") == 1
    assert sample(registry, "api_writes", verb="create", result="transport_error") == 1
    assert len(sink.writes(Verb.CREATE)) == 12
    await broadcaster.shutdown()


async def test_drops_are_counted_by_reason(
    make_broadcaster: BroadcasterFactory, registry: CollectorRegistry
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(queue_size=1))
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis("a"), "Normal", "R", "m")
    recorder.event(redis("b"), "Normal", "R", "m")
    await broadcaster.shutdown()  # never started: the queued write is lost
    recorder.event(redis("c"), "Normal", "R", "m")

    assert sample(registry, "events_dropped", reason="queue_full") == 1
    assert sample(registry, "events_dropped", reason="shutdown") == 2


def test_broadcasters_sharing_a_registry_share_the_counters() -> None:
    registry = CollectorRegistry()
    first = EventBroadcaster(InMemorySink(), registry=registry)
    second = EventBroadcaster(InMemorySink(), registry=registry)
    first.new_recorder("A").event(redis(), "Normal", "R", "m")
    second.new_recorder("B").event(redis(), "Normal", "R", "m")

    assert sample(registry, "events_recorded", type="Normal") == 2
    assert metrics_for(registry) is metrics_for(registry)
    assert metrics_for(registry) is not metrics_for(CollectorRegistry())


def test_all_series_exist_from_the_start_so_rates_work() -> None:
    registry = CollectorRegistry()
    metrics_for(registry)

    assert (
        registry.get_sample_value(
            "event_recorder_api_writes_total", {"verb": "patch", "result": "transport_error"}
        )
        == 0
    )
    assert (
        registry.get_sample_value("event_recorder_events_recorded_total", {"type": "Warning"}) == 0
    )
