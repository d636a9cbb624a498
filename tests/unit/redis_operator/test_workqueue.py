"""The work queue coalesces adds, never hands one key to two workers, and backs off failures."""

from __future__ import annotations

import asyncio

import pytest

from redis_operator.controller.workqueue import Backoff, ShutDown, WorkQueue

BACKOFF = Backoff(base=0.5, maximum=120.0)


async def test_adds_coalesce() -> None:
    queue: WorkQueue[str] = WorkQueue(BACKOFF)
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_key_added_while_processing_is_requeued_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue(BACKOFF)
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0  # not handed to a second worker while processing
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_done_without_new_add_does_not_requeue() -> None:
    queue: WorkQueue[str] = WorkQueue(BACKOFF)
    queue.add("a")
    queue.done(await queue.get())
    assert len(queue) == 0


def test_backoff_doubles_and_caps() -> None:
    backoff = Backoff(base=0.5, maximum=10.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]


async def test_rate_limited_adds_back_off_until_forget() -> None:
    queue: WorkQueue[str] = WorkQueue(Backoff(base=0.01, maximum=1.0))
    assert queue.add_rate_limited("a") == 0.01
    assert queue.add_rate_limited("a") == 0.02
    assert queue.failures("a") == 2
    assert await asyncio.wait_for(queue.get(), timeout=5) == "a"
    queue.forget("a")
    assert queue.failures("a") == 0


async def test_add_after_earliest_timer_wins() -> None:
    queue: WorkQueue[str] = WorkQueue(BACKOFF)
    queue.add_after("a", 60)
    queue.add_after("a", 0.01)
    assert await asyncio.wait_for(queue.get(), timeout=5) == "a"


async def test_shutdown_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue(BACKOFF)
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await waiter
