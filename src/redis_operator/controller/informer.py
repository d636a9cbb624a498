"""An informer: one kind's objects kept in the store in step with the apiserver, through an
outage and a restart of it (client-go's Reflector).

It lists, hands the whole listing over as a *replacement* of what was held (so an object that
went while nobody watched is dropped, as client-go's ``DeltaFIFO.Replace`` does), then watches
from the listing's resourceVersion. A stream that ends or breaks is reopened from the last
resourceVersion seen, so the apiserver replays every change in between, deletions included;
when it no longer remembers that far back (``410 Gone``: after it restarted, or after a long
outage) the informer lists again. Failures back off along ``WatchSettings.error_backoffs`` and
never give up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from redis_operator.kube.client import Kind, Obj
from redis_operator.kube.errors import ApiError, KubeError, error_text
from redis_operator.kube.watch import BOOKMARK, GONE, Event, Listing, ListWatch, Transform

log = logging.getLogger(__name__)


class InformerSink(Protocol):
    """Where an informer's findings go (the controller's
    :class:`~redis_operator.controller.handlers.WatchHandlers`)."""

    def replace(self, kind: Kind, namespace: str | None, listing: Listing) -> None:
        """A full listing of ``kind`` in ``namespace`` (all if None): what it lacks is gone."""
        ...

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        """One change: ``ADDED``, ``MODIFIED`` or ``DELETED``."""
        ...


class Informer:
    """Lists and watches one kind in one namespace (or all) into a sink, until cancelled."""

    def __init__(
        self,
        source: ListWatch,
        kind: Kind,
        namespace: str | None,
        sink: InformerSink,
        *,
        backoffs: Sequence[float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        label_selector: str | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.source = source
        self.transform = transform
        """What is kept of each listed object, page by page (the store's form)."""
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.sink = sink
        self.backoffs = tuple(backoffs) or (1.0,)
        self.sleep = sleep
        self.synced = asyncio.Event()
        """Set once the first listing is in the sink (controller-runtime's HasSynced)."""
        self.lists = 0
        """Listings taken: the first one, and one per relist."""

    @property
    def scope(self) -> str:
        return f"{self.kind}s in {self.namespace}" if self.namespace else f"{self.kind}s"

    async def run(self) -> None:
        resource_version: str | None = None
        failures = 0
        while True:
            try:
                if resource_version is None:
                    listing = await self.source.list_objects(
                        self.kind, self.namespace, self.label_selector, self.transform
                    )
                    self.lists += 1
                    self.sink.replace(self.kind, self.namespace, listing)
                    resource_version = listing.resource_version
                    del listing  # not held while watching: the store has what it keeps
                    self.synced.set()
                    failures = 0
                quiet = True
                stream = self.source.watch(
                    self.kind, self.namespace, resource_version, self.label_selector
                )
                async for event in stream:
                    quiet, failures = False, 0
                    resource_version = self._take(event) or resource_version
                if quiet:
                    await self.sleep(self.backoffs[0])  # a stream that ends at once: no spin
            except ApiError as exc:
                if exc.status == GONE:
                    log.info(
                        "%s: resourceVersion %s expired; listing again",
                        self.scope,
                        resource_version,
                    )
                    resource_version = None
                    continue
                if not exc.retryable:
                    resource_version = None  # RBAC or a missing resource: start over
                failures = await self._back_off(exc, failures)
            except KubeError as exc:
                failures = await self._back_off(exc, failures)

    def _take(self, event: Event) -> str:
        """Hand an event to the sink; the resourceVersion to resume from after it."""
        if event.type != BOOKMARK:
            self.sink.event(self.kind, event.type, event.object)
        return event.resource_version

    async def _back_off(self, exc: KubeError, failures: int) -> int:
        delay = self.backoffs[min(failures, len(self.backoffs) - 1)]
        log.warning("watching %s failed (%s); retrying in %gs", self.scope, error_text(exc), delay)
        await self.sleep(delay)
        return failures + 1
