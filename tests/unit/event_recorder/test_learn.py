"""Restart-safe counts: a new broadcaster that learned the existing Events continues them."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from event_recorder import (
    COMBINED_PREFIX,
    EventBroadcaster,
    InMemorySink,
    RecorderOptions,
    TransportError,
    Verb,
)
from event_recorder.event import rfc3339
from tests.unit.event_recorder.support import BroadcasterFactory, FakeClock, redis


async def run_previous_operator(
    make_broadcaster: BroadcasterFactory, host: str, messages: list[str]
) -> None:
    previous = make_broadcaster()
    await previous.start()
    recorder = previous.new_recorder("RedisOperator", host)
    for message in messages:
        recorder.event(redis(), "Normal", "ScalingUp", message)
    await previous.shutdown()


async def test_after_a_restart_a_repeat_continues_the_same_event(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    started = clock.now_ns
    await run_previous_operator(make_broadcaster, "pod-a", ["replicas set to 3"] * 2)
    (name,) = [key[1] for key in sink.events]
    clock.advance(600)

    restarted = make_broadcaster()
    await restarted.start()
    assert await restarted.learn_existing("RedisOperator", host="pod-b") == 1
    restarted.new_recorder("RedisOperator", "pod-b").event(
        redis(), "Normal", "ScalingUp", "replicas set to 3"
    )
    await restarted.shutdown()

    last = sink.calls[-1]
    assert (last.verb, last.name) == (Verb.PATCH, name)
    assert last.body["count"] == 3
    stored = sink.event("default", name)
    assert stored["count"] == 3  # kubectl describe: (x3 over 10m)
    assert stored["firstTimestamp"] == rfc3339(started)
    assert stored["lastTimestamp"] == rfc3339(clock.now_ns)


async def test_without_learning_a_restart_starts_a_new_event(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    await run_previous_operator(make_broadcaster, "pod-a", ["replicas set to 3"] * 2)
    clock.advance(600)

    restarted = make_broadcaster()
    await restarted.start()
    restarted.new_recorder("RedisOperator", "pod-a").event(
        redis(), "Normal", "ScalingUp", "replicas set to 3"
    )
    await restarted.shutdown()

    assert sink.calls[-1].verb is Verb.CREATE
    assert len(sink.events) == 2


async def test_host_none_continues_only_for_the_same_host(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    await run_previous_operator(make_broadcaster, "stable-host", ["m"])
    clock.advance(600)
    restarted = make_broadcaster()
    await restarted.start()
    await restarted.learn_existing("RedisOperator")

    restarted.new_recorder("RedisOperator", "other-host").event(redis(), "Normal", "ScalingUp", "m")
    restarted.new_recorder("RedisOperator", "stable-host").event(
        redis(), "Normal", "ScalingUp", "m"
    )
    await restarted.shutdown()

    assert [c.verb for c in sink.calls[-2:]] == [Verb.CREATE, Verb.PATCH]


async def test_a_combined_event_is_continued_too(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    await run_previous_operator(make_broadcaster, "h", [f"replicas set to {i}" for i in range(11)])
    clock.advance(600)
    combined = [e for e in sink.events.values() if e["message"].startswith(COMBINED_PREFIX)]
    assert len(combined) == 1 and combined[0]["count"] == 2

    restarted = make_broadcaster()
    await restarted.start()
    await restarted.learn_existing("RedisOperator", host="h")
    recorder = restarted.new_recorder("RedisOperator", "h")
    for i in range(20, 30):  # the group starts empty: nine pass, the tenth is combined
        recorder.event(redis(), "Normal", "ScalingUp", f"replicas set to {i}")
    await restarted.shutdown()

    name = combined[0]["metadata"]["name"]
    assert sink.event("default", name)["count"] == 3
    assert sink.event("default", name)["message"] == COMBINED_PREFIX + "replicas set to 29"


async def test_the_most_recent_of_duplicate_events_wins_and_others_components_are_ignored(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    def listed(name: str, count: int, last: str, component: str = "RedisOperator") -> dict:
        return {
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {
                "kind": "Redis",
                "namespace": "default",
                "name": "my-op-redis",
                "uid": "uid-redis-1",
                "apiVersion": "myapp.tangx.in/v1",
            },
            "reason": "ScalingUp",
            "message": "m",
            "type": "Normal",
            "source": {"component": component, "host": "h"},
            "count": count,
            "firstTimestamp": "2023-11-14T20:00:00Z",
            "lastTimestamp": last,
        }

    for event in (
        listed("old", 7, "2023-11-14T21:00:00Z"),
        listed("new", 2, "2023-11-14T22:00:00Z"),
        listed("kubelets", 9, "2023-11-14T22:10:00Z", component="kubelet"),
    ):
        sink.events[("default", event["metadata"]["name"])] = event

    assert await broadcaster.learn_existing("RedisOperator", host="h") == 1
    broadcaster.new_recorder("RedisOperator", "h").event(redis(), "Normal", "ScalingUp", "m")
    await broadcaster.flush()

    assert (sink.calls[-1].name, sink.calls[-1].body["count"]) == ("new", 3)


async def test_learning_is_best_effort_when_listing_fails(
    make_broadcaster: BroadcasterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreachable(InMemorySink):
        async def list_events(self, component: str, namespace: str | None = None) -> list[dict]:
            raise TransportError("connection refused")

    failing = make_broadcaster(target=Unreachable())
    with caplog.at_level(logging.WARNING, logger="event_recorder"):
        assert await failing.learn_existing("RedisOperator") == 0
    assert "Could not list existing Events" in caplog.text


class SlowListing(InMemorySink):
    """An InMemorySink whose listing waits until the test lets it answer."""

    def __init__(self, events: dict[tuple[str, str], dict]) -> None:
        super().__init__()
        self.events = events
        self.listing = asyncio.Event()
        self.answer = asyncio.Event()

    async def list_events(self, component: str, namespace: str | None = None) -> list[dict]:
        self.listing.set()
        await self.answer.wait()
        return await super().list_events(component, namespace)


async def test_events_recorded_while_learning_continue_what_is_learned(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink, clock: FakeClock
) -> None:
    started = clock.now_ns
    await run_previous_operator(make_broadcaster, "pod-a", ["replicas set to 3"] * 2)
    (name,) = [key[1] for key in sink.events]
    clock.advance(600)
    slow = SlowListing(sink.events)
    restarted = make_broadcaster(target=slow)
    await restarted.start()

    learning = asyncio.create_task(restarted.learn_existing("RedisOperator", host="pod-b"))
    await slow.listing.wait()
    recorded_at = clock.now_ns
    recorder = restarted.new_recorder("RedisOperator", "pod-b")
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 1")
    await restarted.flush()
    assert slow.calls == []  # held, not written before the listing answers
    clock.advance(5)
    slow.answer.set()
    assert await learning == 1
    await restarted.shutdown()

    assert [(c.verb, c.name == name) for c in slow.calls] == [
        (Verb.PATCH, True),
        (Verb.CREATE, False),
    ]
    stored = slow.event("default", name)
    assert stored["count"] == 3
    assert stored["firstTimestamp"] == rfc3339(started)
    assert stored["lastTimestamp"] == rfc3339(recorded_at)  # when recorded, not when released


async def test_events_recorded_while_learning_fails_are_written_as_new(
    make_broadcaster: BroadcasterFactory,
) -> None:
    class Unreachable(InMemorySink):
        async def list_events(self, component: str, namespace: str | None = None) -> list[dict]:
            await asyncio.sleep(0)
            raise TransportError("connection refused")

    failing = Unreachable()
    broadcaster = make_broadcaster(target=failing)
    await broadcaster.start()
    learning = asyncio.create_task(broadcaster.learn_existing("RedisOperator"))
    await asyncio.sleep(0)
    broadcaster.new_recorder("RedisOperator", "h").event(redis(), "Normal", "ScalingUp", "m")
    assert await learning == 0
    await broadcaster.shutdown()

    assert [c.verb for c in failing.calls] == [Verb.CREATE]


async def test_what_is_held_while_learning_is_bounded_by_the_queue_size(
    make_broadcaster: BroadcasterFactory, registry: CollectorRegistry
) -> None:
    slow = SlowListing({})
    broadcaster = make_broadcaster(RecorderOptions(queue_size=3), target=slow)
    await broadcaster.start()
    learning = asyncio.create_task(broadcaster.learn_existing("RedisOperator"))
    await slow.listing.wait()
    recorder = broadcaster.new_recorder("RedisOperator", "h")
    for i in range(5):
        recorder.event(redis(), "Normal", "ScalingUp", f"replicas set to {i}")
    slow.answer.set()
    await learning
    await broadcaster.shutdown()

    assert len(slow.calls) == 3
    dropped = registry.get_sample_value(
        "event_recorder_events_dropped_total", {"reason": "queue_full"}
    )
    assert dropped == 2
