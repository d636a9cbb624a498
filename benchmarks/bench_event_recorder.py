"""Benchmark of the event recorder: caller-side cost, correlator throughput, API writes.

Run with ``python benchmarks/bench_event_recorder.py``; it prints figures and asserts
nothing. Everything runs against the in-memory sink: no network is involved.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from event_recorder import (
    Correlator,
    EventAPI,
    EventBroadcaster,
    EventDraft,
    InMemorySink,
    RecorderOptions,
    reference_for,
)

START_NS = 1_700_000_000 * 1_000_000_000


def redis(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
    }


async def caller_cost(objects_count: int, calls: int = 20_000) -> tuple[float, float]:
    """Time spent inside ``recorder.event()`` (µs): median and p99, broadcaster running.

    Calls cycle over ``objects_count`` objects, each with its own message: with 2,000
    objects every call is written (a create, then 9 patches per object, under the
    spam burst); with 200 objects, 100 calls per object, three quarters are stopped by
    the spam filter.
    """
    broadcaster = EventBroadcaster(InMemorySink(), registry=CollectorRegistry())
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator", "bench-host")
    objects = [redis(f"redis-{i}") for i in range(objects_count)]
    timings = []
    for i in range(calls):
        index = i % len(objects)
        obj, message = objects[index], f"replicas set to {index % 7}"
        started = time.perf_counter_ns()
        recorder.event(obj, "Normal", "ScalingUp", message)
        timings.append(time.perf_counter_ns() - started)
        if i % 500 == 499:
            await broadcaster.flush()  # let the writer run, outside the timed calls
    await broadcaster.shutdown()
    timings.sort()
    return statistics.median(timings) / 1000, timings[int(len(timings) * 0.99)] / 1000


def correlator_throughput(calls: int = 200_000) -> float:
    """Correlated events per second on one core (aggregation + dedup + spam filter)."""
    correlator = Correlator(RecorderOptions())
    drafts = [
        EventDraft(
            ref=reference_for(redis(f"redis-{i % 1000}")),
            type="Normal",
            reason="ScalingUp",
            message=f"replicas set to {i % 5}",
            controller="RedisOperator",
            instance="bench-host",
        )
        for i in range(5000)
    ]
    now = START_NS
    started = time.perf_counter()
    for i in range(calls):
        now += 1_000_000
        correlator.observe(drafts[i % len(drafts)], now)
    return calls / (time.perf_counter() - started)


async def api_writes(messages: list[str], api: EventAPI = EventAPI.CORE_V1) -> Counter[str]:
    """API calls by verb for events on one object spread evenly over one minute."""
    sink = InMemorySink()
    clock = [START_NS]
    broadcaster = EventBroadcaster(
        sink, RecorderOptions(api=api), CollectorRegistry(), clock=lambda: clock[0]
    )
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator", "bench-host")
    step = 60 * 1_000_000_000 // len(messages)
    for message in messages:
        recorder.event(redis("my-op-redis"), "Normal", "ScalingUp", message)
        clock[0] += step
    await broadcaster.shutdown()
    return Counter(call.verb.value for call in sink.writes())


def show(label: str, writes: Counter[str]) -> None:
    total = sum(writes.values())
    print(f"  {label}: {total} writes ({writes['create']} create, {writes['patch']} patch)")


async def main() -> None:
    print("event() caller cost, 20,000 calls, broadcaster started, in-memory sink:")
    for objects, label in ((2000, "every call written"), (200, "75% spam-filtered")):
        median, p99 = await caller_cost(objects)
        print(f"  {label}: median {median:.1f} µs, p99 {p99:.1f} µs")
    print(f"correlator throughput: {correlator_throughput():,.0f} events/s on one core")
    print("API writes, 1,000 events on one object within a minute:")
    show("identical, core/v1", await api_writes(["replicas set to 3"] * 1000))
    show(
        "distinct messages, core/v1",
        await api_writes([f"replicas set to {i}" for i in range(1000)]),
    )
    show(
        "identical, events.k8s.io/v1",
        await api_writes(["replicas set to 3"] * 1000, EventAPI.EVENTS_V1),
    )


if __name__ == "__main__":
    asyncio.run(main())
