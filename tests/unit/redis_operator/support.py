"""Shared helpers of the operator's unit tests: a fake clock, the controller on a fake
apiserver whose watch feeds the controller's store as its informers would, and a scripted
stand-in for kubernetes_asyncio's ApiClient."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from event_recorder import FakeRecorder
from redis_operator.api import ChildKind
from redis_operator.children import controller_reference
from redis_operator.controller.expectations import OwnWrites
from redis_operator.controller.handlers import WatchHandlers
from redis_operator.controller.reconciler import Reconciler
from redis_operator.controller.store import Key, Store
from redis_operator.controller.workqueue import Backoff, WorkQueue
from redis_operator.kube.client import REDIS
from redis_operator.kube.fake import PROPAGATION_FINALIZERS, FakeKubeApi, Write
from redis_operator.metrics import OperatorMetrics
from redis_operator.settings import ControllerSettings

NS = "ns"
NAME = "my-op-redis"
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

#: A kubeconfig for one server (``.format(server=...)``) with a token user.
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


class FakeClock:
    """Monotonic and wall-clock time that move only when told."""

    def __init__(self, start: datetime = START) -> None:
        self.elapsed = 0.0
        self.wall = start

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds
        self.wall += timedelta(seconds=seconds)


class SpyQueue(WorkQueue[Key]):
    """A work queue that remembers every delayed add (``add_rate_limited`` makes one too)."""

    def __init__(self, settings: ControllerSettings) -> None:
        super().__init__(Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds))
        self.delayed: list[tuple[Key, float]] = []

    def add_after(self, key: Key, delay: float) -> None:
        self.delayed.append((key, delay))
        super().add_after(key, delay)


def redis_body(
    name: str = NAME, replicas: int = 2, image: str = "redis:5-alpine", port: int = 8333
) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "image": image, "port": port},
    }


@dataclass
class Controller:
    """The controller's pieces, assembled as the manager does, on the fake apiserver."""

    fake: FakeKubeApi
    clock: FakeClock
    recorder: FakeRecorder
    store: Store
    queue: SpyQueue
    own_writes: OwnWrites
    handlers: WatchHandlers
    reconciler: Reconciler
    registry: CollectorRegistry
    settings: ControllerSettings

    async def reconcile(self, name: str = NAME) -> list[Write]:
        """One pass for a Redis; the writes it made."""
        before = len(self.fake.writes)
        await self.reconciler.reconcile((NS, name))
        return self.fake.writes[before:]

    def deliver(self) -> int:
        """Let the watch catch up."""
        return self.fake.deliver()

    def metric(self, name: str, **labels: str) -> float:
        sample = self.registry.get_sample_value(name, labels)
        assert sample is not None, f"no sample {name}{labels}"
        return sample


def make_controller(
    settings: ControllerSettings | None = None, fake: FakeKubeApi | None = None
) -> Controller:
    settings = settings or ControllerSettings()
    clock = FakeClock()
    fake = fake if fake is not None else FakeKubeApi(now=clock.now)
    recorder = FakeRecorder()
    store = Store()
    queue = SpyQueue(settings)
    own_writes = OwnWrites(settings.expectations_timeout_seconds)
    handlers = WatchHandlers(store, queue, own_writes)
    fake.subscribe(lambda event: handlers.event(event.kind, event.type, event.object))
    registry = CollectorRegistry()
    reconciler = Reconciler(
        fake,
        recorder,
        store,
        queue,
        own_writes,
        settings=settings,
        metrics=OperatorMetrics(registry),
        clock=clock,
    )
    return Controller(
        fake, clock, recorder, store, queue, own_writes, handlers, reconciler, registry, settings
    )


READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
"""A pod's status once the kubelet has it serving."""


def make_ready(fake: FakeKubeApi, name: str) -> None:
    """The kubelet starts the pod and its readiness probe passes."""
    fake.edit(ChildKind.POD, NS, name, lambda pod: pod.update(status=dict(READY)))


def finish_deletion(fake: FakeKubeApi, name: str) -> None:
    """The kubelet has stopped a terminating pod: it deletes it for good."""
    fake.delete_object(ChildKind.POD, NS, name, grace_period=0)


FOREGROUND = PROPAGATION_FINALIZERS["Foreground"]
ORPHAN = PROPAGATION_FINALIZERS["Orphan"]


def collect_garbage(fake: FakeKubeApi) -> bool:
    """One sweep of the garbage collector over the Redis objects' children; whether it did
    anything.

    A child whose controller (by uid) is gone, or is being deleted in the foreground, is
    deleted (a pod gracefully, as the GC's background delete does); one whose controller is
    being deleted as an orphaner loses its owner references. An owner deleted so goes once no
    child refers to it any more (the GC removes its finalizer).
    """
    owners = {redis["metadata"]["uid"]: redis for redis in fake.objects(REDIS)}
    referred: set[str] = set()
    acted = False
    for kind in ChildKind:
        for child in fake.objects(kind):
            meta = child["metadata"]
            ref = controller_reference(child)
            if ref is None:
                continue
            uid = ref["uid"]
            owner = owners.get(uid)
            finalizers = (owner or {}).get("metadata", {}).get("finalizers") or []
            if owner is not None and ORPHAN in finalizers:
                fake.patch_object(kind, meta["namespace"], meta["name"], _orphaned(child))
                acted = True
                continue
            referred.add(uid)
            if (owner is None or FOREGROUND in finalizers) and "deletionTimestamp" not in meta:
                fake.delete_object(kind, meta["namespace"], meta["name"], uid=meta["uid"])
                acted = True
    for uid, owner in owners.items():
        finalizers = owner["metadata"].get("finalizers") or []
        done = [f for f in (FOREGROUND, ORPHAN) if f in finalizers]
        if done and uid not in referred:
            kept = [f for f in finalizers if f not in done]
            meta = owner["metadata"]
            fake.patch_object(
                REDIS, meta["namespace"], meta["name"], {"metadata": {"finalizers": kept}}
            )
            acted = True
    return acted


def _orphaned(child: dict[str, Any]) -> dict[str, Any]:
    refs = child["metadata"].get("ownerReferences") or []
    kept = [r for r in refs if not r.get("controller")]
    return {"metadata": {"ownerReferences": kept or None}}


# -- the client library, scripted ----------------------------------------------------------


def status_exception(code: int, reason: str, message: str, **details: Any) -> ApiException:
    """What kubernetes_asyncio raises for an apiserver's error Status."""
    exc = ApiException(status=code, reason="HTTP reason")
    exc.body = json.dumps(
        {"kind": "Status", "code": code, "reason": reason, "message": message, "details": details}
    ).encode()
    return exc


class JsonResponse:
    """What ``call_api(..., _preload_content=False)`` answers for a plain call: an aiohttp
    response with a status and a body (the client raises nothing for an error status then)."""

    def __init__(self, status: int, body: bytes, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        self.body = body
        self.released = False

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        self.released = True


def as_response(answer: Any) -> Any:
    """A scripted answer as the unloaded call sees it: a dict as a 200 with its JSON, an
    ApiException as the error response it stands for; anything else as it is."""
    if isinstance(answer, dict):
        return JsonResponse(200, json.dumps(answer).encode())
    if isinstance(answer, ApiException):
        return JsonResponse(int(answer.status or 0), answer.body or b"", str(answer.reason or ""))
    return answer


class StubApiClient:
    """Answers ``call_api`` from a script: a page dict, an apiserver refusal
    (:func:`status_exception`), a response, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, Any]] = []
        """Method, path and query of every call, in order."""
        self.options: list[dict[str, Any]] = []
        """The other arguments of every call (headers, body, timeout...), in order."""

    async def call_api(self, path: str, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs.get("query_params")))
        self.options.append(kwargs)
        answer = self.answers.pop(0)
        if kwargs.get("_preload_content") is False:
            answer = as_response(answer)
        if isinstance(answer, BaseException):
            raise answer
        return answer
