"""Where Events are written: the sink protocol, the Kubernetes API sink, an in-memory sink."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from event_recorder.writes import EventAPI, Verb

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
_LIST_PAGE_SIZE = 500


class SinkError(Exception):
    """A write or list failed."""

    @property
    def retryable(self) -> bool:
        """Whether the broadcaster should try the write again later."""
        return False


class ApiStatusError(SinkError):
    """The API server answered with an error status (or the request could not be built).

    Not retried, as client-go does not retry a status error — except 429, which
    client-go's REST client retries itself before the recorder ever sees it.
    """

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"API status {status}: {reason}" if reason else f"API status {status}")
        self.status = status
        self.reason = reason

    @property
    def retryable(self) -> bool:
        """Only 429 Too Many Requests."""
        return self.status == 429


class TransportError(SinkError):
    """The API server could not be reached or did not answer in time."""

    @property
    def retryable(self) -> bool:
        """Always: the server may well be back soon."""
        return True


@runtime_checkable
class Sink(Protocol):
    """Writes and lists Events. Implementations raise only :class:`SinkError`."""

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        """POST a new Event."""

    async def patch(
        self, api: EventAPI, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Strategic-merge PATCH an existing Event."""

    async def list_events(
        self, component: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Events (core/v1 form) written by ``component``, in all namespaces or one."""


def _listed(event: dict[str, Any]) -> dict[str, Any]:
    """A listed Event without ``metadata.managedFields``, which the recorder never reads: half
    of an Event as listed, and a restart lists every Event the operator wrote (thousands at
    scale), page by page."""
    metadata = event.get("metadata")
    if not metadata or "managedFields" not in metadata:
        return event
    return event | {"metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def _collection(api: EventAPI, namespace: str) -> str:
    prefix = "/api/v1" if api is EventAPI.CORE_V1 else "/apis/events.k8s.io/v1"
    return f"{prefix}/namespaces/{namespace}/events"


class KubernetesSink:
    """A :class:`Sink` on a ``kubernetes_asyncio`` ``ApiClient``.

    Requests go through ``ApiClient.call_api`` so that the PATCH content type is set
    explicitly to ``application/strategic-merge-patch+json`` (rather than inferred
    from the body's Python type) and no response is turned into a model: the recorder
    needs none, and listed Events stay plain dicts.
    """

    def __init__(self, api_client: ApiClient) -> None:
        # Imported here: kubernetes_asyncio takes a second or two to import, and the
        # rest of the package (fake recorder, in-memory sink) does not need it.
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException, OpenApiException

        self._client = api_client
        self._api_exception: type[Exception] = ApiException
        self._request_errors: tuple[type[Exception], ...] = (OpenApiException,)
        self._transport_errors: tuple[type[Exception], ...] = (
            aiohttp.ClientError,
            asyncio.TimeoutError,
            OSError,
        )

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        """POST the Event to its namespace's collection."""
        await self._call(_collection(api, namespace), "POST", dict(body), "application/json")

    async def patch(
        self, api: EventAPI, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """PATCH the Event with a strategic-merge patch."""
        path = f"{_collection(api, namespace)}/{name}"
        await self._call(path, "PATCH", dict(patch), STRATEGIC_MERGE_PATCH)

    async def list_events(
        self, component: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """List by the ``source`` field selector; filter client-side if it is refused.

        The API server matches ``source`` against ``source.component``, or
        ``reportingController`` when that is empty, so Events of both API modes match.
        """
        path = "/api/v1/events" if namespace is None else _collection(EventAPI.CORE_V1, namespace)
        try:
            return await self._list(path, f"source={component}")
        except ApiStatusError as error:
            if error.status != 400:
                raise
        return [event for event in await self._list(path, None) if written_by(event, component)]

    async def _list(self, path: str, field_selector: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query: list[tuple[str, str | int]] = [("limit", _LIST_PAGE_SIZE)]
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = await self._call(path, "GET", None, None, query=query, result="object")
            items.extend(map(_listed, page.get("items") or []))
            token = (page.get("metadata") or {}).get("continue") or ""
            del page
            if not token:
                return items

    async def _call(
        self,
        path: str,
        method: str,
        body: dict[str, Any] | None,
        content_type: str | None,
        *,
        query: list[tuple[str, str | int]] | None = None,
        result: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            return await self._client.call_api(
                path,
                method,
                query_params=query,
                header_params=headers,
                body=body,
                response_types_map={200: result} if result else None,
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except self._api_exception as error:
            status = int(getattr(error, "status", 0) or 0)
            raise ApiStatusError(status, status_message(error)) from error
        except self._request_errors as error:
            raise ApiStatusError(0, f"request could not be built: {error}") from error
        except self._transport_errors as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error


def status_message(error: Exception) -> str:
    """The API server's explanation (a Status object's message), else the HTTP reason."""
    try:
        status = json.loads(getattr(error, "body", None) or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(getattr(error, "reason", "") or "")


def written_by(event: Mapping[str, Any], component: str) -> bool:
    """Whether ``component`` wrote the Event (core/v1 ``source`` or events.k8s.io controller)."""
    source = event.get("source") or {}
    return (source.get("component") or event.get("reportingComponent")) == component


@dataclass(frozen=True, slots=True)
class SinkCall:
    """One call an :class:`InMemorySink` received; ``error`` is what it raised, if anything."""

    verb: Verb
    api: EventAPI
    namespace: str
    name: str
    body: dict[str, Any]
    error: SinkError | None = None


@dataclass(slots=True)
class _Failure:
    error: SinkError
    times: int
    verb: Verb | None
    name: str | None

    def matches(self, verb: Verb, name: str) -> bool:
        return self.verb in (None, verb) and self.name in (None, name)


class InMemorySink:
    """A :class:`Sink` keeping Events in a dict, for tests and benchmarks.

    It behaves like the API server where the recorder can tell: PATCH of a missing
    Event answers 404, a create of an existing name 409. :meth:`fail` scripts errors.
    """

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[SinkCall] = []
        self._failures: list[_Failure] = []

    def fail(
        self,
        error: SinkError,
        *,
        times: int = 1,
        verb: Verb | None = None,
        name: str | None = None,
    ) -> None:
        """Make the next ``times`` matching calls raise ``error``."""
        self._failures.append(_Failure(error, times, verb, name))

    def writes(self, verb: Verb | None = None) -> list[SinkCall]:
        """The successful calls, optionally of one verb, in order."""
        return [c for c in self.calls if c.error is None and verb in (None, c.verb)]

    def event(self, namespace: str, name: str) -> dict[str, Any]:
        """The stored Event as the API would return it."""
        return self.events[(namespace, name)]

    async def create(self, api: EventAPI, namespace: str, body: Mapping[str, Any]) -> None:
        """Store a new Event; 409 if the name is taken."""
        name = str(body["metadata"]["name"])
        exists = (namespace, name) in self.events
        self._log(Verb.CREATE, api, namespace, name, body, ApiStatusError(409) if exists else None)
        self.events[(namespace, name)] = copy.deepcopy(dict(body))

    async def patch(
        self, api: EventAPI, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Merge the patch into a stored Event; 404 if there is none."""
        stored = self.events.get((namespace, name))
        self._log(
            Verb.PATCH, api, namespace, name, patch, ApiStatusError(404) if not stored else None
        )
        if stored is not None:
            _merge(stored, patch)

    async def list_events(
        self, component: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored Events of ``component`` in core/v1 form, as the API server lists them."""
        views = (
            _core_view(event)
            for (event_namespace, _), event in self.events.items()
            if namespace in (None, event_namespace)
        )
        return [copy.deepcopy(view) for view in views if written_by(view, component)]

    def _log(
        self,
        verb: Verb,
        api: EventAPI,
        namespace: str,
        name: str,
        body: Mapping[str, Any],
        error: SinkError | None,
    ) -> None:
        """Note the call; raise a scripted error first, else ``error`` if any."""
        for failure in self._failures:
            if failure.times > 0 and failure.matches(verb, name):
                failure.times -= 1
                error = failure.error
                break
        self.calls.append(SinkCall(verb, api, namespace, name, copy.deepcopy(dict(body)), error))
        if error is not None:
            raise error


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Apply a merge patch of maps (all a strategic merge of an Event ever needs)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _core_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as core/v1 shows it (the server converts on read)."""
    if event.get("apiVersion") != EventAPI.EVENTS_V1.value:
        return dict(event)
    renames = {
        "regarding": "involvedObject",
        "note": "message",
        "reportingController": "reportingComponent",
    }
    view = {renames.get(key, key): value for key, value in event.items()}
    view["apiVersion"] = EventAPI.CORE_V1.value
    return view
