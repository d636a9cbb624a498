"""The Redis controller: watch events in, one level-triggered pass per key, API writes out.

All I/O of a reconcile lives here; every decision is the planner's (``planning.py``). kopf
delivers watch events (``@kopf.on.event``) for Redis objects, pods and Services; they feed the
store and queue the owning Redis. Workers take keys from the queue and run a pass against the
store, so a pass with nothing to do calls no API at all.

kopf's change-detecting handlers (on.create/update/delete) are not used on purpose: they keep
their progress and a diff base in annotations, i.e. write on every change, and a production
operator must not write while nothing changes. The finalizer is ours for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from event_recorder import EventRecorder
from redis_operator import api, planning
from redis_operator.api import FINALIZER, ChildKind, is_being_deleted
from redis_operator.children import controller_name, redis_name_of
from redis_operator.kubeapi import KubeApi
from redis_operator.messages import Event, EventKey, Language
from redis_operator.metrics import ErrorReason, OperatorMetrics, Outcome
from redis_operator.planning import ChildRef, Failure, Plan
from redis_operator.store import ChildKey, Expectations, Obj, Store
from redis_operator.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)

Key = tuple[str, str]

#: Errors worth retrying with backoff (the API said so, or never answered).
_TRANSIENT = (ApiException, aiohttp.ClientError, asyncio.TimeoutError, OSError)


@dataclass(frozen=True)
class ControllerSettings:
    """How the controller runs: event language, parallelism, and bounds on its API writes."""

    language: Language = Language.EN
    workers: int = 16
    max_concurrent_writes: int = 16
    expectations_recheck_seconds: float = 30.0


def _key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def error_text(exc: BaseException) -> str:
    """A one-line account of an API or transport error, for logs and Events."""
    if isinstance(exc, ApiException):
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
        return f"{exc.status} {exc.reason}: {(body or '')[:200]}"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class _PassResult:
    failure: Failure | None = None
    created: set[ChildKey] = field(default_factory=set)
    deleted: dict[ChildKey, str] = field(default_factory=dict)
    requeue_soon: bool = False


class RedisController:
    """Keeps every Redis' pods and Service converged on its spec."""

    def __init__(
        self,
        api_client: client.ApiClient,
        recorder: EventRecorder,
        settings: ControllerSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: OperatorMetrics | None = None,
    ) -> None:
        self.settings = settings or ControllerSettings()
        self.kube = KubeApi(api_client)
        self.recorder = recorder
        self.now = now
        self.store = Store()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.expectations: dict[Key, Expectations] = {}
        self.deleted_by_us: dict[Key, set[str]] = {}
        self._writes = asyncio.Semaphore(self.settings.max_concurrent_writes)
        self.metrics = metrics if metrics is not None else OperatorMetrics()
        self.metrics.track_queue_depth(lambda: len(self.queue))
        self.synced = False
        """Whether :meth:`sync` has filled the store (readiness)."""

    # -- watch events (called by kopf handlers) ------------------------------------------

    def on_redis(self, event_type: str | None, body: Obj) -> None:
        key = _key(body)
        if event_type == "DELETED":
            self.store.redis.remove(body)
            self.queue.forget(key)
            self.expectations.pop(key, None)
            self.deleted_by_us.pop(key, None)
            return
        self.store.redis.upsert(body)
        self.queue.add(key)

    def on_child(self, kind: ChildKind, event_type: str | None, body: Obj) -> None:
        """A pod or Service changed: store it and queue the Redis it belongs to."""
        bucket = self.store.children(kind)
        if event_type == "DELETED":
            bucket.remove(body)
        else:
            bucket.upsert(body)
        owner = self._owner_of(body)
        if owner is not None:
            self.queue.add(owner)

    def _owner_of(self, child: Obj) -> Key | None:
        """The Redis a child belongs to, or whose child name it takes."""
        meta = child["metadata"]
        namespace = meta.get("namespace") or ""
        owner = controller_name(child)
        if owner:
            return namespace, owner
        name: str = meta["name"]
        if self.store.redis.get(namespace, name) is not None:
            return namespace, name  # a Service named like a Redis
        base = redis_name_of(name)
        if base is not None and self.store.redis.get(namespace, base):
            return namespace, base
        return None

    # -- workers -------------------------------------------------------------------------

    async def sync(self, namespaces: Sequence[str] = ()) -> None:
        """Fill the store with a full listing before any pass runs (controller-runtime's
        WaitForCacheSync): a pass over a half-listed store would recreate pods that exist."""
        scopes: list[str | None] = [*namespaces] or [None]
        for namespace in scopes:
            redis = await self.kube.list_redis(namespace)
            for kind in ChildKind:
                for child in await self.kube.list_children(kind, namespace):
                    self.store.children(kind).upsert(child)
            for obj in redis:
                self.on_redis(None, obj)
        self.synced = True

    async def run_workers(self) -> None:
        """Run the workers until cancelled or the queue shuts down."""
        await asyncio.gather(*(self._worker() for _ in range(self.settings.workers)))

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.reconcile(key)
            except Exception:  # a bug must not kill the worker; back off and retry
                log.exception("reconcile of %s/%s crashed", *key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    # -- one pass ------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        """One pass for one Redis; API trouble outside the children backs off and retries."""
        start = time.monotonic()
        try:
            outcome = await self._reconcile(key)
        except _TRANSIENT as exc:
            self._observe_error(exc, start)
            delay = self.queue.add_rate_limited(key)
            log.warning("%s/%s: %s; retrying in %.1fs", *key, error_text(exc), delay)
            return
        except Exception as exc:  # a bug: counted here, logged and retried by the worker
            self._observe_error(exc, start)
            raise
        self.metrics.observe_pass(outcome, time.monotonic() - start)

    def _observe_error(self, exc: Exception, start: float) -> None:
        if isinstance(exc, ApiException):
            reason = ErrorReason.API_ERROR
        elif isinstance(exc, _TRANSIENT):
            reason = ErrorReason.TRANSPORT_ERROR
        else:
            reason = ErrorReason.UNEXPECTED
        self.metrics.reconcile_error(reason)
        self.metrics.observe_pass(Outcome.ERROR, time.monotonic() - start)

    async def _reconcile(self, key: Key) -> Outcome:
        namespace, name = key
        redis = self.store.redis.get(namespace, name)
        if redis is None:
            return Outcome.NOOP
        expectations = self.expectations.setdefault(key, Expectations())
        if not expectations.satisfied(self.store, namespace, time.monotonic()):
            # Our last writes are not in the store yet: their watch events will queue us.
            self.queue.add_after(key, self.settings.expectations_recheck_seconds)
            return Outcome.WAITING
        pods = self.store.candidate_pods(namespace, name)
        service = self.store.services.get(namespace, name)
        if is_being_deleted(redis):
            return await self._finalize(key, redis, pods, service)
        acted = False
        if FINALIZER not in (redis["metadata"].get("finalizers") or []):
            redis = await self._patch_finalizers(redis, add=True)
            acted = True
        deleted = frozenset(self.deleted_by_us.get(key, set()))
        plan = planning.plan(redis, pods, service, deleted, now=self.now())
        if plan.is_empty:
            self.queue.forget(key)
            return Outcome.ACTED if acted else Outcome.NOOP
        result = await self._carry_out(key, redis, plan)
        expectations.record(time.monotonic(), result.created, result.deleted)
        status = planning.status_after(redis, plan, failure=result.failure, now=self.now())
        if status is not None:
            await self._write_status(redis, status)
        if result.failure is not None:
            self.queue.add_rate_limited(key)
            return Outcome.FAILED
        self.queue.forget(key)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        elif result.requeue_soon:
            self.queue.add_after(key, 1.0)
        return Outcome.ACTED

    async def _carry_out(self, key: Key, redis: Obj, plan: Plan) -> _PassResult:
        namespace, _ = key
        result = _PassResult()
        for event in plan.events:
            self._record(redis, event)
        # Removals before creations (a replaced pod's name is free only once it is gone); the
        # rest at once: creating a Redis' children takes one round trip, not one per child.
        removals = [*plan.delete_pods, *plan.replace_pods]
        await self._gather(self._delete_pod(key, redis, ref, result) for ref in removals)
        writes = [self._create(redis, ChildKind.POD, body, result) for body in plan.create_pods]
        if plan.create_service is not None:
            writes.append(self._create(redis, ChildKind.SERVICE, plan.create_service, result))
        if plan.patch_service is not None:
            writes.append(self._patch_service(redis, plan.patch_service, result))
        await self._gather(writes)
        for kind, name in result.created:
            if kind == ChildKind.POD:
                self.deleted_by_us.get(key, set()).discard(name)
        for event in plan.events:
            recreated = (ChildKind.POD, str(event.args.get("pod")))
            if event.key is EventKey.POD_RECREATED and recreated in result.created:
                self.metrics.pod_recreated()
        if plan.has_actions:
            log.info(
                "%s/%s: created %s, deleted %s%s",
                namespace,
                key[1],
                sorted(n for _, n in result.created) or "-",
                sorted(n for _, n in result.deleted) or "-",
                f", failed: {result.failure.message}" if result.failure else "",
            )
        return result

    async def _gather(self, calls: Any) -> None:
        async def bounded(call: Awaitable[None]) -> None:
            async with self._writes:
                await call

        await asyncio.gather(*(bounded(c) for c in calls))

    def _record(self, redis: Obj, event: Event) -> None:
        rendered = event.render(self.settings.language)
        self.recorder.event(redis, rendered.type, rendered.reason, rendered.message)

    def _fail(
        self,
        redis: Obj,
        result: _PassResult,
        key: EventKey,
        kind: str,
        child: str,
        exc: BaseException,
    ) -> None:
        error = error_text(exc)
        log.warning("%s %s %s failed: %s", key.value, kind, child, error)
        self.metrics.child_write_failed(kind, key)
        self._record(redis, Event(key, {"kind": kind, "child": child, "error": error}))
        if result.failure is None:
            message = Event(key, {"kind": kind, "child": child, "error": error}).render(Language.EN)
            result.failure = Failure(reason=key.value, message=message.message)

    async def _create(
        self, redis: Obj, kind: ChildKind, body: dict[str, Any], result: _PassResult
    ) -> None:
        namespace = redis["metadata"]["namespace"]
        child = body["metadata"]["name"]
        try:
            created = await self.kube.create(kind, namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # exists: our store lags, or it is someone else's
                result.requeue_soon = True
                return
            self._fail(redis, result, EventKey.FAILED_CREATE, kind, child, exc)
            return
        except _TRANSIENT as exc:
            self._fail(redis, result, EventKey.FAILED_CREATE, kind, child, exc)
            return
        self.store.children(kind).upsert(created)
        result.created.add((kind, child))
        self.metrics.child_created(kind)
        self._record(redis, Event(EventKey.SUCCESSFUL_CREATE, {"kind": kind, "child": child}))

    async def _delete_pod(self, key: Key, redis: Obj, ref: ChildRef, result: _PassResult) -> None:
        await self._delete(redis, ChildKind.POD, ref, result)
        if (ChildKind.POD, ref.name) in result.deleted:
            self.deleted_by_us.setdefault(key, set()).add(ref.name)

    async def _delete(
        self, redis: Obj, kind: ChildKind, ref: ChildRef, result: _PassResult
    ) -> None:
        namespace = redis["metadata"]["namespace"]
        try:
            await self.kube.delete(kind, namespace, ref.name, ref.uid)
        except ApiException as exc:
            if exc.status in (404, 409):  # already gone, or no longer the object we saw
                result.requeue_soon = True
                return
            self._fail(redis, result, EventKey.FAILED_DELETE, kind, ref.name, exc)
            return
        except _TRANSIENT as exc:
            self._fail(redis, result, EventKey.FAILED_DELETE, kind, ref.name, exc)
            return
        result.deleted[(kind, ref.name)] = ref.uid
        self.metrics.child_deleted(kind)
        self._record(redis, Event(EventKey.SUCCESSFUL_DELETE, {"kind": kind, "child": ref.name}))

    async def _patch_service(self, redis: Obj, patch: dict[str, Any], result: _PassResult) -> None:
        namespace, name = _key(redis)
        try:
            # A merge patch replaces the ports list whole; a strategic merge would add the new
            # port beside the old one (both named "redis": refused).
            updated = await self.kube.patch(ChildKind.SERVICE, namespace, name, patch)
        except _TRANSIENT as exc:
            self._fail(redis, result, EventKey.FAILED_UPDATE, ChildKind.SERVICE, name, exc)
            return
        self.store.services.upsert(updated)
        self._record(
            redis, Event(EventKey.SUCCESSFUL_UPDATE, {"kind": ChildKind.SERVICE, "child": name})
        )

    async def _write_status(self, redis: Obj, status: Mapping[str, Any]) -> None:
        namespace, name = _key(redis)
        old = redis.get("status") or {}
        body = {"status": {**{k: None for k in old if k not in status}, **status}}
        updated = await self.kube.patch_redis(namespace, name, body, status=True)
        self.store.redis.upsert(updated)

    async def _patch_finalizers(self, redis: Obj, *, add: bool) -> Obj:
        """Add or remove our finalizer; resourceVersion makes it fail rather than clobber."""
        namespace, name = _key(redis)
        current: Sequence[str] = redis["metadata"].get("finalizers") or []
        finalizers = [*current, FINALIZER] if add else [f for f in current if f != FINALIZER]
        body = {
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": redis["metadata"]["resourceVersion"],
            }
        }
        updated = await self.kube.patch_redis(namespace, name, body, status=False)
        self.store.redis.upsert(updated)
        return updated

    async def _finalize(
        self, key: Key, redis: Obj, pods: Sequence[Obj], service: Obj | None
    ) -> Outcome:
        if FINALIZER not in (redis["metadata"].get("finalizers") or []):
            return Outcome.NOOP
        plan = planning.plan_deletion(redis, pods, service)
        result = _PassResult()
        for event in plan.events:
            self._record(redis, event)
        await self._gather(self._delete(redis, ChildKind.POD, r, result) for r in plan.delete_pods)
        if plan.delete_service is not None:
            await self._delete(redis, ChildKind.SERVICE, plan.delete_service, result)
        self.expectations[key].record(time.monotonic(), set(), dict(result.deleted))
        if result.failure is not None:
            self.queue.add_rate_limited(key)
            return Outcome.FAILED
        if plan.done:
            await self._patch_finalizers(redis, add=False)
            return Outcome.ACTED
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        return Outcome.ACTED if plan.events or result.deleted else Outcome.WAITING


def register(registry: kopf.OperatorRegistry, controller: RedisController) -> None:
    """Wire kopf's watch events for Redis objects, pods and Services into the controller.

    The handlers are coroutines on purpose: kopf runs plain functions in a thread pool, and the
    store and work queue belong to the event loop (a thread waking the queue raced with it).
    """

    @kopf.on.event(api.GROUP, api.VERSION, api.PLURAL, registry=registry)
    async def redis_event(event: Mapping[str, Any], **_: Any) -> None:
        controller.on_redis(event.get("type"), event["object"])

    @kopf.on.event("", "v1", "pods", registry=registry)
    async def pod_event(event: Mapping[str, Any], **_: Any) -> None:
        controller.on_child(ChildKind.POD, event.get("type"), event["object"])

    @kopf.on.event("", "v1", "services", registry=registry)
    async def service_event(event: Mapping[str, Any], **_: Any) -> None:
        controller.on_child(ChildKind.SERVICE, event.get("type"), event["object"])
