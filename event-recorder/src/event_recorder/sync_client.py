"""SyncKubernetesSink: a Sink on the official synchronous ``kubernetes`` client.

Its blocking calls run in worker threads (``asyncio.to_thread``), so the broadcaster's loop
and every recorder's caller go on while a request is on the wire. Pair it with
:class:`~event_recorder.BackgroundBroadcaster` in a program that has no event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from event_recorder.sink import (
    STRATEGIC_MERGE_PATCH,
    ApiStatusError,
    TransportError,
    status_message,
    written_by,
)
from event_recorder.writes import EventAPI

_LIST_PAGE_SIZE = 500


class SyncKubernetesSink:
    """A :class:`~event_recorder.Sink` on ``kubernetes.client`` API objects.

    ``core_v1`` is a ``CoreV1Api`` (or anything with its ``create_namespaced_event``,
    ``patch_namespaced_event``, ``list_event_for_all_namespaces`` and
    ``list_namespaced_event``); ``events_v1`` an ``EventsV1Api``, needed only in the
    events.k8s.io/v1 mode. :meth:`for_client` builds both from an ``ApiClient``.
    Bodies go out as dicts, PATCHes as strategic-merge patches, lists are read raw
    (``_preload_content=False``) so Events stay in their JSON form.
    """

    def __init__(
        self, core_v1: Any, events_v1: Any = None, *, request_timeout: float = 30.0
    ) -> None:
        # Imported here: the official client is an optional dependency (the "kubernetes" extra).
        import urllib3
        from kubernetes.client.exceptions import ApiException, OpenApiException

        self._apis = {EventAPI.CORE_V1: core_v1, EventAPI.EVENTS_V1: events_v1}
        self._timeout = request_timeout
        self._api_exception: type[Exception] = ApiException
        # A body the client's models refuse (pydantic's ValidationError is a ValueError).
        self._request_errors: tuple[type[Exception], ...] = (OpenApiException, ValueError)
        self._transport_errors: tuple[type[Exception], ...] = (
            urllib3.exceptions.HTTPError,
            OSError,
        )

    @classmethod
    def for_client(cls, api_client: Any, *, request_timeout: float = 30.0) -> SyncKubernetesSink:
        """The sink on a ``kubernetes.client.ApiClient``, for both API modes."""
        from kubernetes import client

        return cls(
            client.CoreV1Api(api_client),
            client.EventsV1Api(api_client),
            request_timeout=request_timeout,
        )

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        """POST the Event to its namespace's collection."""
        target = self._api(api)
        await self._call(target.create_namespaced_event, namespace, dict(body))

    async def patch(
        self, api: EventAPI, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """PATCH the Event with a strategic-merge patch."""
        target = self._api(api)
        await self._call(
            target.patch_namespaced_event,
            name,
            namespace,
            dict(patch),
            _content_type=STRATEGIC_MERGE_PATCH,
        )

    async def list_events(
        self, component: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """List by the ``source`` field selector; filter client-side if it is refused."""
        try:
            return await self._list(namespace, f"source={component}")
        except ApiStatusError as error:
            if error.status != 400:
                raise
        return [
            event for event in await self._list(namespace, None) if written_by(event, component)
        ]

    def _api(self, api: EventAPI) -> Any:
        target = self._apis[api]
        if target is None:
            raise ApiStatusError(0, f"no {api.value} API object given to the sink")
        return target

    async def _list(
        self, namespace: str | None, field_selector: str | None
    ) -> list[dict[str, Any]]:
        core = self._api(EventAPI.CORE_V1)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query: dict[str, Any] = {"limit": _LIST_PAGE_SIZE, "_preload_content": False}
            if field_selector:
                query["field_selector"] = field_selector
            if token:
                query["_continue"] = token
            if namespace is None:
                response = await self._call(core.list_event_for_all_namespaces, **query)
            else:
                response = await self._call(core.list_namespaced_event, namespace, **query)
            page = json.loads(response.data)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(method, *args, _request_timeout=self._timeout, **kwargs)
        except self._api_exception as error:
            status = int(getattr(error, "status", 0) or 0)
            raise ApiStatusError(status, status_message(error)) from error
        except self._request_errors as error:
            raise ApiStatusError(0, f"request could not be built: {error}") from error
        except self._transport_errors as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error
