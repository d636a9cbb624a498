"""List and watch: a full listing with the resourceVersion it was taken at, and the watch
stream that continues from there (the two calls of client-go's ``ListerWatcher``).

The informers (``controller/informer.py``) build the store from these; how they resume, relist
and back off is theirs. Here is only the wire: the listing in pages, the stream's JSON lines
decoded as they come, ``BOOKMARK`` events asked for (they carry a newer resourceVersion on a
quiet stream, so a resumed watch rarely starts too far back), and an ``ERROR`` event (the
apiserver's way of saying ``410 Gone`` mid-stream) raised as the :class:`ApiError` it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp
import orjson
from kubernetes_asyncio import client

from redis_operator.kube.client import (
    JSON,
    Kind,
    Obj,
    call,
    collection_path,
)
from redis_operator.kube.errors import (
    CLIENT_ERRORS,
    TransportError,
    from_status,
    refusal,
    translate,
)

#: Page size of listings (client-go's informers list 500 at a time).
LIST_PAGE_SIZE = 500

BOOKMARK: Final = "BOOKMARK"
"""A watch event that only moves the resourceVersion on (``allowWatchBookmarks``)."""

GONE: Final = 410
"""The resourceVersion asked for is older than the apiserver still remembers: list again."""


@dataclass(frozen=True)
class Listing:
    """Every object of a kind, and the resourceVersion to watch from for what comes next."""

    items: list[Obj]
    resource_version: str


@dataclass(frozen=True)
class Event:
    """One watch event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK``, and the object
    (for a bookmark only its ``metadata.resourceVersion`` means anything)."""

    type: str
    object: Obj

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


Transform = Callable[[Obj], Obj]
"""What a listing keeps of each object it lists (client-go's ``TransformFunc``): applied page by
page, so a listing of thousands of pods is never held whole as the apiserver sent it."""


class ListWatch(Protocol):
    """Listing and watching one kind, in one namespace or in all (``None``), optionally only
    the objects a label selector (``key`` or ``key=value``, comma-separated) matches, each
    listed object as ``transform`` makes it (as it came if None).

    Implementations raise only :class:`~redis_operator.kube.errors.KubeError`; a watch whose
    resourceVersion is too old raises an :class:`ApiError` with status :data:`GONE`, at its
    start or mid-stream.
    """

    async def list_objects(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None = None,
        transform: Transform | None = None,
    ) -> Listing: ...

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        resource_version: str,
        label_selector: str | None = None,
    ) -> AsyncIterator[Event]:
        """The changes after ``resource_version``, until the server ends the stream."""
        ...


class JsonListWatch:
    """:class:`ListWatch` on a kubernetes_asyncio ``ApiClient``, in plain JSON.

    ``server_timeout`` is the ``timeoutSeconds`` each watch asks for; a stream silent for
    ``client_timeout`` seconds is given up as dead (:class:`TransportError`).
    """

    def __init__(
        self, api_client: client.ApiClient, *, server_timeout: int, client_timeout: float
    ) -> None:
        self._client = api_client
        self._server_timeout = server_timeout
        self._client_timeout = client_timeout

    async def list_objects(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None = None,
        transform: Transform | None = None,
    ) -> Listing:
        path = collection_path(kind, namespace)
        items: list[Obj] = []
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", LIST_PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = await call(self._client, "GET", path, query=query)
            listed = page.get("items") or []
            items.extend(listed if transform is None else map(transform, listed))
            meta = page.get("metadata") or {}
            del page, listed
            token = meta.get("continue") or ""
            if not token:
                return Listing(items, str(meta.get("resourceVersion") or ""))

    async def watch(
        self,
        kind: Kind,
        namespace: str | None,
        resource_version: str,
        label_selector: str | None = None,
    ) -> AsyncIterator[Event]:
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", self._server_timeout),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        timeout = aiohttp.ClientTimeout(sock_read=self._client_timeout)
        try:
            response: aiohttp.ClientResponse = await self._client.call_api(
                collection_path(kind, namespace),
                "GET",
                query_params=query,
                header_params={"Accept": JSON},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except CLIENT_ERRORS as exc:
            raise translate(exc) from exc
        try:
            if response.status != 200:
                raise refusal(response.status, await _body(response))
            while True:
                try:
                    line = await response.content.readline()
                except CLIENT_ERRORS as exc:
                    raise translate(exc) from exc
                except ValueError as exc:  # a line beyond the read buffer
                    raise TransportError(f"watch stream: {exc}") from exc
                if not line:
                    return  # the server ended the stream (its timeout)
                if not line.strip():
                    continue
                yield _event(line)
        finally:
            response.release()


def _event(line: bytes) -> Event:
    try:
        decoded = orjson.loads(line)
    except ValueError as exc:
        raise TransportError(f"watch stream: undecodable event: {exc}") from exc
    kind, obj = decoded.get("type"), decoded.get("object") or {}
    if kind == "ERROR":
        raise from_status(obj)
    return Event(str(kind), obj)


async def _body(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except CLIENT_ERRORS:
        return b""
