"""Writing: PATCH 404, status errors, transport retries, ordering, queue bound, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from event_recorder import (
    ApiStatusError,
    EventAPI,
    EventBroadcaster,
    InMemorySink,
    RecorderOptions,
    TransportError,
    Verb,
)
from tests.unit.event_recorder.support import (
    BroadcasterFactory,
    FakeClock,
    ManualSleep,
    redis,
    sample,
    settle,
)


class HangingSink(InMemorySink):
    """An API server that never answers creates."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        await self.release.wait()
        await super().create(api, namespace, body)


class BrokenSink(InMemorySink):
    """A sink with a bug: it raises something that is not a SinkError."""

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        raise KeyError("bug")


def verbs(sink: InMemorySink) -> list[tuple[str, int | None]]:
    """(verb, count or error status) of every call, in order."""
    result: list[tuple[str, int | None]] = []
    for call in sink.calls:
        if call.error is None:
            result.append((call.verb.value, call.body.get("count")))
        else:
            status = call.error.status if isinstance(call.error, ApiStatusError) else None
            result.append((f"{call.verb.value}!", status))
    return result


async def test_first_occurrence_is_created_and_repeats_are_patched(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator", "my-host")
    for _ in range(3):
        recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await broadcaster.flush()

    assert verbs(sink) == [("create", 1), ("patch", 2), ("patch", 3)]
    (stored,) = sink.events.values()
    assert stored["count"] == 3
    assert stored["firstTimestamp"] == sink.writes(Verb.CREATE)[0].body["firstTimestamp"]


async def test_patch_404_recreates_the_event_under_the_same_name_and_count(
    broadcaster: EventBroadcaster, sink: InMemorySink, clock: FakeClock
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await broadcaster.flush()
    (name,) = [key[1] for key in sink.events]
    sink.events.clear()  # the Event expired (1 h TTL) or was deleted

    clock.advance(90)
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await broadcaster.flush()

    assert verbs(sink) == [("create", 1), ("patch!", 404), ("create", 2)]
    recreated = sink.event("default", name)
    assert recreated["count"] == 2
    assert recreated["firstTimestamp"] != recreated["lastTimestamp"]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 500])
async def test_api_status_error_gives_up_at_once_with_one_log_line(
    broadcaster: EventBroadcaster,
    sink: InMemorySink,
    sleep: ManualSleep,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    sink.fail(ApiStatusError(status, "nope"), times=5, verb=Verb.CREATE)

    with caplog.at_level(logging.WARNING, logger="event_recorder"):
        broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")
        await broadcaster.flush()

    assert verbs(sink) == [("create!", status)]
    assert sleep.delays == []
    assert len(caplog.records) == 1
    assert "will not retry" in caplog.records[0].getMessage()
    assert sample(registry, "events_failed", reason="rejected") == 1


async def test_transport_errors_retry_on_client_gos_schedule_then_give_up(
    broadcaster: EventBroadcaster,
    sink: InMemorySink,
    sleep: ManualSleep,
    registry: CollectorRegistry,
) -> None:
    sink.fail(TransportError("connection refused"), times=100)
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")
    await settle()

    while broadcaster.pending:
        await sleep.advance(10)

    assert len(sink.calls) == 12  # maxTriesPerEvent
    assert sleep.delays == [5.0] + [10.0] * 10  # random()=0.5 of 10 s, then 10 s
    assert sample(registry, "events_failed", reason="retries_exhausted") == 1


async def test_transport_error_then_success(
    broadcaster: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep
) -> None:
    sink.fail(TransportError("timeout"), times=2)
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")
    await settle()
    while broadcaster.pending:
        await sleep.advance(10)

    assert verbs(sink) == [("create!", None), ("create!", None), ("create", 1)]
    assert sleep.delays == [5.0, 10.0]


async def test_429_is_retried(
    broadcaster: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep
) -> None:
    sink.fail(ApiStatusError(429, "Too Many Requests"))
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")
    await settle()
    await sleep.advance(10)

    assert verbs(sink) == [("create!", 429), ("create", 1)]


async def test_a_retrying_event_does_not_hold_up_other_events(
    broadcaster: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep, clock: FakeClock
) -> None:
    sink.fail(TransportError("reset"), times=3, name=f"stuck.{clock.now_ns:x}")
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis("stuck"), "Normal", "R", "m")
    await settle()
    assert sleep.sleeping == 1  # the first event waits out its retry

    for i in range(3):
        recorder.event(redis(f"fine-{i}"), "Normal", "R", "m")
    await settle()

    fine = [c.name for c in sink.writes() if c.name.startswith("fine-")]
    assert len(fine) == 3
    assert not any(c.name.startswith("stuck.") for c in sink.writes())

    while broadcaster.pending:
        await sleep.advance(10)
    assert any(c.name.startswith("stuck.") for c in sink.writes())


async def test_writes_for_one_event_stay_in_order_across_retries(
    broadcaster: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep
) -> None:
    sink.fail(TransportError("reset"), times=1, verb=Verb.CREATE)
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis(), "Normal", "R", "m")
    recorder.event(redis(), "Normal", "R", "m")
    recorder.event(redis(), "Normal", "R", "m")
    await settle()
    assert verbs(sink) == [("create!", None)]  # the patches wait behind their create

    await sleep.advance(10)
    await broadcaster.flush()

    assert verbs(sink) == [("create!", None), ("create", 1), ("patch", 2), ("patch", 3)]


async def test_queue_is_bounded_and_counts_drops(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(queue_size=3))  # not started: nothing drains
    recorder = broadcaster.new_recorder("RedisOperator")
    for i in range(5):
        recorder.event(redis(f"r{i}"), "Normal", "R", "m")

    assert broadcaster.pending == 3
    assert sample(registry, "events_dropped", reason="queue_full") == 2

    await broadcaster.start()
    await broadcaster.shutdown()
    assert sorted(c.name.split(".")[0] for c in sink.writes()) == ["r0", "r1", "r2"]


async def test_shutdown_drains_the_queue(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    broadcaster = make_broadcaster()
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")
    for i in range(20):
        recorder.event(redis(f"r{i}"), "Normal", "R", "m")

    await broadcaster.shutdown(timeout=5)

    assert len(sink.writes()) == 20
    assert broadcaster.pending == 0
    assert sample(registry, "events_dropped", reason="shutdown") == 0


async def test_shutdown_gives_up_at_the_deadline_and_counts_what_was_lost(
    make_broadcaster: BroadcasterFactory, registry: CollectorRegistry
) -> None:
    hanging = HangingSink()
    broadcaster = make_broadcaster(target=hanging)
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")
    for i in range(3):
        recorder.event(redis(f"r{i}"), "Normal", "R", "m")
    await settle()

    await broadcaster.shutdown(timeout=0.01)

    assert hanging.calls == []
    assert broadcaster.pending == 0
    assert sample(registry, "events_dropped", reason="shutdown") == 3


async def test_events_after_shutdown_are_dropped_without_raising(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    broadcaster = make_broadcaster()
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")
    await broadcaster.shutdown()

    recorder.event(redis(), "Normal", "R", "m")

    assert sink.calls == []
    assert sample(registry, "events_dropped", reason="shutdown") == 1


async def test_a_call_that_hangs_past_the_request_timeout_is_retried(
    make_broadcaster: BroadcasterFactory, sleep: ManualSleep, registry: CollectorRegistry
) -> None:
    hanging = HangingSink()
    broadcaster = make_broadcaster(RecorderOptions(request_timeout=0.01), target=hanging)
    await broadcaster.start()
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")

    await sleep.slept.wait()  # the call timed out and the retry is waiting
    hanging.release.set()
    await sleep.advance(10)
    await broadcaster.flush()

    assert sleep.delays == [5.0]
    assert len(hanging.writes()) == 1
    assert sample(registry, "api_writes", verb="create", result="transport_error") == 1
    await broadcaster.shutdown()


async def test_unexpected_sink_exception_is_logged_and_not_retried(
    make_broadcaster: BroadcasterFactory, sleep: ManualSleep, registry: CollectorRegistry
) -> None:
    broadcaster = make_broadcaster(target=BrokenSink())
    await broadcaster.start()
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")
    await broadcaster.flush()

    assert sleep.delays == []
    assert sample(registry, "events_failed", reason="unexpected") == 1
    await broadcaster.shutdown()
