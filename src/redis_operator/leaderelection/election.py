"""Leader election on a ``coordination.k8s.io/v1`` Lease: the record, the decisions, the elector.

Several operator processes may run; only the one holding the Lease reconciles. The protocol is
client-go's (``tools/leaderelection``):

- The Lease's spec is the election record: ``holderIdentity``, ``leaseDurationSeconds``,
  ``acquireTime``, ``renewTime``, ``leaseTransitions``. Every write is a replace carrying the
  ``resourceVersion`` last read, so of two candidates racing for an expired Lease one wins and the
  other gets a conflict.
- A candidate reads the Lease every retry period (with jitter). A Lease held by someone else is
  respected for ``leaseDurationSeconds`` counted from the moment *this* process saw the record
  last change, on its own monotonic clock, as client-go does: no two clocks are ever compared,
  so clock skew between machines cannot shorten a lease. (With synchronised clocks this is
  ``renewTime + leaseDurationSeconds``, give or take one retry period.) An empty holder means
  released: anyone may take it at once. Taking the Lease over increments ``leaseTransitions``.
- The leader renews every retry period. If it has not renewed successfully within the renew
  deadline (shorter than the lease duration, so it stops before anyone may take over), or it
  sees another holder, it has lost the lease.
- On a graceful stop the leader releases the Lease (empty holder, ``leaseDurationSeconds: 1``,
  client-go's ``ReleaseOnCancel``), so a standby takes over at its next retry.

The decisions are pure functions (:func:`observe`, :func:`decide`, :func:`release_record`,
:func:`renew_deadline_passed`), tested on a fake clock; :class:`LeaderElector` runs them against
a :class:`LeaseLock`, whose Kubernetes implementation is
:class:`~redis_operator.leaderelection.lease_lock.KubernetesLeaseLock`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random as _random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol

log = logging.getLogger(__name__)

#: client-go's defaults (``LeaseDuration``, ``RenewDeadline``, ``RetryPeriod``), in seconds.
DEFAULT_LEASE_DURATION = 15.0
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0
#: A candidate waits ``retry_period * (1 + random() * JITTER_FACTOR)`` between attempts.
JITTER_FACTOR = 1.2
DEFAULT_LEASE_NAME = "redis-operator-leader"


def new_identity(hostname: str | None = None) -> str:
    """``<hostname>_<uuid>``, like client-go users build it: unique even for two processes on
    one host, and the pod name (the hostname) tells a human which replica leads."""
    return f"{hostname or socket.gethostname()}_{uuid.uuid4()}"


class LeadershipLost(Exception):
    """This process held the Lease and no longer does."""


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which Lease, who we are, and the timings (seconds), validated like client-go's."""

    namespace: str
    name: str = DEFAULT_LEASE_NAME
    identity: str = field(default_factory=new_identity)
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD

    def __post_init__(self) -> None:
        if not self.namespace or not self.name:
            raise ValueError("the Lease needs a namespace and a name")
        if not self.identity:
            raise ValueError("the leader election identity must not be empty")
        if self.renew_deadline <= 0 or self.retry_period <= 0:
            raise ValueError("the renew deadline and retry period must be positive")
        if self.lease_duration_seconds <= self.renew_deadline:
            # The Lease records whole seconds: that is what the other candidates will wait.
            raise ValueError(
                f"the lease duration ({self.lease_duration_seconds}s in whole seconds) must be"
                f" greater than the renew deadline ({self.renew_deadline}s)"
            )
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"the renew deadline ({self.renew_deadline}s) must be greater than"
                f" {JITTER_FACTOR} × the retry period ({self.retry_period}s)"
            )

    @property
    def lease_duration_seconds(self) -> int:
        """The lease duration as the Lease stores it."""
        return math.floor(self.lease_duration)

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"


# -- the election record and the pure decisions -------------------------------------------


def _micro_time(value: datetime | None) -> str | None:
    """A MicroTime as the apiserver parses it: RFC 3339 with exactly six fractional digits."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease's spec: client-go's ``LeaderElectionRecord``."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    leader_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> LeaseRecord:
        return cls(
            holder_identity=spec.get("holderIdentity") or "",
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": _micro_time(self.acquire_time),
            "renewTime": _micro_time(self.renew_time),
            "leaseTransitions": self.leader_transitions,
        }


@dataclass(frozen=True)
class Observation:
    """A record as last seen, and when (monotonic seconds) it was first seen exactly so."""

    record: LeaseRecord
    at: float

    @property
    def expires_at(self) -> float:
        return self.at + self.record.lease_duration_seconds

    def valid(self, now: float) -> bool:
        """Whether the holder's lease still runs, on our clock."""
        return self.expires_at > now


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Remember ``record``; the clock restarts only when it differs from what was seen before
    (a leader that renews keeps changing ``renewTime``, so its lease keeps running)."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


class Action(enum.Enum):
    """What a candidate does after reading the Lease."""

    CREATE = "create"  # no Lease yet: create it, holding it
    RENEW = "renew"  # we hold it: move renewTime on
    TAKE_OVER = "take over"  # free (released, or expired): become its holder
    WAIT = "wait"  # someone else holds a live lease


@dataclass(frozen=True)
class Decision:
    action: Action
    record: LeaseRecord | None = None
    """What to write (None for WAIT)."""
    holder: str = ""
    """Who holds the lease after the write, or who we wait for."""


def decide(
    observed: Observation | None,
    *,
    identity: str,
    lease_duration_seconds: int,
    now: float,
    wall: datetime,
) -> Decision:
    """client-go's ``tryAcquireOrRenew`` after the read: ``observed`` is None when there is no
    Lease; ``now`` is monotonic (validity), ``wall`` what goes into the record's times."""
    if observed is None:
        record = LeaseRecord(identity, lease_duration_seconds, wall, wall, 0)
        return Decision(Action.CREATE, record, identity)
    current = observed.record
    if current.holder_identity == identity:
        record = LeaseRecord(
            identity, lease_duration_seconds, current.acquire_time, wall, current.leader_transitions
        )
        return Decision(Action.RENEW, record, identity)
    if current.holder_identity and observed.valid(now):
        return Decision(Action.WAIT, None, current.holder_identity)
    transitions = current.leader_transitions + 1
    record = LeaseRecord(identity, lease_duration_seconds, wall, wall, transitions)
    return Decision(Action.TAKE_OVER, record, identity)


def release_record(current: LeaseRecord, wall: datetime) -> LeaseRecord:
    """The record a leader writes to give the lease up (client-go's ``release``): no holder,
    and a one-second duration so that even a candidate that ignored the empty holder would
    not wait long."""
    return LeaseRecord("", 1, wall, wall, current.leader_transitions)


def renew_deadline_passed(last_renewed: float, now: float, renew_deadline: float) -> bool:
    """A leader whose last successful write started ``renew_deadline`` ago must stop: the others
    may take over ``lease_duration`` after they saw that write, and renew < lease duration."""
    return now - last_renewed >= renew_deadline


# -- I/O: the Lease itself ----------------------------------------------------------------


class LeaseLock(Protocol):
    """The Lease as the elector reads and writes it (client-go's ``resourcelock.Interface``).

    ``update`` must carry the resourceVersion last read or written, so that it fails if the
    Lease changed in between.
    """

    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> None: ...

    async def update(self, record: LeaseRecord) -> None: ...


def _error_text(exc: BaseException) -> str:
    """A lock's failure for the log. The elector knows no lock's error types: their own text
    says what went wrong (the Kubernetes lock's, the apiserver's status and message)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# -- the elector ---------------------------------------------------------------------------


class Clock(Protocol):
    """Time for the elector: monotonic for durations, wall-clock for the record's times."""

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LeaderElector:
    """Acquires, renews and releases the Lease; :meth:`run` leads while holding it."""

    def __init__(
        self,
        lock: LeaseLock,
        config: LeaderElectionConfig,
        *,
        clock: Clock | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.lock = lock
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.random = random
        self.observed: Observation | None = None
        self.last_renewed: float | None = None
        """Monotonic start of our last successful write of the Lease."""
        self._reported_leader = ""

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def leader(self) -> str:
        """The holder last observed ("" when none)."""
        return self.observed.record.holder_identity if self.observed else ""

    @property
    def is_leader(self) -> bool:
        return self.leader == self.identity

    def time_left(self) -> float:
        """Seconds during which we surely still lead (until the renew deadline); 0 if not."""
        if not self.is_leader or self.last_renewed is None:
            return 0.0
        deadline = self.last_renewed + self.config.renew_deadline
        return max(0.0, deadline - self.clock.monotonic())

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the Lease afterwards (client-go's namesake)."""
        now, wall = self.clock.monotonic(), self.clock.wall()
        duration = self.config.lease_duration_seconds
        desc = self.config.describe()
        # 1. The leader renews optimistically, on the version it wrote last.
        if self.observed is not None and self.is_leader and self.observed.valid(now):
            decision = decide(
                self.observed,
                identity=self.identity,
                lease_duration_seconds=duration,
                now=now,
                wall=wall,
            )
            assert decision.record is not None
            try:
                await self.lock.update(decision.record)
            except Exception as exc:
                log.info("optimistic renewal of %s failed (%s); reading it", desc, _error_text(exc))
            else:
                self._wrote(decision.record, now)
                return True
        # 2. Read the Lease (or find there is none) and decide.
        try:
            current = await self.lock.get()
        except Exception as exc:
            log.warning("cannot read lease %s: %s", desc, _error_text(exc))
            return False
        if current is not None:
            self.observed = observe(self.observed, current, now)
        decision = decide(
            None if current is None else self.observed,
            identity=self.identity,
            lease_duration_seconds=duration,
            now=now,
            wall=wall,
        )
        self._report_leader()
        if decision.record is None:
            log.debug("lease %s is held by %s and has not expired", desc, decision.holder)
            return False
        try:
            if decision.action is Action.CREATE:
                await self.lock.create(decision.record)
            else:
                await self.lock.update(decision.record)
        except Exception as exc:
            log.warning("cannot %s lease %s: %s", decision.action.value, desc, _error_text(exc))
            return False
        self._wrote(decision.record, now)
        return True

    def _wrote(self, record: LeaseRecord, now: float) -> None:
        self.observed = Observation(record, now)
        self.last_renewed = now
        self._report_leader()

    def _report_leader(self) -> None:
        leader = self.leader
        if leader != self._reported_leader:
            self._reported_leader = leader
            if leader and leader != self.identity:
                log.info("lease %s is held by %s", self.config.describe(), leader)

    async def _attempt(self, timeout: float) -> bool:  # noqa: ASYNC109 (a deadline, not an API)
        try:
            async with asyncio.timeout(timeout):
                return await self.try_acquire_or_renew()
        except TimeoutError:
            log.warning("no answer about lease %s within %.1fs", self.config.describe(), timeout)
            return False

    async def acquire(self) -> None:
        """Return once we hold the Lease, retrying every retry period (with jitter)."""
        config = self.config
        log.info("attempting to acquire lease %s as %s", config.describe(), self.identity)
        while not await self._attempt(config.renew_deadline):
            jitter = 1.0 + self.random() * JITTER_FACTOR
            await self.clock.sleep(config.retry_period * jitter)
        log.info("acquired lease %s as %s", config.describe(), self.identity)

    async def renew(self) -> str:
        """Renew every retry period while we lead; return why we stopped leading."""
        config = self.config
        while True:
            await self.clock.sleep(config.retry_period)
            while True:
                assert self.last_renewed is not None, "renew() runs after acquire()"
                now = self.clock.monotonic()
                if renew_deadline_passed(self.last_renewed, now, config.renew_deadline):
                    deadline = config.renew_deadline
                    return f"failed to renew lease {config.describe()} within {deadline}s"
                remaining = self.last_renewed + config.renew_deadline - now
                if await self._attempt(remaining):
                    break
                if not self.is_leader:
                    return f"lease {config.describe()} is now held by {self.leader or 'nobody'}"
                left = self.last_renewed + config.renew_deadline - self.clock.monotonic()
                await self.clock.sleep(max(0.0, min(config.retry_period, left)))

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> NoReturn:
        """Acquire the Lease, then run ``lead()`` while renewing it.

        When leadership is lost, ``lead()`` is cancelled at once (awaited until it is gone)
        and :class:`LeadershipLost` is raised. An exception of ``lead()`` propagates. Cancelling
        ``run`` cancels both; the Lease is not released then: call :meth:`release` once the
        leader's last writes are done.
        """
        await self.acquire()
        leading = asyncio.create_task(lead(), name="leader-election-lead")
        renewing = asyncio.create_task(self.renew(), name="leader-election-renew")
        try:
            await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if not renewing.done():
                leading.result()  # raises what lead() raised; else keep holding the lease
                reason = await renewing
            else:
                reason = renewing.result()
        finally:
            leading.cancel()
            renewing.cancel()
            await asyncio.gather(leading, renewing, return_exceptions=True)
        log.error("stopped leading: %s", reason)
        raise LeadershipLost(reason)

    async def release(self) -> bool:
        """Give the Lease up if we hold it, so that a standby takes over at once."""
        if not self.is_leader:
            return True
        desc = self.config.describe()
        try:
            async with asyncio.timeout(self.config.renew_deadline):
                current = await self.lock.get()
                if current is None or current.holder_identity != self.identity:
                    return True
                record = release_record(current, self.clock.wall())
                await self.lock.update(record)
        except Exception as exc:
            log.warning("cannot release lease %s: %s", desc, _error_text(exc))
            return False
        self.observed = Observation(record, self.clock.monotonic())
        log.info("released lease %s", desc)
        return True
