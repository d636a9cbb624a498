"""The manager's stop sequence: passes, then the Lease, then a bounded drain, then the servers;
SIGTERM and SIGINT running it once, a webhook that cannot listen stopping the process; and the
start's order (the passes once the store is full, the earlier Events learned beside them)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest
from kubernetes_asyncio import client

from redis_operator.controller.workqueue import ShutDown
from redis_operator.leaderelection.election import LeadershipLost
from redis_operator.manager import Manager, stop_in_order
from redis_operator.settings import Settings, WebhookCertificateSettings, WebhookSettings


class Steps:
    """What the fakes were asked to do, in order, and a clock only they move."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.now = 100.0

    def clock(self) -> float:
        return self.now


class FakeLease:
    def __init__(self, steps: Steps, time_left: float, release_takes: float = 0.0) -> None:
        self.steps = steps
        self.left = time_left
        self.release_takes = release_takes

    def time_left(self) -> float:
        return self.left

    async def release(self) -> bool:
        self.steps.done.append("lease released")
        self.steps.now += self.release_takes
        self.left = 0.0  # released: no longer ours
        return True


class FakeEvents:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.steps.done.append(f"events drained within {timeout}")


class FakeServer:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    async def stop(self) -> None:
        self.steps.done.append("server stopped")


def passes(steps: Steps) -> asyncio.Task[None]:
    """A pass in flight; it notes when its cancellation has reached it."""

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            steps.done.append("passes stopped")

    return asyncio.create_task(run())


async def started(task: asyncio.Task[None]) -> asyncio.Task[None]:
    await asyncio.sleep(0)  # the task runs up to its first wait
    return task


async def test_passes_stop_then_the_lease_is_released_then_events_drain_within_its_time() -> None:
    steps = Steps()
    failed = await stop_in_order(
        [await started(passes(steps))],
        lease=FakeLease(steps, time_left=3.5),
        events=FakeEvents(steps),
        drain_seconds=10.0,
        servers=[FakeServer(steps)],
        clock=steps.clock,
    )
    assert failed is None
    assert steps.done == [
        "passes stopped",
        "lease released",
        "events drained within 3.5",
        "server stopped",
    ]


async def test_a_slow_release_shortens_the_drain_to_the_renew_deadline() -> None:
    steps = Steps()
    await stop_in_order(
        [await started(passes(steps))],
        lease=FakeLease(steps, time_left=3.5, release_takes=1.25),
        events=FakeEvents(steps),
        drain_seconds=10.0,
        clock=steps.clock,
    )
    assert steps.done == ["passes stopped", "lease released", "events drained within 2.25"]


async def test_the_drain_keeps_its_own_bound_when_the_lease_has_longer_left() -> None:
    steps = Steps()
    await stop_in_order(
        [await started(passes(steps))],
        lease=FakeLease(steps, time_left=9.0),
        events=FakeEvents(steps),
        drain_seconds=2.0,
        clock=steps.clock,
    )
    assert steps.done == ["passes stopped", "lease released", "events drained within 2.0"]


async def test_without_a_lease_the_drain_gets_its_full_bound() -> None:
    steps = Steps()
    finished = asyncio.create_task(asyncio.sleep(0))  # the listing, done long ago
    await finished
    failed = await stop_in_order(
        [await started(passes(steps)), finished],
        lease=None,
        events=FakeEvents(steps),
        drain_seconds=10.0,
        servers=[FakeServer(steps)],
        clock=steps.clock,
    )
    assert failed is None
    assert steps.done == ["passes stopped", "events drained within 10.0", "server stopped"]


async def test_a_lost_lease_is_not_released_and_the_loss_is_returned() -> None:
    steps = Steps()

    async def lose() -> None:
        raise LeadershipLost("lease ns/x is now held by intruder")

    leader = asyncio.create_task(lose())
    await asyncio.gather(leader, return_exceptions=True)
    failed = await stop_in_order(
        [leader],
        lease=FakeLease(steps, time_left=0.0),
        events=FakeEvents(steps),
        drain_seconds=10.0,
        clock=steps.clock,
    )
    assert isinstance(failed, LeadershipLost)
    assert steps.done == ["events drained within 0.0"]


def manager(settings: Settings) -> Manager:
    # A client for an address nothing listens on: the stop below makes no API call.
    configuration = client.Configuration(host="http://127.0.0.1:9")
    return Manager(settings, client.ApiClient(configuration))


async def _run_until_listening(built: Manager) -> asyncio.Task[None]:
    """``built.run()`` with stand-in informers that list nothing and never sync."""
    for informer in built.informers:
        informer.run = asyncio.Event().wait  # type: ignore[method-assign]
    running = asyncio.create_task(built.run())
    await asyncio.sleep(0.05)
    return running


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_runs_the_stop_sequence_once_and_run_returns(signum: int) -> None:
    built = manager(Settings(metrics_address=None))
    stopped: list[str] = []
    shut_down = built._shut_down

    async def shut_down_once_more() -> None:
        stopped.append("stop sequence")
        await shut_down()

    built._shut_down = shut_down_once_more  # type: ignore[method-assign]
    running = await _run_until_listening(built)
    os.kill(os.getpid(), signum)
    await asyncio.wait_for(running, 10)

    assert stopped == ["stop sequence"]
    assert all(informer.done() for informer in built._informing)
    assert built._workers.cancelled()
    with pytest.raises(ShutDown):
        await built.queue.get()
    with pytest.raises(RuntimeError, match="shut down"):
        await built.broadcaster.start()
    # The loop's handlers are gone with the run: a later SIGINT is Python's again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    await built.api_client.close()


async def test_a_webhook_that_cannot_listen_stops_the_operator_with_its_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        built = manager(
            Settings(metrics_address=None, webhook=WebhookSettings(port=port, address="127.0.0.1"))
        )
        running = await _run_until_listening(built)
        with pytest.raises(OSError):
            await asyncio.wait_for(running, 10)
    assert built._workers.cancelled()
    await built.api_client.close()


async def test_a_managed_certificate_is_kept_over_the_operators_client_and_served() -> None:
    certificate = WebhookCertificateSettings(secret="tls", namespace="ns", service="svc")
    built = manager(
        Settings(
            metrics_address=None,
            webhook=WebhookSettings(port=9443, certificate=certificate),
        )
    )
    plain = manager(Settings(metrics_address=None))
    try:
        assert built.keeper is not None and built.webhook is not None
        assert built.keeper.api is built.kube
        assert built.webhook.cert_file == built.keeper.pem_file
        assert built.webhook.key_file == built.keeper.pem_file
        assert plain.keeper is None
        built.keeper.close()
    finally:
        await built.api_client.close()
        await plain.api_client.close()


class _Steps:
    """What the stand-ins did, in order; a test waits for a number of steps."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self._changed = asyncio.Condition()

    async def add(self, step: str) -> None:
        async with self._changed:
            self.done.append(step)
            self._changed.notify_all()

    async def reach(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.done) >= count), 10)


async def _work_with(
    built: Manager, learned: list[int], answer: asyncio.Event
) -> tuple[_Steps, asyncio.Event]:
    """Stand-ins for ``built._work()``: each learning answers ``learned`` in turn once
    ``answer`` is set; the passes record that they ran and wait for the returned ``stop``."""
    steps = _Steps()
    answers = iter(learned)
    stop = asyncio.Event()

    async def learn(component: str, host: str | None = None, *, namespace: str | None) -> int:
        await steps.add(f"learning (store synced: {built._synced()})")
        await answer.wait()
        return next(answers)

    async def workers() -> None:
        await steps.add("workers")
        await stop.wait()

    built.broadcaster.learn_existing = learn  # type: ignore[method-assign]
    built.reconciler.run_workers = workers  # type: ignore[method-assign]
    return steps, stop


async def test_passes_start_once_the_store_is_full_and_events_are_learned_beside_them() -> None:
    built = manager(Settings(metrics_address=None))
    answer = asyncio.Event()
    steps, stop = await _work_with(built, [3], answer)
    work = asyncio.create_task(built._work())
    await asyncio.sleep(0.05)
    assert steps.done == []  # the listings have the API to themselves
    for informer in built.informers:
        informer.synced.set()
    await steps.reach(2)  # the listing of Events has not answered: the passes run anyway
    assert sorted(steps.done) == ["learning (store synced: True)", "workers"]
    answer.set()
    stop.set()
    await work
    await built.api_client.close()


async def test_learning_still_listing_is_cancelled_with_the_passes() -> None:
    built = manager(Settings(metrics_address=None))
    answer = asyncio.Event()  # never set: the listing of Events never answers
    steps, _ = await _work_with(built, [3], answer)
    for informer in built.informers:
        informer.synced.set()
    work = asyncio.create_task(built._work())
    await steps.reach(2)
    (learning,) = [t for t in asyncio.all_tasks() if t.get_name() == "learn-events"]
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    await asyncio.gather(learning, return_exceptions=True)
    assert learning.cancelled()
    await built.api_client.close()
