"""Watch events in: into the store, and the Redis they concern into the work queue.

controller-runtime's ``EnqueueRequestForOwner`` and informer sync: kopf delivers the watch
events (``@kopf.on.event``) of Redis objects, pods and Services, and before the first pass the
store is filled with a full listing. The Namespace objects' events only say which namespaces
are being deleted (``namespaces.py``); they queue nothing.

kopf's change-detecting handlers (on.create/update/delete) are not used on purpose: they keep
their progress and a diff base in annotations, i.e. write on every change, and a production
operator must not write while nothing changes; their deletion handlers would need a finalizer,
and deletion is the garbage collector's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from redis_operator import api
from redis_operator.api import ChildKind
from redis_operator.children import controller_name, redis_name_of
from redis_operator.controller.expectations import OwnWrites
from redis_operator.controller.store import Key, Obj, Store, key_of
from redis_operator.controller.workqueue import WorkQueue
from redis_operator.kube.client import KubeApi


class WatchHandlers:
    """Feeds the store from watch events and queues the Redis each event concerns."""

    def __init__(self, store: Store, queue: WorkQueue[Key], own_writes: OwnWrites) -> None:
        self.store = store
        self.queue = queue
        self.own_writes = own_writes
        self.synced = False
        """Whether :meth:`sync` has filled the store (readiness)."""

    def on_redis(self, event_type: str | None, body: Obj) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self.store.redis.remove(body)
            self.queue.forget(key)
            self.own_writes.forget(key)
            return
        self.store.redis.upsert(body)
        self.store.terminating.observed(key[0], body)
        self.queue.add(key)

    def on_namespace(self, event_type: str | None, body: Obj) -> None:
        """A Namespace changed: remember whether it is being deleted."""
        self.store.terminating.on_namespace(event_type, body)

    def on_child(self, kind: ChildKind, event_type: str | None, body: Obj) -> None:
        """A pod or Service changed: store it and queue the Redis it belongs to."""
        bucket = self.store.children(kind)
        owner = self._owner_of(body)
        if event_type == "DELETED":
            bucket.remove(body)
            if owner is not None:
                self.own_writes.child_gone(owner, (kind, body["metadata"]["name"]))
        else:
            bucket.upsert(body)
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

    async def sync(self, kube: KubeApi, namespaces: Sequence[str] = ()) -> None:
        """Fill the store with a full listing before any pass runs (controller-runtime's
        WaitForCacheSync): a pass over a half-listed store would recreate pods that exist."""
        scopes: list[str | None] = [*namespaces] or [None]
        for namespace in scopes:
            redis = await kube.list_redis(namespace)
            for kind in ChildKind:
                for child in await kube.list_children(kind, namespace):
                    self.store.children(kind).upsert(child)
            for obj in redis:
                self.on_redis(None, obj)
        self.synced = True


def register(registry: kopf.OperatorRegistry, handlers: WatchHandlers) -> None:
    """Wire kopf's watch events for Redis objects, pods, Services and namespaces into the
    handlers.

    The handlers are coroutines on purpose: kopf runs plain functions in a thread pool, and the
    store and work queue belong to the event loop (a thread waking the queue raced with it).
    """

    @kopf.on.event(api.GROUP, api.VERSION, api.PLURAL, registry=registry)
    async def redis_event(event: Mapping[str, Any], **_: Any) -> None:
        handlers.on_redis(event.get("type"), event["object"])

    @kopf.on.event("", "v1", "pods", registry=registry)
    async def pod_event(event: Mapping[str, Any], **_: Any) -> None:
        handlers.on_child(ChildKind.POD, event.get("type"), event["object"])

    @kopf.on.event("", "v1", "services", registry=registry)
    async def service_event(event: Mapping[str, Any], **_: Any) -> None:
        handlers.on_child(ChildKind.SERVICE, event.get("type"), event["object"])

    # Cluster-scoped: kopf watches namespaces cluster-wide, whichever namespaces are served.
    @kopf.on.event("", "v1", "namespaces", registry=registry)
    async def namespace_event(event: Mapping[str, Any], **_: Any) -> None:
        handlers.on_namespace(event.get("type"), event["object"])
