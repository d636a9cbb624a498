"""Leader election: the pure decisions on a fake clock, the elector on an in-memory Lease, and
the command line that configures it."""

from __future__ import annotations

import asyncio
import heapq
import subprocess
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from redis_operator.leaderelection.election import (
    Action,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseRecord,
    Observation,
    decide,
    new_identity,
    observe,
    release_record,
    renew_deadline_passed,
)

EPOCH = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ME, OTHER = "me_1", "other_2"
T = TypeVar("T")


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def held_by(holder: str, *, transitions: int = 0, duration: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, duration, at(0), at(0), transitions)


def decide_at(observed: Observation | None, now: float) -> Any:
    return decide(observed, identity=ME, lease_duration_seconds=15, now=now, wall=at(now))


# -- the pure decisions ---------------------------------------------------------------------


def test_no_lease_is_created_held_by_us() -> None:
    decision = decide_at(None, 3.0)
    assert decision.action is Action.CREATE
    assert decision.record == LeaseRecord(ME, 15, at(3), at(3), 0)


def test_a_released_lease_is_taken_at_once() -> None:
    released = release_record(held_by(OTHER, transitions=4), at(1))
    assert released == LeaseRecord("", 1, at(1), at(1), 4)
    decision = decide_at(Observation(released, at=1.0), 1.0)
    assert decision.action is Action.TAKE_OVER
    assert decision.record == LeaseRecord(ME, 15, at(1), at(1), 5)


def test_a_live_foreign_lease_is_respected_until_it_expires() -> None:
    observed = Observation(held_by(OTHER, transitions=2), at=100.0)
    for now in (100.0, 107.5, 114.999):
        decision = decide_at(observed, now)
        assert decision.action is Action.WAIT
        assert decision.record is None and decision.holder == OTHER
    decision = decide_at(observed, 115.0)
    assert decision.action is Action.TAKE_OVER
    assert decision.record == LeaseRecord(ME, 15, at(115), at(115), 3)


def test_expiry_counts_from_our_observation_not_the_holders_clock() -> None:
    # The holder's clock is an hour behind: its renewTime looks long expired, but we saw the
    # record change only now, so it is live for leaseDurationSeconds on *our* clock.
    skewed = LeaseRecord(OTHER, 15, at(-3600), at(-3600), 0)
    assert decide_at(Observation(skewed, at=50.0), 60.0).action is Action.WAIT
    assert decide_at(Observation(skewed, at=50.0), 65.0).action is Action.TAKE_OVER


def test_the_holders_lease_duration_is_the_one_that_counts() -> None:
    short = held_by(OTHER, duration=5)
    assert decide_at(Observation(short, at=0.0), 4.9).action is Action.WAIT
    assert decide_at(Observation(short, at=0.0), 5.0).action is Action.TAKE_OVER


def test_renewing_our_own_lease_keeps_acquire_time_and_transitions() -> None:
    mine = LeaseRecord(ME, 15, at(10), at(20), 7)
    decision = decide_at(Observation(mine, at=20.0), 22.0)
    assert decision.action is Action.RENEW
    assert decision.record == LeaseRecord(ME, 15, at(10), at(22), 7)


def test_observe_restarts_the_clock_only_on_change() -> None:
    first = observe(None, held_by(OTHER), 10.0)
    assert first.at == 10.0
    assert observe(first, held_by(OTHER), 14.0) is first  # unchanged: still expires at 25
    renewed = LeaseRecord(OTHER, 15, at(0), at(14), 0)
    second = observe(first, renewed, 14.0)
    assert second.at == 14.0 and second.expires_at == 29.0
    # A leader that keeps renewing is never taken over, however long it leads.
    assert decide_at(second, 28.0).action is Action.WAIT


def test_renew_deadline() -> None:
    assert not renew_deadline_passed(last_renewed=100.0, now=109.9, renew_deadline=10.0)
    assert renew_deadline_passed(last_renewed=100.0, now=110.0, renew_deadline=10.0)


def test_record_round_trips_through_the_lease_spec() -> None:
    record = LeaseRecord(ME, 15, at(0.5), EPOCH, 3)
    spec = record.to_spec()
    assert spec == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 15,
        "acquireTime": "2024-05-01T12:00:00.500000Z",
        "renewTime": "2024-05-01T12:00:00.000000Z",  # always six digits: a MicroTime
        "leaseTransitions": 3,
    }
    assert LeaseRecord.from_spec(spec) == record
    # As kubernetes_asyncio serializes a read Lease, and an empty one.
    read = {**spec, "acquireTime": "2024-05-01T12:00:00.500000+00:00"}
    assert LeaseRecord.from_spec(read) == record
    assert LeaseRecord.from_spec({}) == LeaseRecord()


def test_config_is_validated_like_client_go() -> None:
    config = LeaderElectionConfig(namespace="ns")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.name == "redis-operator-leader"
    assert config.identity.count("_") >= 1
    with pytest.raises(ValueError, match="greater than the renew deadline"):
        LeaderElectionConfig(namespace="ns", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="greater than the renew deadline"):
        # The Lease stores whole seconds: 10.9 is 10.
        LeaderElectionConfig(namespace="ns", lease_duration=10.9, renew_deadline=10.5)
    with pytest.raises(ValueError, match=r"1.2 × the retry period"):
        LeaderElectionConfig(namespace="ns", renew_deadline=2.4, retry_period=2)
    with pytest.raises(ValueError, match="identity"):
        LeaderElectionConfig(namespace="ns", identity="")
    LeaderElectionConfig(namespace="ns", lease_duration=6, renew_deadline=4, retry_period=1)


def test_identity() -> None:
    first, second = new_identity("pod-a"), new_identity("pod-a")
    assert first.startswith("pod-a_") and first != second


# -- the elector, on a fake clock and an in-memory Lease ------------------------------------


class FakeClock:
    """Fake time: sleepers wake in order as the test advances the clock (or drives a coroutine
    until it is done, advancing whenever everything else is asleep)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return at(self.now)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._seq, future))
        await future

    @staticmethod
    async def settle() -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    def _wake_next(self) -> None:
        wake, _, future = heapq.heappop(self._sleepers)
        self.now = max(self.now, wake)
        if not future.done():
            future.set_result(None)

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            self._wake_next()
            await self.settle()
        self.now = target
        await self.settle()

    async def drive(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        await self.settle()
        while not task.done():
            assert self._sleepers, "deadlock: nothing sleeps and the task is not done"
            self._wake_next()
            await self.settle()
        return task.result()


class Conflict(Exception):
    pass


class FakeApiServer:
    """One Lease with a resourceVersion; calls of identities in ``down`` fail."""

    def __init__(self) -> None:
        self.spec: dict[str, Any] | None = None
        self.version = 0
        self.down: set[str] = set()
        self.writes: list[tuple[str, str]] = []

    @property
    def record(self) -> LeaseRecord | None:
        return None if self.spec is None else LeaseRecord.from_spec(self.spec)

    def force(self, record: LeaseRecord) -> None:
        """Someone else writes the Lease."""
        self.spec = record.to_spec()
        self.version += 1


class FakeLock:
    def __init__(self, server: FakeApiServer, who: str) -> None:
        self.server = server
        self.who = who
        self.version: int | None = None

    def _check(self) -> None:
        if self.who in self.server.down:
            raise OSError("connection refused")

    async def get(self) -> LeaseRecord | None:
        self._check()
        self.version = self.server.version
        return self.server.record

    async def create(self, record: LeaseRecord) -> None:
        self._check()
        if self.server.spec is not None:
            raise Conflict("already exists")
        self._write("create", record)

    async def update(self, record: LeaseRecord) -> None:
        self._check()
        if self.version != self.server.version:
            raise Conflict("the object has been modified")
        self._write("update", record)

    def _write(self, verb: str, record: LeaseRecord) -> None:
        self.server.spec = record.to_spec()
        self.server.version += 1
        self.version = self.server.version
        self.server.writes.append((self.who, verb))


def elector(server: FakeApiServer, clock: FakeClock, who: str, **timings: float) -> LeaderElector:
    config = LeaderElectionConfig(namespace="ns", identity=who, **timings)
    return LeaderElector(FakeLock(server, who), config, clock=clock, random=lambda: 0.5)


async def test_one_candidate_leads_the_other_waits_then_takes_over_after_expiry() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    assert await a.try_acquire_or_renew()
    assert server.writes == [("a", "create")]
    assert not await b.try_acquire_or_renew()
    assert b.leader == "a" and not b.is_leader and a.is_leader
    # a renews every 2s for a minute: b never takes over.
    for _ in range(30):
        await clock.advance(2)
        assert await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()
    assert server.record is not None and server.record.holder_identity == "a"
    # a dies. b last saw a change now; it waits the full lease duration from there.
    died = clock.now
    await clock.advance(14.9)
    assert not await b.try_acquire_or_renew()
    await clock.advance(0.1)
    assert await b.try_acquire_or_renew()
    assert clock.now - died == pytest.approx(15.0)
    record = server.record
    assert record is not None
    assert record.holder_identity == "b" and record.leader_transitions == 1
    assert record.acquire_time == record.renew_time == at(clock.now)


async def test_two_candidates_racing_for_an_expired_lease_one_wins() -> None:
    server, clock = FakeApiServer(), FakeClock()
    server.force(held_by("dead", transitions=3))
    b, c = elector(server, clock, "b"), elector(server, clock, "c")
    assert not await b.try_acquire_or_renew()
    assert not await c.try_acquire_or_renew()
    await clock.advance(15)
    # Both read the same version; the second update is refused (optimistic concurrency).
    results = await asyncio.gather(b.try_acquire_or_renew(), c.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    record = server.record
    assert record is not None and record.leader_transitions == 4
    winner = b if results[0] else c
    assert record.holder_identity == winner.identity


async def test_renew_deadline_stops_the_leader_before_anyone_may_take_over() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a = elector(server, clock, "a")
    b = elector(server, clock, "b")
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    seen_by_b = clock.now
    server.down.add("a")  # a cannot reach the apiserver any more
    reason = await clock.drive(a.renew())
    assert "failed to renew" in reason
    assert clock.now - seen_by_b == pytest.approx(10.0)  # the renew deadline
    assert a.time_left() == 0.0
    # It stopped before b may take over (lease duration 15s after b saw the last renewal).
    await clock.advance(4.9)
    assert not await b.try_acquire_or_renew()
    await clock.advance(0.1)
    assert await b.try_acquire_or_renew()


async def test_renewal_survives_short_outages() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a = elector(server, clock, "a")
    await a.acquire()
    renewing = asyncio.create_task(a.renew())
    server.down.add("a")
    await clock.advance(7)
    server.down.clear()
    for _ in range(20):
        await clock.advance(1)
    assert not renewing.done()
    assert a.time_left() > 7
    renewing.cancel()
    await asyncio.gather(renewing, return_exceptions=True)


async def test_another_holder_observed_stops_the_leader_at_once() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a = elector(server, clock, "a")
    await a.acquire()
    server.force(LeaseRecord("intruder", 15, at(0), at(0), 1))
    started = clock.now
    reason = await clock.drive(a.renew())
    assert reason == "lease ns/redis-operator-leader is now held by intruder"
    assert clock.now - started == pytest.approx(2.0)  # the first renewal after the change
    assert not a.is_leader and a.time_left() == 0.0


async def test_run_cancels_the_leader_work_at_once_when_the_lease_is_lost() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a = elector(server, clock, "a", lease_duration=6, renew_deadline=4, retry_period=1)
    events: list[str] = []

    async def lead() -> None:
        events.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append(f"cancelled at {clock.now - started:g}")
            raise

    started = clock.now
    running = asyncio.create_task(a.run(lead))
    await clock.settle()
    assert events == ["started"]
    server.down.add("a")
    with pytest.raises(LeadershipLost, match="failed to renew"):
        await clock.drive(running)
    assert events == ["started", "cancelled at 4"]


async def test_run_waits_for_the_lease_before_leading() -> None:
    server, clock = FakeApiServer(), FakeClock()
    server.force(held_by("other"))
    a = elector(server, clock, "a")
    led_at: list[float] = []

    async def lead() -> None:
        led_at.append(clock.now)
        await asyncio.Event().wait()

    start = clock.now
    running = asyncio.create_task(a.run(lead))
    await clock.advance(20)
    assert led_at
    # Retries every 2s × (1 + 0.5 × 1.2) = 3.2s; the lease expires 15s after the first read.
    assert 15 <= led_at[0] - start < 15 + 3.2
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert server.record is not None and server.record.holder_identity == "a"


async def test_release_lets_a_standby_take_over_immediately() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a, b = elector(server, clock, "a"), elector(server, clock, "b")
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    await clock.advance(1)
    assert await a.release()
    record = server.record
    assert record is not None
    assert record.holder_identity == "" and record.lease_duration_seconds == 1
    assert not a.is_leader and a.time_left() == 0.0
    assert await b.try_acquire_or_renew()
    record = server.record
    assert record is not None and record.holder_identity == "b" and record.leader_transitions == 1
    # Releasing a lease someone else holds writes nothing.
    writes = len(server.writes)
    assert await a.release()
    assert len(server.writes) == writes


async def test_optimistic_renewal_falls_back_to_reading_on_conflict() -> None:
    server, clock = FakeApiServer(), FakeClock()
    a = elector(server, clock, "a")
    await a.acquire()
    # Someone touches the Lease (e.g. a label) without taking it: a's cached version is stale.
    assert server.spec is not None
    server.force(LeaseRecord.from_spec(server.spec))
    await clock.advance(2)
    assert await a.try_acquire_or_renew()
    record = server.record
    assert record is not None and record.holder_identity == "a" and record.leader_transitions == 0
    assert a.time_left() == pytest.approx(10.0)


# -- the command line -----------------------------------------------------------------------


def test_command_line_options() -> None:
    from redis_operator.cli import _leader_election, build_parser

    parser = build_parser()
    assert _leader_election(parser.parse_args(["run"])) is None
    args = parser.parse_args(
        [
            "run",
            "--leader-elect",
            "--leader-election-namespace=ops",
            "--leader-election-id=my-lease",
            "--leader-elect-lease-duration=6s",
            "--leader-elect-renew-deadline=4",
            "--leader-elect-retry-period=0.5s",
        ]
    )
    config = _leader_election(args)
    assert config is not None
    assert (config.namespace, config.name) == ("ops", "my-lease")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (6, 4, 0.5)
    defaults = _leader_election(parser.parse_args(["run", "--leader-elect"]))
    assert defaults is not None and defaults.name == "redis-operator-leader"
    assert (defaults.lease_duration, defaults.renew_deadline, defaults.retry_period) == (15, 10, 2)
    with pytest.raises(SystemExit) as exited:
        _leader_election(
            parser.parse_args(["run", "--leader-elect", "--leader-elect-renew-deadline=20"])
        )
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--leader-elect-retry-period=-1"])


def test_default_lease_namespace_is_the_pods_own_else_the_install_namespace(
    tmp_path: Path,
) -> None:
    from redis_operator.cli import (
        SERVICE_ACCOUNT_NAMESPACE_FILE,
        _leader_election,
        build_parser,
        default_lease_namespace,
    )
    from redis_operator.manifests import NAMESPACE

    assert str(SERVICE_ACCOUNT_NAMESPACE_FILE) == (
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    )
    mounted = tmp_path / "namespace"
    mounted.write_text("operators\n")
    assert default_lease_namespace(mounted) == "operators"
    assert default_lease_namespace(tmp_path / "absent") == "redis-operator-system"
    assert NAMESPACE == "redis-operator-system"
    for empty in ("", "  \n"):
        mounted.write_text(empty)
        assert default_lease_namespace(mounted) == NAMESPACE
    assert default_lease_namespace(tmp_path) == NAMESPACE  # a directory: unreadable as a file
    # Without --leader-election-namespace the command line takes it (the mount, or else the
    # install namespace: which one depends on where the test runs).
    config = _leader_election(build_parser().parse_args(["run", "--leader-elect"]))
    assert config is not None and config.namespace == default_lease_namespace()


def loaded_by(*modules: str) -> list[str]:
    """The operator's modules that importing ``modules`` loads, in a fresh interpreter (this
    one has imported everything already)."""
    code = "import sys\n" + "".join(f"import {module}\n" for module in modules)
    code += "print(*sorted(m for m in sys.modules if m.startswith('redis_operator.')))"
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()


def test_the_elector_imports_nothing_else_of_the_operator() -> None:
    assert loaded_by("redis_operator.leaderelection.election") == [
        "redis_operator.lazy_client",  # the package's own first step (redis_operator/__init__)
        "redis_operator.leaderelection",
        "redis_operator.leaderelection.election",
    ]


def test_the_lease_lock_imports_only_the_client_seam_besides() -> None:
    loaded = loaded_by("redis_operator.leaderelection.lease_lock")
    others = [
        m
        for m in loaded
        if not m.startswith(("redis_operator.leaderelection", "redis_operator.kube"))
    ]
    assert "redis_operator.kube.client" in loaded
    # The client's resource names, and the package's own first step (redis_operator/__init__).
    assert others == ["redis_operator.api", "redis_operator.lazy_client"]
