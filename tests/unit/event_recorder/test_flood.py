"""Under a flood, correlation comes before the queue: a later Warning is still written."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from event_recorder import InMemorySink, RecorderOptions, Verb
from tests.unit.event_recorder.support import BroadcasterFactory, redis, sample


async def test_a_warning_after_1500_identical_events_is_written(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    """client-go queues the 1,500 raw events in 1,000 slots and drops the Warning behind them."""
    broadcaster = make_broadcaster(RecorderOptions(queue_size=1000))  # not started: no draining
    recorder = broadcaster.new_recorder("RedisOperator")
    for _ in range(1500):
        recorder.event(redis(), "Normal", "Probed", "redis answered PING")
    recorder.event(redis(), "Warning", "PingFailed", "redis did not answer PING")

    assert broadcaster.pending == 26  # the spam filter's 25 writes, then the Warning's create
    assert sample(registry, "events_dropped", reason="queue_full") == 0
    await broadcaster.start()
    await broadcaster.shutdown()
    warnings = [call for call in sink.writes(Verb.CREATE) if call.body["type"] == "Warning"]
    assert [call.body["reason"] for call in warnings] == ["PingFailed"]
