"""Fixtures for the event recorder tests: fake clock, injected sleep, in-memory sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from event_recorder import EventBroadcaster, InMemorySink, RecorderOptions
from tests.unit.event_recorder.support import BroadcasterFactory, FakeClock, ManualSleep


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> ManualSleep:
    return ManualSleep(clock)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sink() -> InMemorySink:
    return InMemorySink()


@pytest.fixture
def make_broadcaster(
    sink: InMemorySink, clock: FakeClock, sleep: ManualSleep, registry: CollectorRegistry
) -> BroadcasterFactory:
    """Broadcasters on the shared fake clock, sleep and registry; first sleep is 5 s."""

    def make(options: RecorderOptions | None = None, target: Any = None) -> EventBroadcaster:
        return EventBroadcaster(
            sink if target is None else target,
            options,
            registry,
            clock=clock,
            sleep=sleep,
            random=lambda: 0.5,
        )

    return make


@pytest.fixture
async def broadcaster(make_broadcaster: BroadcasterFactory) -> AsyncIterator[EventBroadcaster]:
    started = make_broadcaster()
    await started.start()
    yield started
    await started.shutdown(timeout=0)
