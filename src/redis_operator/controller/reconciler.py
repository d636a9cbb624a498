"""The reconciler: one level-triggered pass per Redis key, and the workers that run them.

Every decision is the planner's (``planning.py``); this carries a plan out against the API and
reads only the store, so a pass with nothing to do calls no API at all. Its I/O (API, Events,
store, queue, metrics, clock) is handed in. The Redis is parsed once per pass for the planner
(a malformed spec ends the pass as a bug would: counted, logged and retried with backoff); the
object dict stays for the writes (the Events' object, the finalizer patch's resourceVersion,
the nulls of the status patch). The planner says why it wants another look; the settings say
how soon.

Deletion is the garbage collector's (every child has a controller owner reference): a pass on
a Redis being deleted records the ``Deleting`` Event once and writes nothing else. A Redis that
still carries the finalizer of earlier versions loses it first, in one patch, live or being
deleted, in any namespace. In a namespace being deleted (``namespaces.py``) nothing else is
done: no create, no status, no Event; a create refused there as terminating is no failure,
it marks the namespace, and the pass ends quietly. The plan's Events are recorded once the
pass's first write is answered, so a pass that learns this from its first answer records none
(and one that crashes after its first write has told what it did).

Errors are judged by :attr:`~redis_operator.kube.errors.KubeError.retryable`, in one place:

- a child write answered 409 on create or 404/409 on delete means the store is behind the
  cluster: look again soon, no Failed Event, and no status from that stale view;
- any other failed child write is a Warning Event (FailedCreate/FailedDelete/FailedUpdate) and
  the ReplicaFailure condition at once; the pass is retried with backoff if the error is
  retryable, else after a long fixed delay (the same call would get the same answer);
- a failed status or finalizer patch ends the pass, counted as an error: retryable ones are
  logged as warnings and retried with backoff, terminal ones logged as errors and retried after
  the same long delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from event_recorder import EventRecorder
from redis_operator import planning
from redis_operator.api import (
    DEFAULT_AUTH_KEY,
    LEGACY_FINALIZER,
    ChildKind,
    Mode,
    Redis,
    is_being_deleted,
)
from redis_operator.auth import generated_secret, new_password, password_digest
from redis_operator.children import AUTH_DIGEST_ANNOTATION, auth_secret, role_service_names
from redis_operator.controller.expectations import OwnWrites
from redis_operator.controller.replicator import Replicator
from redis_operator.controller.store import ChildKey, Key, Obj, Store, key_of
from redis_operator.controller.workqueue import ShutDown, WorkQueue
from redis_operator.kube.client import KubeApi
from redis_operator.kube.errors import (
    ApiError,
    KubeError,
    TransportError,
    error_text,
    is_namespace_terminating,
)
from redis_operator.messages import SECRET_KIND, Event, EventKey, Language
from redis_operator.metrics import ErrorReason, OperatorMetrics, Outcome
from redis_operator.planning import ChildRef, Failure, Plan, Requeue
from redis_operator.settings import ControllerSettings

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Time for the reconciler: monotonic for waits, wall-clock for condition times."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The process's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class _PassResult:
    failure: Failure | None = None
    retryable: bool = False  # whether any failure was retryable
    created: set[ChildKey] = field(default_factory=set)
    deleted: dict[ChildKey, str] = field(default_factory=dict)
    requeue_soon: bool = False
    untold: list[Event] = field(default_factory=list)  # the plan's, until a write is answered
    namespace_terminating: bool = False  # a create found the namespace being deleted


class Reconciler:
    """Keeps every Redis' pods and Service converged on its spec."""

    def __init__(
        self,
        kube: KubeApi,
        recorder: EventRecorder,
        store: Store,
        queue: WorkQueue[Key],
        own_writes: OwnWrites,
        *,
        settings: ControllerSettings,
        metrics: OperatorMetrics,
        clock: Clock,
        replicator: Replicator | None = None,
    ) -> None:
        self.kube = kube
        self.recorder = recorder
        self.store = store
        self.queue = queue
        self.own_writes = own_writes
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self._writes = asyncio.Semaphore(settings.max_concurrent_writes)
        self.replicator = replicator

    # -- workers -------------------------------------------------------------------------

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
        """One pass for one Redis; a failed status or finalizer write is retried (see above)."""
        start = self.clock.monotonic()
        try:
            outcome = await self._reconcile(key)
        except KubeError as exc:
            if isinstance(exc, ApiError) and exc.status == 404:
                # A write on the Redis itself found it gone: its DELETED watch event was missed
                # (a watch resumed after an apiserver outage does not tell what vanished
                # meanwhile). Forget it as that event would have, or every change of its
                # children would queue another pass for it.
                self._forget(key)
                self.metrics.observe_pass(Outcome.NOOP, self.clock.monotonic() - start)
                log.info("%s/%s: gone; forgotten", *key)
                return
            self._observe_error(exc, start)
            if exc.retryable:
                delay = self.queue.add_rate_limited(key)
                log.warning("%s/%s: %s; retrying in %.1fs", *key, error_text(exc), delay)
            else:
                delay = self.settings.terminal_error_requeue_seconds
                self.queue.add_after(key, delay)
                log.error("%s/%s: %s; retrying in %.0fs", *key, error_text(exc), delay)
            return
        except Exception as exc:  # a bug: counted here, logged and retried by the worker
            self._observe_error(exc, start)
            raise
        self.metrics.observe_pass(outcome, self.clock.monotonic() - start)

    def _forget(self, key: Key) -> None:
        """Drop a Redis that is gone from the store, the queue and the writes awaited."""
        held = self.store.redis.get(*key)
        if held is not None:
            self.store.redis.remove(held)
        self.metrics.forget_redis(*key)
        self.queue.forget(key)
        self.own_writes.forget(key)

    def _observe_error(self, exc: Exception, start: float) -> None:
        if isinstance(exc, ApiError):
            reason = ErrorReason.API_ERROR
        elif isinstance(exc, TransportError):
            reason = ErrorReason.TRANSPORT_ERROR
        else:
            reason = ErrorReason.UNEXPECTED
        self.metrics.reconcile_error(reason)
        self.metrics.observe_pass(Outcome.ERROR, self.clock.monotonic() - start)

    async def _reconcile(self, key: Key) -> Outcome:
        namespace, name = key
        redis = self.store.redis.get(namespace, name)
        if redis is None:
            return Outcome.NOOP
        acted = False
        keep = planning.without_legacy_finalizer(redis["metadata"].get("finalizers") or [])
        if keep is not None:
            redis = await self._release_legacy_finalizer(redis, keep)
            acted = True
        if namespace in self.store.terminating:
            # Everything in it goes: nothing to create, and a status or an Event is pointless
            # there (an Event create would be refused).
            self.queue.forget(key)
            return Outcome.ACTED if acted else Outcome.NOOP
        if is_being_deleted(redis):
            told = self._tell_deletion(key, redis)
            return Outcome.ACTED if acted or told else Outcome.NOOP
        expectations = self.own_writes.expectations(key)
        if not expectations.satisfied(self.store, namespace, self.clock.monotonic()):
            # Our last writes are not in the store yet: their watch events will queue us.
            self.queue.add_after(key, self.settings.expectations_recheck_seconds)
            return Outcome.WAITING
        pods = self.store.candidate_pods(namespace, name)
        service = self.store.services.get(namespace, name)
        view = Redis.from_object(redis)  # once per pass; a malformed spec raises ValueError
        deleted = self.own_writes.deleted_by_us(key)
        plan = planning.plan(
            view,
            pods,
            service,
            deleted,
            now=self.clock.now(),
            auth_secret=self._password_secret(view),
            role_services=self._role_services(view),
        )
        if plan.is_empty:
            self.queue.forget(key)
            replicated = await self._replicate(key, view)
            return Outcome.ACTED if acted or replicated else Outcome.NOOP
        result = await self._carry_out(key, redis, plan)
        expectations.record(self.clock.monotonic(), result.created, result.deleted)
        if result.namespace_terminating:
            self.queue.forget(key)
            return Outcome.NOOP
        if result.requeue_soon and result.failure is None:
            # The store is behind the cluster (a create found the name taken, a delete found
            # the object gone or replaced): a status from this view would be wrong, and
            # acknowledging the spec would later take a pod that was never created for one
            # deleted by someone else. Look again once the watch has caught up.
            self.queue.forget(key)
            self.queue.add_after(key, self.settings.requeue_soon_seconds)
            return Outcome.ACTED
        status = planning.status_after(view, plan, failure=result.failure, now=self.clock.now())
        if status is not None:
            await self._write_status(redis, status)
        if result.failure is not None:
            self._retry_failed(key, result)
            return Outcome.FAILED
        self.queue.forget(key)
        if plan.requeue is not None:
            self.queue.add_after(key, self._requeue_seconds(plan.requeue))
        await self._replicate(key, view)
        return Outcome.ACTED

    async def _replicate(self, key: Key, view: Redis) -> bool:
        """The replication step of a Redis in replication mode (controller/replicator.py), on
        the store as this pass left it; whether it wrote or commanded anything. Another look
        is always queued: a Redis' own replication changes give no watch event."""
        if self.replicator is None or view.spec.mode is not Mode.REPLICATION:
            return False
        redis = self.store.redis.get(*key)
        if redis is None:
            return False
        current = Redis.from_object(redis)
        pods = self.store.candidate_pods(*key)
        secret = self._password_secret(current)
        step = await self.replicator.step(current, pods, secret, now=self.clock.now())
        for event in step.events:
            self._record(redis, event)
            if event.key is EventKey.FAILOVER_COMPLETED:
                self.metrics.failed_over(*key)
        if step.observed is not None:
            self.metrics.observe_replication(*key, *step.observed)
        if step.status is not None:
            await self._write_status(redis, step.status)
        if step.requeue_after is not None:
            self.queue.add_after(key, step.requeue_after)
        return step.acted or step.status is not None or bool(step.events)

    def _password_secret(self, view: Redis) -> Obj | None:
        """The Secret holding the Redis' password, as watched (None: auth disabled, or not
        seen: missing, or a user's Secret without the label the operator watches by)."""
        ref = auth_secret(view)
        return None if ref is None else self.store.secrets.get(view.namespace, ref[0])

    def _role_services(self, view: Redis) -> dict[str, Obj]:
        """The Services named `<name>-primary` and `<name>-replicas` in the store, by name."""
        found = (self.store.services.get(view.namespace, n) for n in role_service_names(view.name))
        return {service["metadata"]["name"]: service for service in found if service is not None}

    def _tell_deletion(self, key: Key, redis: Obj) -> bool:
        """Record the ``Deleting`` Event, once per Redis; whether this pass recorded it."""
        uid = str(redis["metadata"].get("uid", ""))
        if self.own_writes.deletion_told(key, uid):
            return False
        finalizers = redis["metadata"].get("finalizers") or []
        pods = self.store.candidate_pods(*key)
        event = planning.deletion_event(Redis.from_object(redis), finalizers, pods)
        if event is not None:
            self._record(redis, event)
        self.own_writes.tell_deletion(key, uid)
        self.metrics.forget_redis(*key)
        self.queue.forget(key)
        return event is not None

    def _requeue_seconds(self, requeue: Requeue) -> float:
        """How soon to look again for the planner's reason."""
        match requeue:
            case Requeue.WAIT:
                return self.settings.requeue_wait_seconds
            case Requeue.CONFLICT:
                return self.settings.requeue_conflict_seconds

    def _retry_failed(self, key: Key, result: _PassResult) -> None:
        """Back off if a child write may succeed when tried again, else look again late."""
        if result.retryable:
            self.queue.add_rate_limited(key)
        else:
            self.queue.add_after(key, self.settings.terminal_error_requeue_seconds)

    async def _carry_out(self, key: Key, redis: Obj, plan: Plan) -> _PassResult:
        namespace, _ = key
        result = _PassResult(untold=list(plan.events))
        pod_bodies = list(plan.create_pods)
        if plan.create_auth_secret:
            # First: the pods mount it, and wait in ContainerCreating until it exists; they
            # carry the digest of the password it was created with.
            digest = await self._create_auth_secret(key, redis, result)
            if digest is not None:
                pod_bodies = [_with_digest(body, digest) for body in pod_bodies]
        # Removals before creations (a replaced pod's name is free only once it is gone); the
        # rest at once: creating a Redis' children takes one round trip, not one per child.
        removals = [*plan.delete_pods, *plan.replace_pods]
        await self._gather(self._delete_pod(key, redis, ref, result) for ref in removals)
        await self._gather(
            self._delete_child(key, redis, ChildKind.SERVICE, ref, result)
            for ref in plan.delete_services
        )
        writes = [self._create(redis, ChildKind.POD, body, result) for body in pod_bodies]
        if plan.create_service is not None:
            writes.append(self._create(redis, ChildKind.SERVICE, plan.create_service, result))
        if plan.patch_service is not None:
            writes.append(self._patch_service(redis, key[1], plan.patch_service, result))
        writes += [self._create(redis, ChildKind.SERVICE, b, result) for b in plan.create_services]
        writes += [self._patch_service(redis, n, p, result) for n, p in plan.patch_services]
        await self._gather(writes)
        for kind, name in result.created:
            if kind == ChildKind.POD:
                self.own_writes.pod_created(key, name)
        for event in plan.events:
            recreated = (ChildKind.POD, str(event.args.get("pod")))
            if event.key is EventKey.POD_RECREATED and recreated in result.created:
                self.metrics.pod_recreated()
        if result.namespace_terminating:
            log.info("%s/%s: the namespace is being deleted; nothing more is done", *key)
            return result
        self._tell(redis, result)
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

    async def _gather(self, calls: Iterable[Awaitable[object]]) -> None:
        async def bounded(call: Awaitable[object]) -> None:
            async with self._writes:
                await call

        await asyncio.gather(*(bounded(c) for c in calls))

    def _tell(self, redis: Obj, result: _PassResult, event: Event | None = None) -> None:
        """Record the plan's Events once a write of the pass is answered (so a crash later in
        the pass loses none), then ``event``; none once a create found the namespace being
        deleted (an Event create there would be refused too)."""
        if result.namespace_terminating:
            return
        for untold in result.untold:
            self._record(redis, untold)
        result.untold.clear()
        if event is not None:
            self._record(redis, event)

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
        exc: KubeError,
    ) -> None:
        error = error_text(exc)
        log.warning("%s %s %s failed: %s", key.value, kind, child, error)
        self.metrics.child_write_failed(kind, key)
        self._tell(redis, result, Event(key, {"kind": kind, "child": child, "error": error}))
        result.retryable = result.retryable or exc.retryable
        if result.failure is None:
            message = Event(key, {"kind": kind, "child": child, "error": error}).render(Language.EN)
            result.failure = Failure(reason=key.value, message=message.message)

    async def _create(
        self, redis: Obj, kind: ChildKind, body: dict[str, Any], result: _PassResult
    ) -> None:
        namespace = redis["metadata"]["namespace"]
        child = body["metadata"]["name"]
        if namespace in self.store.terminating:  # learnt while this create waited its turn
            result.namespace_terminating = True
            return
        try:
            created = await self.kube.create(kind, namespace, body)
        except KubeError as exc:
            if is_namespace_terminating(exc):
                self.store.terminating.refuse(namespace, self.clock.now())
                result.namespace_terminating = True
                return
            if isinstance(exc, ApiError) and exc.status == 409:
                result.requeue_soon = True  # exists: our store lags, or it is someone else's
                return
            self._fail(redis, result, EventKey.FAILED_CREATE, kind, child, exc)
            return
        self.store.children(kind).upsert(created, answer=True)
        result.created.add((kind, child))
        self.metrics.child_created(kind)
        self._tell(redis, result, Event(EventKey.SUCCESSFUL_CREATE, {"kind": kind, "child": child}))

    async def _create_auth_secret(self, key: Key, redis: Obj, result: _PassResult) -> str | None:
        """Create `<name>-auth` with a fresh random password (never logged or told); the
        digest of the Secret created, None if it was not."""
        view = Redis.from_object(redis)
        body = generated_secret(view, new_password())
        child = body["metadata"]["name"]
        try:
            created = await self.kube.create_secret(key[0], body)
        except KubeError as exc:
            if is_namespace_terminating(exc):
                self.store.terminating.refuse(key[0], self.clock.now())
                result.namespace_terminating = True
            else:
                # 409 included: a Secret under that name without the label the operator
                # watches by is someone else's (an owned one would be seen).
                self._fail(redis, result, EventKey.FAILED_CREATE, SECRET_KIND, child, exc)
            return None
        self.store.secrets.upsert(created, answer=True)
        self._tell(
            redis, result, Event(EventKey.SUCCESSFUL_CREATE, {"kind": SECRET_KIND, "child": child})
        )
        return password_digest(created, DEFAULT_AUTH_KEY)

    async def _delete_pod(self, key: Key, redis: Obj, ref: ChildRef, result: _PassResult) -> None:
        if await self._delete_child(key, redis, ChildKind.POD, ref, result):
            self.own_writes.pod_deleted(key, ref.name)
            self.metrics.pod_deleted()

    async def _delete_child(
        self, key: Key, redis: Obj, kind: ChildKind, ref: ChildRef, result: _PassResult
    ) -> bool:
        """Delete a child by name and uid; whether it was deleted."""
        try:
            await self.kube.delete(kind, key[0], ref.name, ref.uid)
        except KubeError as exc:
            if isinstance(exc, ApiError) and exc.status in (404, 409):
                result.requeue_soon = True  # already gone, or no longer the object we saw
                return False
            self._fail(redis, result, EventKey.FAILED_DELETE, kind, ref.name, exc)
            return False
        result.deleted[(kind, ref.name)] = ref.uid
        self._tell(
            redis,
            result,
            Event(EventKey.SUCCESSFUL_DELETE, {"kind": kind, "child": ref.name}),
        )
        return True

    async def _patch_service(
        self, redis: Obj, name: str, patch: dict[str, Any], result: _PassResult
    ) -> None:
        namespace = key_of(redis)[0]
        try:
            # A merge patch replaces the ports list whole; a strategic merge would add the new
            # port beside the old one (both named "redis": refused).
            updated = await self.kube.patch(ChildKind.SERVICE, namespace, name, patch)
        except KubeError as exc:
            self._fail(redis, result, EventKey.FAILED_UPDATE, ChildKind.SERVICE, name, exc)
            return
        self.store.services.upsert(updated, answer=True)
        self._tell(
            redis,
            result,
            Event(EventKey.SUCCESSFUL_UPDATE, {"kind": ChildKind.SERVICE, "child": name}),
        )

    async def _write_status(self, redis: Obj, status: Mapping[str, Any]) -> None:
        namespace, name = key_of(redis)
        old = redis.get("status") or {}
        body = {"status": {**{k: None for k in old if k not in status}, **status}}
        updated = await self.kube.patch_redis(namespace, name, body, status=True)
        self.store.redis.upsert(updated, answer=True)

    async def _release_legacy_finalizer(self, redis: Obj, finalizers: list[str]) -> Obj:
        """Remove the finalizer of earlier versions, keeping any other; resourceVersion makes the
        patch fail rather than clobber a change made since (the pass is retried on the newer
        object)."""
        namespace, name = key_of(redis)
        body = {
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": redis["metadata"]["resourceVersion"],
            }
        }
        updated = await self.kube.patch_redis(namespace, name, body, status=False)
        self.store.redis.upsert(updated, answer=True)
        log.info(
            "%s/%s: removed the finalizer %s of earlier versions", namespace, name, LEGACY_FINALIZER
        )
        return updated


def _with_digest(pod: dict[str, Any], digest: str) -> dict[str, Any]:
    """A pod body to create carrying the password's digest (`AUTH_DIGEST_ANNOTATION`)."""
    metadata = pod["metadata"]
    annotations = dict(metadata.get("annotations") or {}) | {AUTH_DIGEST_ANNOTATION: digest}
    return pod | {"metadata": metadata | {"annotations": annotations}}
