"""The recorder API: type checks, never blocking or raising, any thread, before start."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from event_recorder import (
    CoreV1Recorder,
    EventAPI,
    EventBroadcaster,
    EventRecorder,
    EventsV1Recorder,
    FakeRecorder,
    InMemorySink,
    RecorderOptions,
    TransportError,
)
from tests.unit.event_recorder.support import BroadcasterFactory, redis, sample


@pytest.mark.parametrize("bad_type", ["Deleting", "normal", "", "Error"])
async def test_type_other_than_normal_or_warning_is_refused_logged_and_counted(
    broadcaster: EventBroadcaster,
    sink: InMemorySink,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    bad_type: str,
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")

    with caplog.at_level(logging.ERROR, logger="event_recorder"):
        recorder.event(redis(), bad_type, "Deleting", "deleting my-op-redis")
    await broadcaster.flush()

    assert sink.calls == []
    assert sample(registry, "events_refused", reason="invalid_type") == 1
    assert sample(registry, "events_recorded", type="Normal") == 0
    assert any("unsupported type" in r.getMessage() for r in caplog.records)


async def test_unusable_object_is_refused_and_counted(
    broadcaster: EventBroadcaster, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    broadcaster.new_recorder("RedisOperator").event({"kind": "Redis"}, "Normal", "R", "m")
    await broadcaster.flush()

    assert sink.calls == []
    assert sample(registry, "events_refused", reason="invalid_object") == 1


async def test_eventf_formats_go_style(broadcaster: EventBroadcaster, sink: InMemorySink) -> None:
    broadcaster.new_recorder("RedisOperator").eventf(
        redis(), "Normal", "ScalingUp", "%s replicas set to %d", "my-op-redis", 3
    )
    await broadcaster.flush()

    assert sink.writes()[0].body["message"] == "my-op-redis replicas set to 3"


async def test_calls_return_before_any_write_and_never_raise_for_api_trouble(
    broadcaster: EventBroadcaster, sink: InMemorySink, registry: CollectorRegistry
) -> None:
    sink.fail(TransportError("connection refused"), times=100)
    recorder = broadcaster.new_recorder("RedisOperator")

    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")

    assert sink.calls == []  # nothing was awaited by the call
    assert broadcaster.pending == 1
    assert sample(registry, "events_recorded", type="Normal") == 1


async def test_recording_from_another_thread(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")

    def sync_handler() -> None:  # kopf runs sync handlers in worker threads
        for replicas in range(3):
            recorder.eventf(redis(), "Normal", "ScalingUp", "replicas set to %d", replicas)

    await asyncio.to_thread(sync_handler)
    await broadcaster.flush()

    assert [c.body["message"] for c in sink.writes()] == [
        "replicas set to 0",
        "replicas set to 1",
        "replicas set to 2",
    ]


async def test_events_recorded_before_start_are_written_after_start(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    broadcaster = make_broadcaster()
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "ScalingUp", "early")
    assert sink.calls == []

    await broadcaster.start()
    await broadcaster.flush()
    await broadcaster.shutdown()

    assert [c.body["message"] for c in sink.writes()] == ["early"]


async def test_recorders_satisfy_the_event_recorder_protocol(
    make_broadcaster: BroadcasterFactory,
) -> None:
    core = make_broadcaster().new_recorder("RedisOperator")
    v1 = make_broadcaster(RecorderOptions(api=EventAPI.EVENTS_V1)).new_recorder("RedisOperator")

    assert isinstance(core, CoreV1Recorder)
    assert isinstance(v1, EventsV1Recorder)
    for recorder in (core, v1, FakeRecorder()):
        assert isinstance(recorder, EventRecorder)


async def test_broadcaster_works_as_an_async_context_manager(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    async with make_broadcaster() as broadcaster:
        broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "R", "m")

    assert len(sink.writes()) == 1
    with pytest.raises(RuntimeError, match="shut down"):
        await broadcaster.start()


def test_options_must_be_positive() -> None:
    with pytest.raises(ValueError, match="spam_burst"):
        RecorderOptions(spam_burst=0)
