"""Shared helpers of the event recorder tests: fake clock, injected sleep, objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from event_recorder import EventBroadcaster

#: Makes a broadcaster on the tests' fake clock, sleep and registry (see conftest).
BroadcasterFactory = Callable[..., EventBroadcaster]

START_NS = 1_700_000_000 * 1_000_000_000 + 123_456_789  # a fraction of a second on purpose
NANOS = 1_000_000_000


class FakeClock:
    """Wall clock in Unix nanoseconds that moves only when told."""

    def __init__(self, start_ns: int = START_NS) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * NANOS)


class ManualSleep:
    """Injected sleep on the fake clock: a sleeper wakes when the test advances past it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.slept = asyncio.Event()  # set once anything has started sleeping
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.slept.set()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake_at = self.clock.now_ns + round(delay * NANOS)
        self._sleepers.append((wake_at, len(self.delays), future))
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        """Move the clock, wake every sleeper due by then (earliest first), let them run."""
        self.clock.advance(seconds)
        due = sorted(s for s in self._sleepers if s[0] <= self.clock.now_ns)
        self._sleepers = [s for s in self._sleepers if s[0] > self.clock.now_ns]
        for _, _, future in due:
            if not future.done():
                future.set_result(None)
        await settle()


async def settle(rounds: int = 50) -> None:
    """Let ready tasks run; nothing here does real I/O, so this is deterministic."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def redis(
    name: str = "my-op-redis",
    namespace: str = "default",
    uid: str = "uid-redis-1",
    resource_version: str = "101",
) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": resource_version,
        },
        "spec": {"replicas": 3},
    }


def node(name: str = "worker-1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": "uid-node-1", "resourceVersion": "7"},
    }


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A counter's value, 0 when it has never been incremented."""
    value = registry.get_sample_value(f"event_recorder_{name}_total", labels)
    return 0.0 if value is None else value
