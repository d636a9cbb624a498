"""events.k8s.io/v1 mode: series creation, second-occurrence PATCH, in-memory counts, timers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from event_recorder import (
    ApiStatusError,
    EventAPI,
    EventBroadcaster,
    EventsV1Recorder,
    InMemorySink,
    RecorderOptions,
    SeriesCorrelator,
    Verb,
    Verdict,
    reference_for,
)
from event_recorder.event import EventDraft, rfc3339_micro
from tests.unit.event_recorder.support import (
    START_NS,
    BroadcasterFactory,
    FakeClock,
    ManualSleep,
    node,
    redis,
    sample,
    settle,
)

V1 = RecorderOptions(api=EventAPI.EVENTS_V1)

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "my-op-redis-2", "namespace": "default", "uid": "uid-pod-2"},
}


@pytest.fixture
async def v1(make_broadcaster: BroadcasterFactory) -> AsyncIterator[EventBroadcaster]:
    broadcaster = make_broadcaster(V1)
    await broadcaster.start()
    await settle()  # let the series timers start sleeping
    yield broadcaster
    await broadcaster.shutdown(timeout=0)


def recorder_of(broadcaster: EventBroadcaster) -> EventsV1Recorder:
    recorder = broadcaster.new_recorder("RedisOperator", "my-host")
    assert isinstance(recorder, EventsV1Recorder)
    return recorder


def scale_up(recorder: EventsV1Recorder, replicas: int = 3) -> None:
    recorder.eventf(
        redis(), "Normal", "ScalingUp", "replicas set to %d", replicas, action="Scale", related=POD
    )


async def test_first_occurrence_creates_an_events_v1_event(
    v1: EventBroadcaster, sink: InMemorySink
) -> None:
    scale_up(recorder_of(v1))
    await v1.flush()

    (call,) = sink.calls
    assert (call.verb, call.api, call.namespace) == (Verb.CREATE, EventAPI.EVENTS_V1, "default")
    assert call.body == {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"my-op-redis.{START_NS:x}", "namespace": "default"},
        "eventTime": "2023-11-14T22:13:20.123456Z",
        "reportingController": "RedisOperator",
        "reportingInstance": "RedisOperator-my-host",
        "action": "Scale",
        "reason": "ScalingUp",
        "regarding": {
            "kind": "Redis",
            "namespace": "default",
            "name": "my-op-redis",
            "uid": "uid-redis-1",
            "apiVersion": "myapp.tangx.in/v1",
            "resourceVersion": "101",
        },
        "related": {
            "kind": "Pod",
            "namespace": "default",
            "name": "my-op-redis-2",
            "uid": "uid-pod-2",
            "apiVersion": "v1",
        },
        "note": "replicas set to 3",
        "type": "Normal",
    }


async def test_second_occurrence_patches_the_series_and_later_ones_are_counted_in_memory(
    v1: EventBroadcaster, sink: InMemorySink, clock: FakeClock, registry: CollectorRegistry
) -> None:
    recorder = recorder_of(v1)
    scale_up(recorder)
    clock.advance(5)
    scale_up(recorder)
    second_at = clock.now_ns
    for _ in range(3):
        clock.advance(5)
        scale_up(recorder)
    await v1.flush()

    assert [c.verb for c in sink.calls] == [Verb.CREATE, Verb.PATCH]
    assert sink.calls[1].body == {
        "series": {"count": 2, "lastObservedTime": rfc3339_micro(second_at)}
    }
    assert sample(registry, "events_deduplicated") == 4


async def test_idle_series_is_flushed_after_six_minutes_then_forgotten(
    v1: EventBroadcaster, sink: InMemorySink, clock: FakeClock, sleep: ManualSleep
) -> None:
    recorder = recorder_of(v1)
    for _ in range(4):
        scale_up(recorder)
        clock.advance(10)  # last occurrence at +30 s
    await v1.flush()
    assert len(sink.calls) == 2

    await sleep.advance(320)  # finish timer at +360 s: idle only 330 s
    assert len(sink.calls) == 2

    await sleep.advance(360)  # at +720 s: idle 690 s
    await v1.flush()
    assert sink.calls[-1].verb is Verb.PATCH
    assert sink.calls[-1].body["series"]["count"] == 4
    assert sink.calls[-1].body["series"]["lastObservedTime"] == rfc3339_micro(START_NS + 30 * 10**9)

    scale_up(recorder)  # the series is over: a new Event
    await v1.flush()
    assert sink.calls[-1].verb is Verb.CREATE
    assert sink.calls[-1].name != sink.calls[0].name


async def test_a_live_series_is_rewritten_every_thirty_minutes(
    v1: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep
) -> None:
    recorder = recorder_of(v1)
    for _ in range(6):  # at 0, 300, ..., 1500 s: never idle six minutes
        scale_up(recorder)
        await sleep.advance(300)
    await v1.flush()

    assert [(c.verb, c.body.get("series", {}).get("count")) for c in sink.calls] == [
        (Verb.CREATE, None),
        (Verb.PATCH, 2),
        (Verb.PATCH, 6),  # the refresh at 1800 s
    ]


async def test_shutdown_writes_the_counts_held_in_memory(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    broadcaster = make_broadcaster(V1)
    await broadcaster.start()
    recorder = recorder_of(broadcaster)
    for _ in range(5):
        scale_up(recorder)

    await broadcaster.shutdown()

    assert [c.verb for c in sink.calls] == [Verb.CREATE, Verb.PATCH, Verb.PATCH]
    assert sink.calls[-1].body["series"]["count"] == 5


async def test_patch_404_recreates_the_event_with_its_series(
    v1: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = recorder_of(v1)
    scale_up(recorder)
    await v1.flush()
    sink.events.clear()

    scale_up(recorder)
    await v1.flush()

    assert [(c.verb, c.error is None) for c in sink.calls] == [
        (Verb.CREATE, True),
        (Verb.PATCH, False),
        (Verb.CREATE, True),
    ]
    (stored,) = sink.events.values()
    assert stored["series"]["count"] == 2
    assert stored["note"] == "replicas set to 3"


async def test_conflict_when_recreating_a_series_is_retried(
    v1: EventBroadcaster, sink: InMemorySink, sleep: ManualSleep
) -> None:
    recorder = recorder_of(v1)
    scale_up(recorder)
    await v1.flush()
    sink.events.clear()
    sink.fail(ApiStatusError(409, "AlreadyExists"), verb=Verb.CREATE)

    scale_up(recorder)
    await settle()
    await sleep.advance(10)
    await v1.flush()

    assert sleep.delays[-1] == 5.0
    assert sink.calls[-1].verb is Verb.CREATE and sink.calls[-1].error is None


def draft(
    *, action: str = "Scale", message: str = "m", obj: object = None, type: str = "Normal"
) -> EventDraft:
    return EventDraft(
        ref=reference_for(redis() if obj is None else obj),
        type=type,
        reason="ScalingUp",
        message=message,
        controller="RedisOperator",
        instance="RedisOperator-h",
        action=action,
    )


def test_isomorphic_key_ignores_the_note_and_resource_version_but_not_action_or_type() -> None:
    correlator = SeriesCorrelator(V1)
    now = START_NS
    first = correlator.observe(draft(), now)

    assert correlator.observe(draft(message="other note"), now).verdict is Verdict.PATCH
    assert correlator.observe(draft(obj=redis(resource_version="2")), now).verdict is (
        Verdict.COUNTED
    )
    assert correlator.observe(draft(action="Delete"), now).verdict is Verdict.CREATE
    assert correlator.observe(draft(type="Warning"), now).verdict is Verdict.CREATE
    assert first.write is not None
    assert first.write.body["note"] == "m"  # a series keeps its first note


def test_single_events_are_forgotten_after_six_minutes() -> None:
    correlator = SeriesCorrelator(V1)
    correlator.observe(draft(), START_NS)

    assert correlator.finish(START_NS + 361 * 10**9) == []  # nothing to write for a singleton
    assert correlator.observe(draft(), START_NS + 362 * 10**9).verdict is Verdict.CREATE


async def test_action_defaults_to_the_reason_and_cluster_scoped_goes_to_default(
    v1: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder_of(v1).event(node(), "Warning", "NodeNotReady", "kubelet stopped posting")
    await v1.flush()

    (call,) = sink.calls
    assert call.body["action"] == "NodeNotReady"
    assert call.namespace == "default"
    assert "namespace" not in call.body["regarding"]
    assert "related" not in call.body


async def test_restarted_operator_continues_the_series(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    previous = make_broadcaster(V1)
    await previous.start()
    for _ in range(3):
        scale_up(recorder_of(previous))
    await previous.shutdown()
    name = sink.calls[0].name
    clock.advance(60)

    restarted = make_broadcaster(V1)
    await restarted.start()
    assert await restarted.learn_existing("RedisOperator", host="my-host") == 1
    scale_up(recorder_of(restarted))
    await restarted.shutdown()

    assert (sink.calls[-1].verb, sink.calls[-1].name) == (Verb.PATCH, name)
    assert sink.event("default", name)["series"]["count"] == 4
