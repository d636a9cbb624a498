"""BackgroundBroadcaster: an EventBroadcaster on its own event loop, for programs without one.

A synchronous program (the official ``kubernetes`` client, a thread-per-task controller) gets
the same recorder: calls correlate in the caller's thread in microseconds and queue the write;
a daemon thread runs the broadcaster's loop, whose writers send the requests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from event_recorder.broadcaster import EventBroadcaster
from event_recorder.options import RecorderOptions
from event_recorder.recorder import EventRecorder
from event_recorder.sink import Sink
from event_recorder.sync_client import SyncKubernetesSink

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

T = TypeVar("T")


class BackgroundBroadcaster:
    """Runs an :class:`~event_recorder.EventBroadcaster` in a thread of its own.

    ``api_client`` is a ``kubernetes.client.ApiClient`` (the official, synchronous client;
    wrapped in a :class:`~event_recorder.SyncKubernetesSink`) or any
    :class:`~event_recorder.Sink`. Recorders it hands out never block their caller; only
    :meth:`start`, :meth:`learn_existing`, :meth:`flush` and :meth:`shutdown` wait, each
    for its own work. A context manager: ``with BackgroundBroadcaster(api) as events:``.
    """

    def __init__(
        self,
        api_client: Any,
        options: RecorderOptions | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        options = options or RecorderOptions()
        sink: Sink = (
            api_client
            if isinstance(api_client, Sink)
            else SyncKubernetesSink.for_client(api_client, request_timeout=options.request_timeout)
        )
        self._broadcaster = EventBroadcaster(sink, options, registry)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="event-recorder", daemon=True
        )
        self._stopped = False

    @property
    def pending(self) -> int:
        """Writes queued, in flight, or waiting to retry."""
        return self._broadcaster.pending

    def start(self) -> None:
        """Start the thread and the writers. Events recorded earlier are kept."""
        if self._stopped:
            raise RuntimeError("the broadcaster has been shut down")
        if not self._thread.is_alive():
            self._thread.start()
        self._run(self._broadcaster.start(), None)

    def learn_existing(
        self,
        component: str,
        host: str | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = None,
    ) -> int:
        """:meth:`EventBroadcaster.learn_existing`, waited for (at most ``timeout`` seconds)."""
        return self._run(
            self._broadcaster.learn_existing(component, host, namespace=namespace), timeout
        )

    def new_recorder(self, component: str, host: str = "") -> EventRecorder:
        """A recorder reporting as ``component`` on ``host``; callable from any thread."""
        return self._broadcaster.new_recorder(component, host)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued write is sent or given up on; TimeoutError after ``timeout``."""
        self._run(self._broadcaster.flush(), timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Drain the queue within ``timeout`` seconds (default: the options'), then stop."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._run(self._broadcaster.shutdown(timeout), None)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> BackgroundBroadcaster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
        if not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("start() the broadcaster first")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise
