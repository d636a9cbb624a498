"""The list and watch wire: pages with the listing's resourceVersion, the stream's lines
decoded, and the apiserver's refusals (at the start and mid-stream) raised as ApiErrors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from redis_operator.api import ChildKind
from redis_operator.kube import watch as kube_watch
from redis_operator.kube.client import NAMESPACE, REDIS, collection_path
from redis_operator.kube.errors import ApiError, TransportError
from redis_operator.kube.watch import GONE, Event, JsonListWatch
from tests.unit.redis_operator.support import StubApiClient


class StreamResponse:
    """What ``call_api(..., _preload_content=False)`` answers: an aiohttp response."""

    def __init__(self, status: int, lines: list[bytes | BaseException]) -> None:
        self.status = status
        self.content = self
        self._lines = list(lines)
        self.released = False

    async def readline(self) -> bytes:
        if not self._lines:
            return b""
        line = self._lines.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line

    async def read(self) -> bytes:
        return b"".join(line for line in self._lines if isinstance(line, bytes))

    def release(self) -> None:
        self.released = True


def line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


def pod(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def source(stub: StubApiClient) -> JsonListWatch:
    return JsonListWatch(stub, server_timeout=300, client_timeout=330.0)  # type: ignore[arg-type]


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def test_collection_paths() -> None:
    assert collection_path(ChildKind.POD, "ns") == "/api/v1/namespaces/ns/pods"
    assert collection_path(ChildKind.SERVICE, None) == "/api/v1/services"
    assert collection_path(REDIS, "ns", "r") == "/apis/myapp.tangx.in/v1/namespaces/ns/redis/r"
    assert collection_path(REDIS, None) == "/apis/myapp.tangx.in/v1/redis"
    assert collection_path(NAMESPACE, "ignored") == "/api/v1/namespaces"


async def test_a_listing_is_read_page_by_page_and_carries_its_resource_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kube_watch, "LIST_PAGE_SIZE", 1)
    stub = StubApiClient(
        {"items": [{"n": 1}], "metadata": {"continue": "t1", "resourceVersion": "7"}},
        {"items": [{"n": 2}], "metadata": {"continue": "", "resourceVersion": "7"}},
    )
    listing = await source(stub).list_objects(REDIS, None)
    assert listing.items == [{"n": 1}, {"n": 2}] and listing.resource_version == "7"
    assert [query for _, _, query in stub.calls] == [
        [("limit", 1)],
        [("limit", 1), ("continue", "t1")],
    ]
    assert stub.calls[0][1] == "/apis/myapp.tangx.in/v1/redis"


async def test_a_watch_asks_for_bookmarks_from_its_resource_version_and_decodes_each_line() -> None:
    response = StreamResponse(
        200,
        [
            line("ADDED", pod("a", "8")),
            b"\n",
            line("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
        ],
    )
    stub = StubApiClient(response)
    events = await collect(source(stub).watch(ChildKind.POD, "ns", "7"))
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "8"), ("BOOKMARK", "9")]
    assert stub.calls[0][:2] == ("GET", "/api/v1/namespaces/ns/pods")
    assert dict(stub.calls[0][2]) == {
        "watch": "true",
        "resourceVersion": "7",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": 300,
    }
    options = stub.options[0]
    assert options["_preload_content"] is False
    assert options["_request_timeout"].sock_read == 330.0
    assert response.released


async def test_an_expired_resource_version_mid_stream_is_gone() -> None:
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    response = StreamResponse(200, [line("ADDED", pod("a", "8")), line("ERROR", status)])
    seen: list[Event] = []
    with pytest.raises(ApiError) as gone:
        async for event in source(StubApiClient(response)).watch(ChildKind.POD, "ns", "7"):
            seen.append(event)
    assert gone.value.status == GONE and gone.value.reason == "Expired"
    assert [e.type for e in seen] == ["ADDED"] and response.released


async def test_a_refused_watch_raises_the_status_it_answered() -> None:
    body = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no watch for you"}
    response = StreamResponse(403, [json.dumps(body).encode()])
    with pytest.raises(ApiError) as refused:
        await collect(source(StubApiClient(response)).watch(REDIS, None, "1"))
    assert (refused.value.status, refused.value.reason) == (403, "Forbidden")
    assert not refused.value.retryable and response.released


async def test_a_broken_stream_and_an_unreachable_server_are_transport_errors() -> None:
    broken = StreamResponse(200, [line("ADDED", pod("a", "8")), aiohttp.ClientPayloadError("cut")])
    with pytest.raises(TransportError):
        await collect(source(StubApiClient(broken)).watch(ChildKind.POD, "ns", "7"))
    assert broken.released
    refused = StubApiClient(aiohttp.ClientConnectionError("connection refused"))
    with pytest.raises(TransportError):
        await collect(source(refused).watch(ChildKind.POD, "ns", "7"))
    garbled = StreamResponse(200, [b"{not json\n"])
    with pytest.raises(TransportError):
        await collect(source(StubApiClient(garbled)).watch(ChildKind.POD, "ns", "7"))
