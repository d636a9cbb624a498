"""Sinks: the kubernetes_asyncio sink against a local HTTP server, and the in-memory sink."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import ApiClient, Configuration

from event_recorder import (
    ApiStatusError,
    EventAPI,
    InMemorySink,
    KubernetesSink,
    TransportError,
    Verb,
)
from tests.unit.event_recorder.support import BroadcasterFactory, redis


@dataclass
class FakeApiServer:
    """Records requests; answers from a script of (status, json) per request, else 201 {}."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "content_type": request.headers.get("Content-Type"),
                "body": json.loads(raw) if raw else None,
            }
        )
        status, payload = self.answers.pop(0) if self.answers else (201, {})
        return web.json_response(payload, status=status)


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeApiServer, ApiClient]]:
    fake = FakeApiServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = ApiClient(Configuration(host=f"http://127.0.0.1:{server.port}"))
    yield fake, client
    await client.close()
    await server.close()


BODY = {"metadata": {"name": "my-op-redis.1", "namespace": "default"}, "count": 1}


async def test_create_posts_json_to_the_namespaced_core_collection(
    api: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = api
    await KubernetesSink(client).create(EventAPI.CORE_V1, "default", BODY)

    (request,) = fake.requests
    assert request["method"] == "POST"
    assert request["path"] == "/api/v1/namespaces/default/events"
    assert request["content_type"] == "application/json"
    assert request["body"] == BODY


async def test_patch_is_sent_as_a_strategic_merge_patch(
    api: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = api
    patch = {"count": 2, "lastTimestamp": "2023-11-14T22:13:25Z", "message": "m"}
    fake.answers.append((200, {}))

    await KubernetesSink(client).patch(EventAPI.CORE_V1, "default", "my-op-redis.1", patch)

    (request,) = fake.requests
    assert request["method"] == "PATCH"
    assert request["path"] == "/api/v1/namespaces/default/events/my-op-redis.1"
    assert request["content_type"] == "application/strategic-merge-patch+json"
    assert request["body"] == patch


async def test_events_v1_mode_uses_the_events_k8s_io_paths(
    api: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = api
    sink = KubernetesSink(client)
    await sink.create(EventAPI.EVENTS_V1, "ns", BODY)
    fake.answers.append((200, {}))
    await sink.patch(EventAPI.EVENTS_V1, "ns", "e", {"series": {"count": 2}})

    assert [r["path"] for r in fake.requests] == [
        "/apis/events.k8s.io/v1/namespaces/ns/events",
        "/apis/events.k8s.io/v1/namespaces/ns/events/e",
    ]
    assert fake.requests[1]["content_type"] == "application/strategic-merge-patch+json"


@pytest.mark.parametrize("status", [403, 404, 409, 422, 500])
async def test_error_status_becomes_api_status_error(
    api: tuple[FakeApiServer, ApiClient], status: int
) -> None:
    fake, client = api
    message = f'events "my-op-redis.1" is refused ({status})'
    fake.answers.append((status, {"kind": "Status", "code": status, "message": message}))

    with pytest.raises(ApiStatusError) as raised:
        await KubernetesSink(client).create(EventAPI.CORE_V1, "default", BODY)
    assert raised.value.status == status
    assert raised.value.reason == message  # the server's explanation ends up in the log line
    assert not raised.value.retryable


async def test_unreachable_server_is_a_transport_error() -> None:
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    port = server.port
    await server.close()  # nothing listens there any more
    async with ApiClient(Configuration(host=f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(TransportError):
            await KubernetesSink(client).create(EventAPI.CORE_V1, "default", BODY)


async def test_list_uses_the_source_field_selector_and_follows_pages(
    api: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = api
    fake.answers += [
        (200, {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "tok"}}),
        (
            200,
            {
                "items": [{"metadata": {"name": "b", "managedFields": [{"manager": "x"}]}}],
                "metadata": {},
            },
        ),
    ]

    events = await KubernetesSink(client).list_events("RedisOperator")

    assert events == [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]  # no managedFields
    assert fake.requests[0]["path"] == "/api/v1/events"
    assert fake.requests[0]["query"] == {"limit": "500", "fieldSelector": "source=RedisOperator"}
    assert fake.requests[1]["query"]["continue"] == "tok"


async def test_list_falls_back_to_client_side_filtering_when_the_selector_is_refused(
    api: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = api
    ours = {"metadata": {"name": "a"}, "source": {"component": "RedisOperator"}}
    ours_v1 = {"metadata": {"name": "b"}, "reportingComponent": "RedisOperator"}
    theirs = {"metadata": {"name": "c"}, "source": {"component": "kubelet"}}
    fake.answers += [(400, {"kind": "Status"}), (200, {"items": [ours, ours_v1, theirs]})]

    events = await KubernetesSink(client).list_events("RedisOperator", namespace="ns")

    assert [e["metadata"]["name"] for e in events] == ["a", "b"]
    assert fake.requests[1]["path"] == "/api/v1/namespaces/ns/events"
    assert "fieldSelector" not in fake.requests[1]["query"]


async def test_broadcaster_on_an_api_client_writes_through_the_api(
    api: tuple[FakeApiServer, ApiClient], make_broadcaster: BroadcasterFactory
) -> None:
    fake, client = api
    fake.answers += [(201, {}), (200, {})]
    broadcaster = make_broadcaster(target=client)
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator", "my-host")
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await broadcaster.shutdown()

    assert [(r["method"], r["content_type"]) for r in fake.requests] == [
        ("POST", "application/json"),
        ("PATCH", "application/strategic-merge-patch+json"),
    ]
    assert set(fake.requests[1]["body"]) == {"count", "lastTimestamp", "message"}


async def test_in_memory_sink_answers_404_and_409_like_the_api() -> None:
    sink = InMemorySink()
    with pytest.raises(ApiStatusError) as missing:
        await sink.patch(EventAPI.CORE_V1, "default", "nope", {"count": 2})
    await sink.create(EventAPI.CORE_V1, "default", BODY)
    with pytest.raises(ApiStatusError) as taken:
        await sink.create(EventAPI.CORE_V1, "default", BODY)

    assert (missing.value.status, taken.value.status) == (404, 409)
    assert [c.verb for c in sink.writes()] == [Verb.CREATE]


async def test_in_memory_sink_merges_patches_and_lists_v1_events_in_core_form() -> None:
    sink = InMemorySink()
    v1_body = {
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"name": "e", "namespace": "ns"},
        "reportingController": "RedisOperator",
        "regarding": {"kind": "Redis", "name": "r"},
        "note": "hello",
    }
    await sink.create(EventAPI.EVENTS_V1, "ns", v1_body)
    await sink.patch(EventAPI.EVENTS_V1, "ns", "e", {"series": {"count": 2}})
    await sink.patch(EventAPI.EVENTS_V1, "ns", "e", {"series": {"lastObservedTime": "t"}})

    (listed,) = await sink.list_events("RedisOperator")
    assert listed["involvedObject"] == {"kind": "Redis", "name": "r"}
    assert listed["message"] == "hello"
    assert listed["reportingComponent"] == "RedisOperator"
    assert listed["series"] == {"count": 2, "lastObservedTime": "t"}
    assert await sink.list_events("RedisOperator", namespace="other") == []
    assert await sink.list_events("kubelet") == []
