"""The official synchronous client's sink and the broadcaster that runs in a thread of its own.

A fake ``CoreV1Api`` stands in for the API where errors and blocking are scripted; one test
drives the real ``kubernetes`` client against a local HTTP server to see what goes on the wire.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from event_recorder import (
    ApiStatusError,
    BackgroundBroadcaster,
    EventAPI,
    InMemorySink,
    ObjectReference,
    RecorderOptions,
    SyncKubernetesSink,
    TransportError,
    reference_for,
)
from tests.unit.event_recorder.support import redis, sample

COMPONENT = "ScalerOperator"
WAIT = 10.0  # a bound on a fake's wait, never a measured duration


def api_exception(status: int, message: str = "") -> ApiException:
    error = ApiException(status=status, reason="Refused")
    error.body = json.dumps({"kind": "Status", "code": status, "message": message})
    return error


@dataclass
class RawResponse:
    """What the client returns with ``_preload_content=False``: the body as bytes."""

    data: bytes


@dataclass
class FakeCoreV1Api:
    """The four Event calls of ``CoreV1Api``, keeping Events in a dict.

    ``errors`` are raised by the next calls, in order; while ``gate`` is closed a create
    waits on it (at most WAIT seconds) and notes whether it was let through.
    """

    events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    released: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    def _call(self, call: str, **kwargs: Any) -> None:
        self.calls.append((call, kwargs))
        if self.errors:
            raise self.errors.pop(0)

    def create_namespaced_event(self, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        self._call("create", namespace=namespace, body=body, **kw)
        self.entered.set()
        self.released.append(self.gate.wait(WAIT))
        self.events[(namespace, body["metadata"]["name"])] = body

    def patch_namespaced_event(
        self, name: str, namespace: str, body: dict[str, Any], **kw: Any
    ) -> None:
        self._call("patch", name=name, namespace=namespace, body=body, **kw)
        if (namespace, name) not in self.events:
            raise api_exception(404)
        self.events[(namespace, name)].update(body)

    def list_event_for_all_namespaces(self, **kw: Any) -> RawResponse:
        self._call("list_all", **kw)
        return RawResponse(json.dumps(self.pages.pop(0)).encode())

    def list_namespaced_event(self, namespace: str, **kw: Any) -> RawResponse:
        self._call("list", namespace=namespace, **kw)
        return RawResponse(json.dumps(self.pages.pop(0)).encode())


@pytest.fixture
def core() -> FakeCoreV1Api:
    return FakeCoreV1Api()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def events(core: FakeCoreV1Api, registry: CollectorRegistry) -> Iterator[BackgroundBroadcaster]:
    options = RecorderOptions(retry_interval=0.01, shutdown_timeout=WAIT)
    broadcaster = BackgroundBroadcaster(SyncKubernetesSink(core), options, registry)
    broadcaster.start()
    yield broadcaster
    broadcaster.shutdown()


def test_a_repeat_is_created_then_patched_as_a_strategic_merge(
    core: FakeCoreV1Api, events: BackgroundBroadcaster
) -> None:
    recorder = events.new_recorder(COMPONENT, "host-1")
    for _ in range(2):
        recorder.eventf(redis(), "Normal", "ScalingUp", "replicas set to %d", 3)
    events.flush(WAIT)

    assert [name for name, _ in core.calls] == ["create", "patch"]
    _, patch = core.calls[1]
    assert patch["_content_type"] == "application/strategic-merge-patch+json"
    assert patch["_request_timeout"] == 30.0
    (event,) = core.events.values()
    assert (event["reason"], event["count"]) == ("ScalingUp", 2)


def test_recording_never_waits_for_a_write_in_flight(
    core: FakeCoreV1Api, events: BackgroundBroadcaster
) -> None:
    recorder = events.new_recorder(COMPONENT, "host-1")
    core.gate.clear()
    recorder.event(redis(), "Normal", "ScalingUp", "first")
    assert core.entered.wait(WAIT)

    for n in range(3):  # each returns while the first write is still on the wire
        recorder.event(redis(name=f"other-{n}"), "Normal", "ScalingUp", "more")
    assert core.released == []
    assert events.pending == 4

    core.gate.set()
    events.flush(WAIT)
    assert core.released == [True] * 4
    assert len(core.events) == 4


def test_a_status_error_is_not_retried_and_keeps_the_servers_explanation(
    core: FakeCoreV1Api, events: BackgroundBroadcaster, registry: CollectorRegistry
) -> None:
    core.errors.append(api_exception(422, "events is invalid"))
    sink = SyncKubernetesSink(core)
    with pytest.raises(ApiStatusError) as raised:
        asyncio.run(sink.create(EventAPI.CORE_V1, "default", {"metadata": {}}))
    assert (raised.value.status, raised.value.reason) == (422, "events is invalid")

    core.errors.append(api_exception(403, "forbidden"))
    events.new_recorder(COMPONENT).event(redis(), "Normal", "ScalingUp", "m")
    events.flush(WAIT)
    assert sample(registry, "events_failed", reason="rejected") == 1
    assert [name for name, _ in core.calls] == ["create", "create"]


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.MaxRetryError(None, "/api/v1", "refused"),
        urllib3.exceptions.ProtocolError("connection reset"),
        ConnectionRefusedError(111, "refused"),
    ],
)
def test_a_transport_error_is_retried(
    core: FakeCoreV1Api, events: BackgroundBroadcaster, error: Exception
) -> None:
    core.errors.append(error)
    events.new_recorder(COMPONENT).event(redis(), "Normal", "ScalingUp", "m")
    events.flush(WAIT)

    assert [name for name, _ in core.calls] == ["create", "create"]
    assert len(core.events) == 1


def test_a_read_timeout_becomes_transport_error(core: FakeCoreV1Api) -> None:
    core.errors.append(urllib3.exceptions.ReadTimeoutError(None, "/api/v1", "read timed out"))
    sink = SyncKubernetesSink(core)
    with pytest.raises(TransportError):
        asyncio.run(sink.patch(EventAPI.CORE_V1, "default", "e", {"count": 2}))


def test_learning_lists_pages_and_falls_back_when_the_selector_is_refused(
    core: FakeCoreV1Api, events: BackgroundBroadcaster
) -> None:
    mine = {
        "metadata": {"name": "my-op-redis.17", "namespace": "default"},
        "involvedObject": {"kind": "Redis", "name": "my-op-redis", "namespace": "default"},
        "source": {"component": COMPONENT, "host": "old-pod"},
        "type": "Normal",
        "reason": "ScalingUp",
        "message": "replicas set to 3",
        "count": 2,
        "firstTimestamp": "2023-11-14T22:00:00Z",
        "lastTimestamp": "2023-11-14T22:01:00Z",
    }
    theirs = {**mine, "source": {"component": "someone-else"}}
    core.errors.append(api_exception(400, "field label not supported: source"))
    core.pages += [
        {"items": [mine], "metadata": {"continue": "next"}},
        {"items": [theirs], "metadata": {}},
    ]

    assert events.learn_existing(COMPONENT, "new-pod", timeout=WAIT) == 1

    names = [(name, kw.get("field_selector"), kw.get("_continue")) for name, kw in core.calls]
    assert names == [
        ("list_all", "source=ScalerOperator", None),
        ("list_all", None, None),
        ("list_all", None, "next"),
    ]
    assert all(kw["_preload_content"] is False for _, kw in core.calls)


def test_events_v1_mode_needs_an_events_v1_api(core: FakeCoreV1Api) -> None:
    sink = SyncKubernetesSink(core)
    with pytest.raises(ApiStatusError) as raised:
        asyncio.run(sink.create(EventAPI.EVENTS_V1, "default", {}))
    assert raised.value.status == 0


def test_recorded_before_start_is_written_once_started() -> None:
    sink = InMemorySink()
    events = BackgroundBroadcaster(sink, registry=CollectorRegistry())
    events.new_recorder(COMPONENT).event(redis(), "Normal", "ScalingUp", "early")
    with pytest.raises(RuntimeError):
        events.flush()
    events.start()
    events.shutdown()

    assert [e["message"] for e in sink.events.values()] == ["early"]
    with pytest.raises(RuntimeError):
        events.start()


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": json.loads(body) if body else None,
            }
        )
        payload = json.dumps({"kind": "Event", "apiVersion": "v1", "metadata": {}}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_the_official_client_sends_core_v1_writes(
    http_server: tuple[str, list[dict[str, Any]]],
) -> None:
    host, requests = http_server
    api_client = kube.ApiClient(kube.Configuration(host=host))
    with BackgroundBroadcaster(api_client, registry=CollectorRegistry()) as events:
        recorder = events.new_recorder(COMPONENT, "host-1")
        for _ in range(2):
            recorder.eventf(redis(), "Normal", "ScalingUp", "replicas set to %d", 3)
        events.flush(WAIT)

    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", "/api/v1/namespaces/default/events"),
        ("PATCH", f"/api/v1/namespaces/default/events/{requests[0]['body']['metadata']['name']}"),
    ]
    assert requests[1]["content_type"] == "application/strategic-merge-patch+json"
    created = requests[0]["body"]
    assert created["involvedObject"]["name"] == "my-op-redis"
    assert (created["reason"], created["message"], created["count"]) == (
        "ScalingUp",
        "replicas set to 3",
        1,
    )
    assert requests[1]["body"]["count"] == 2


def test_official_client_models_are_referenced_like_kubernetes_asyncio_ones() -> None:
    listed = kube.V1Pod(metadata=kube.V1ObjectMeta(name="p", namespace="ns", uid="u-1"))

    assert reference_for(listed) == ObjectReference(
        kind="Pod", namespace="ns", name="p", uid="u-1", api_version="v1"
    )
