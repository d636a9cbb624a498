"""EventBroadcaster: correlates at call time, then writes through a bounded, non-blocking queue.

Writes for one Event stay in order (one queue per Event, at most one of its writes in
flight), while a pool of workers writes different Events side by side. A write waiting
to retry waits off the pool, so it holds up nothing but its own Event's later writes —
client-go writes one event at a time, and one retrying event blocks all the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from event_recorder.correlator import Correlator, PeriodicJob
from event_recorder.event import EventDraft
from event_recorder.events_v1 import EventsV1Recorder, SeriesCorrelator, reporting_instance
from event_recorder.metrics import metrics_for
from event_recorder.options import RecorderOptions
from event_recorder.recorder import CoreV1Recorder, EventRecorder
from event_recorder.sink import ApiStatusError, KubernetesSink, Sink, SinkError, TransportError
from event_recorder.writes import Decision, EventAPI, Verb, Verdict, Write, WriteKey

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient
    from prometheus_client import CollectorRegistry

logger = logging.getLogger("event_recorder")

Clock = Callable[[], int]
"""Wall-clock time in Unix nanoseconds."""

Sleep = Callable[[float], Awaitable[None]]


class _Correlator(Protocol):
    """What the broadcaster needs from either API mode's correlation."""

    def observe(self, draft: EventDraft, now_ns: int) -> Decision: ...

    def learn(
        self, events: Iterable[Mapping[str, Any]], *, component: str, host: str | None
    ) -> int: ...

    def periodic_jobs(self) -> tuple[PeriodicJob, ...]: ...

    def flush_all(self, now_ns: int) -> list[Write]: ...


class _RecreateConflict(SinkError):
    """A series PATCH got 404 and the create then 409: someone recreated it; try again."""

    @property
    def retryable(self) -> bool:
        """Always: the next PATCH will find the Event."""
        return True


class _Job:
    """A queued write and the attempts spent on it."""

    __slots__ = ("tries", "write")

    def __init__(self, write: Write) -> None:
        self.write = write
        self.tries = 0


class EventBroadcaster:
    """Owns correlation state and the writer; hands out recorders.

    ``api_client`` is a ``kubernetes_asyncio`` ``ApiClient`` or any :class:`Sink`
    (e.g. :class:`InMemorySink` in tests). ``clock``, ``sleep`` and ``random`` are
    injectable so tests run on fake time. Recorders may be called from any thread.
    """

    def __init__(
        self,
        api_client: ApiClient | Sink,
        options: RecorderOptions | None = None,
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock = time.time_ns,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._options = options = options or RecorderOptions()
        self._sink: Sink = (
            api_client if isinstance(api_client, Sink) else KubernetesSink(api_client)
        )
        self._metrics = metrics_for(registry)
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._correlator: _Correlator = (
            Correlator(options) if options.api is EventAPI.CORE_V1 else SeriesCorrelator(options)
        )
        # The lock guards correlation and the queues: recorders may run in any thread.
        # A key is in _ready, or has its head write in flight or waiting to retry,
        # exactly as long as it has a queue.
        self._lock = threading.Lock()
        self._queues: dict[WriteKey, deque[_Job]] = {}
        self._ready: deque[WriteKey] = deque()
        self._pending = 0
        self._learning = 0  # learn_existing calls under way
        self._held: list[tuple[EventDraft, int]] = []  # recorded meanwhile, with their time
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._work = asyncio.Event()  # set while _ready may be non-empty
        self._idle = asyncio.Event()  # set when _pending drops to 0
        self._tasks: set[asyncio.Task[None]] = set()  # workers, retry waits, series timers
        self._timers: list[asyncio.Task[None]] = []

    @property
    def options(self) -> RecorderOptions:
        """The options this broadcaster runs with."""
        return self._options

    @property
    def pending(self) -> int:
        """Writes queued, in flight, or waiting to retry."""
        with self._lock:
            return self._pending

    async def start(self) -> None:
        """Start writing, on the running event loop. Events recorded earlier are kept."""
        if self._closed:
            raise RuntimeError("the broadcaster has been shut down")
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for _ in range(self._options.write_concurrency):
            self._spawn(self._worker())
        self._timers = [
            self._spawn(self._every(interval, job))
            for interval, job in self._correlator.periodic_jobs()
        ]
        self._work.set()

    async def learn_existing(
        self, component: str, host: str | None = None, *, namespace: str | None = None
    ) -> int:
        """Learn the Events ``component`` already wrote, so repeats continue them.

        Call it once at startup: after an operator restart a repeat then becomes
        ``(x3 over 10m)`` on the same Event instead of a new Event. Events recorded while it
        runs are held (up to ``queue_size``) and correlated once it is done, each with the
        time it was recorded, so the caller need not wait for it before recording: the
        listing (thousands of Events at scale) stays off the path to the first pass. Give
        ``host`` as passed to :meth:`new_recorder` to adopt Events written under any
        host (a restarted pod has a new name); ``None`` keeps each Event's own host.
        Needs ``list`` on events. Best effort: on API trouble it logs and returns 0.
        Returns the number of Events learned.
        """
        with self._lock:
            self._learning += 1
        try:
            try:
                events = await self._sink.list_events(component, namespace)
            except SinkError as error:
                logger.warning("Could not list existing Events of %s: %s", component, error)
                return 0
            with self._lock:
                learned = self._correlator.learn(events, component=component, host=host)
            del events
            logger.info("Learned %d existing Events of %s", learned, component)
            return learned
        finally:
            self._release_held()

    def new_recorder(self, component: str, host: str = "") -> EventRecorder:
        """A recorder reporting as ``component`` (the Events' From column) on ``host``.

        In events.k8s.io/v1 mode it is an :class:`EventsV1Recorder` (which also takes
        ``action`` and ``related``) whose reportingInstance is ``<component>-<host>``.
        """
        if self._options.api is EventAPI.CORE_V1:
            return CoreV1Recorder(
                submit=self._submit,
                refuse=self._refuse,
                controller=component,
                instance=host,
            )
        return EventsV1Recorder(
            submit=self._submit,
            refuse=self._refuse,
            controller=component,
            instance=reporting_instance(component, host),
        )

    async def flush(self) -> None:
        """Wait until every queued write has been sent or given up on."""
        if self._loop is None:
            raise RuntimeError("start() the broadcaster first")
        while self.pending:
            self._idle.clear()  # no await since the check: no worker ran in between
            await self._idle.wait()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (API shape)
        """Stop accepting events and drain the queue within ``timeout`` seconds.

        ``timeout`` defaults to ``options.shutdown_timeout``. Writes still unsent at
        the deadline are abandoned and counted as dropped. In events.k8s.io/v1 mode the
        counts held in memory are written first.
        """
        if self._closed:
            return
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            signal = [self._offer(w) for w in self._correlator.flush_all(self._clock())]
            self._closed = True
        if any(signal):
            self._signal()
        if self._loop is not None:
            try:
                async with asyncio.timeout(
                    self._options.shutdown_timeout if timeout is None else timeout
                ):
                    await self.flush()
            except TimeoutError:
                pass
        await self._abandon()

    async def __aenter__(self) -> EventBroadcaster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    # Intake: called by recorders, from any thread; never blocks, never raises.

    def _submit(self, draft: EventDraft) -> None:
        try:
            with self._lock:
                if self._learning and not self._closed:
                    self._hold(draft)
                    return
                outcome = self._observe(draft, self._clock())
            self._settle([outcome])
        except Exception:  # a recorder must never break its caller
            logger.exception("Failed to record event %r", draft.reason)
            self._metrics.failed.labels(reason="unexpected").inc()

    def _hold(self, draft: EventDraft) -> None:
        """Keep a draft recorded while Events are being learned (lock held)."""
        if len(self._held) >= self._options.queue_size:
            self._metrics.dropped.labels(reason="queue_full").inc()
            logger.error("Too many Events recorded while learning, dropped %r", draft.reason)
            return
        self._held.append((draft, self._clock()))

    def _release_held(self) -> None:
        """Correlate what was held, in order, once the last learning is done."""
        try:
            with self._lock:
                self._learning -= 1
                if self._learning:
                    return
                held, self._held = self._held, []
                outcomes = [self._observe(draft, now_ns) for draft, now_ns in held]
            self._settle(outcomes)
        except Exception:  # the held Events are lost, the learning's caller is not broken
            logger.exception("Failed to record the Events held while learning")
            self._metrics.failed.labels(reason="unexpected").inc()

    def _observe(self, draft: EventDraft, now_ns: int) -> tuple[EventDraft, Decision | None, bool]:
        """Correlate and queue one draft (lock held): its decision (None once shut down) and
        whether a worker must be woken."""
        decision = None if self._closed else self._correlator.observe(draft, now_ns)
        write = None if decision is None else decision.write
        return draft, decision, write is not None and self._offer(write)

    def _settle(self, outcomes: list[tuple[EventDraft, Decision | None, bool]]) -> None:
        """Count what was observed and wake a worker if needed (lock not held)."""
        signal = False
        for draft, decision, wake in outcomes:
            if decision is None:
                self._metrics.dropped.labels(reason="shutdown").inc()
                logger.warning("Event %r not recorded: the broadcaster is shut down", draft.reason)
                continue
            self._count(draft, decision)
            signal = signal or wake
        if signal:
            self._signal()

    def _refuse(self, reason: str) -> None:
        self._metrics.refused.labels(reason=reason).inc()

    def _count(self, draft: EventDraft, decision: Decision) -> None:
        metrics = self._metrics
        metrics.recorded_by_type[draft.type].inc()
        if decision.aggregated:
            metrics.aggregated.inc()
        if decision.occurrences > 1:
            metrics.deduplicated.inc()
        if decision.verdict is Verdict.SPAM_FILTERED:
            metrics.spam_filtered.inc()

    def _offer(self, write: Write) -> bool:
        """Queue a write (lock held); True when a worker must be woken for it."""
        if self._pending >= self._options.queue_size:
            self._metrics.dropped.labels(reason="queue_full").inc()
            logger.error("Too many queued Event writes, dropped %s", write.name)
            return False
        self._pending += 1
        key = write.key
        queue = self._queues.get(key)
        if queue is not None:  # its holder picks this write up after the earlier ones
            queue.append(_Job(write))
            return False
        self._queues[key] = deque((_Job(write),))
        self._ready.append(key)
        return True

    def _signal(self) -> None:
        loop = self._loop
        if loop is None:
            return  # start() wakes the workers
        if threading.get_ident() == self._loop_thread:
            self._work.set()
        else:
            loop.call_soon_threadsafe(self._work.set)

    # Writer: runs on the event loop.

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._loop is not None, "only called once started"
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _worker(self) -> None:
        """Take the next ready Event and try its oldest write, forever."""
        while True:
            await self._work.wait()
            with self._lock:
                if not self._ready:
                    self._work.clear()
                    continue
                key = self._ready.popleft()
                job = self._queues[key][0]
            if await self._attempt(job.write):
                self._finish(key)
            else:
                self._retry_later(key, job)

    def _finish(self, key: WriteKey) -> None:
        """The head write of ``key`` is done with; release the key or ready its next."""
        with self._lock:
            queue = self._queues[key]
            queue.popleft()
            self._pending -= 1
            if queue:
                self._ready.append(key)
                self._work.set()
            else:
                del self._queues[key]
            if not self._pending:
                self._idle.set()

    def _retry_later(self, key: WriteKey, job: _Job) -> None:
        """client-go's schedule: the first sleep is random, then a fixed interval."""
        job.tries += 1
        if job.tries >= self._options.max_tries:
            logger.error("Unable to write Event %s (retry limit exceeded)", job.write.name)
            self._metrics.failed.labels(reason="retries_exhausted").inc()
            self._finish(key)
            return
        interval = self._options.retry_interval
        delay = interval * self._random() if job.tries == 1 else interval
        self._spawn(self._ready_after(delay, key))

    async def _ready_after(self, delay: float, key: WriteKey) -> None:
        await self._sleep(delay)
        with self._lock:
            self._ready.append(key)
        self._work.set()

    async def _attempt(self, write: Write) -> bool:
        """One try; True when the write is done with (sent or given up on)."""
        try:
            await self._send(write)
            return True
        except SinkError as error:
            if error.retryable:
                logger.warning("Unable to write Event %s (will retry): %s", write.name, error)
                return False
            logger.error("Server rejected Event %s (will not retry): %s", write.name, error)
            self._metrics.failed.labels(reason="rejected").inc()
        except Exception:
            logger.exception("Unexpected error writing Event %s (will not retry)", write.name)
            self._metrics.failed.labels(reason="unexpected").inc()
        return True

    async def _send(self, write: Write) -> None:
        """PATCH a repeat; create a first occurrence, or a repeat whose Event is gone."""
        if write.patch is not None:
            try:
                await self._call(Verb.PATCH, write)
                return
            except ApiStatusError as error:
                if error.status != 404:
                    raise
        try:
            await self._call(Verb.CREATE, write)
        except ApiStatusError as error:
            if error.status == 409 and write.patch is not None and write.api is EventAPI.EVENTS_V1:
                raise _RecreateConflict(str(error)) from error
            raise

    async def _call(self, verb: Verb, write: Write) -> None:
        """One API call, bounded by the request timeout and counted by verb and result."""
        try:
            async with asyncio.timeout(self._options.request_timeout):
                if verb is Verb.PATCH:
                    await self._sink.patch(
                        write.api, write.namespace, write.name, write.patch or {}
                    )
                else:
                    await self._sink.create(write.api, write.namespace, write.body)
        except TimeoutError as error:
            self._metrics.api_writes.labels(verb=verb.value, result="transport_error").inc()
            raise TransportError(f"no answer within {self._options.request_timeout}s") from error
        except ApiStatusError:
            self._metrics.api_writes.labels(verb=verb.value, result="api_error").inc()
            raise
        except TransportError:
            self._metrics.api_writes.labels(verb=verb.value, result="transport_error").inc()
            raise
        self._metrics.api_writes.labels(verb=verb.value, result="success").inc()

    async def _every(self, interval: float, job: Callable[[int], list[Write]]) -> None:
        """Run a correlator timer job (events.k8s.io/v1 series) every ``interval`` seconds."""
        while True:
            await self._sleep(interval)
            with self._lock:
                signal = [self._offer(w) for w in job(self._clock())]
            if any(signal):
                self._signal()

    async def _abandon(self) -> None:
        """Cancel what the deadline left unsent and count it as dropped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with self._lock:
            lost = self._pending
            self._queues.clear()
            self._ready.clear()
            self._pending = 0
        self._idle.set()
        if lost:
            self._metrics.dropped.labels(reason="shutdown").inc(lost)
            logger.warning("%d Event writes not sent before the shutdown deadline", lost)
