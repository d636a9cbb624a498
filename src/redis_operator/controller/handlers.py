"""Watch events in: into the store, and the Redis they concern into the work queue.

controller-runtime's ``EnqueueRequestForOwner`` and informer cache: the informers
(``informer.py``) deliver the listings and watch events of Redis objects, pods, Services,
password Secrets (only those labelled ``AUTH_SECRET_LABEL``: a Secret change queues every Redis
whose password it holds) and namespaces. A listing replaces what was held of its kind and
scope: whatever it lacks went while nobody watched, and is handled as if its ``DELETED`` event
had come. The Namespace objects only say which namespaces are being deleted (``namespaces.py``);
they queue nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis_operator.api import ChildKind
from redis_operator.children import (
    AUTH_SECRET_LABEL,
    controller_name,
    redis_name_of,
)
from redis_operator.controller.expectations import OwnWrites
from redis_operator.controller.informer import Informer
from redis_operator.controller.store import (
    Bucket,
    Key,
    Obj,
    Store,
    key_of,
    resource_version,
    version_number,
)
from redis_operator.controller.workqueue import WorkQueue
from redis_operator.kube.client import NAMESPACE, REDIS, SECRET, Kind
from redis_operator.kube.watch import Listing, ListWatch

#: What the controller watches, children before Redis objects: the first pass of a Redis finds
#: its children listed.
WATCHED: tuple[Kind, ...] = (ChildKind.POD, ChildKind.SERVICE, SECRET, REDIS)

#: The label selector of each kind watched by one (the others are watched whole).
SELECTORS: dict[Kind, str] = {SECRET: AUTH_SECRET_LABEL}


class WatchHandlers:
    """Feeds the store from watch events and queues the Redis each event concerns."""

    def __init__(self, store: Store, queue: WorkQueue[Key], own_writes: OwnWrites) -> None:
        self.store = store
        self.queue = queue
        self.own_writes = own_writes

    def on_redis(self, event_type: str, body: Obj) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self.store.redis.remove(body)
            self.queue.forget(key)
            self.own_writes.forget(key)
            return
        self.store.redis.upsert(body)
        self.store.terminating.observed(key[0], body)
        self.queue.add(key)

    def on_namespace(self, event_type: str, body: Obj) -> None:
        """A Namespace changed: remember whether it is being deleted."""
        self.store.terminating.on_namespace(event_type, body)

    def on_child(self, kind: ChildKind, event_type: str, body: Obj) -> None:
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

    def on_secret(self, event_type: str, body: Obj) -> None:
        """A password Secret changed: store it (one that lost the label is gone) and queue every
        Redis whose password it holds."""
        labels = body["metadata"].get("labels") or {}
        if event_type == "DELETED" or AUTH_SECRET_LABEL not in labels:
            self.store.secrets.remove(body)
        else:
            self.store.secrets.upsert(body)
        for key in self._users_of(body):
            self.queue.add(key)

    def _users_of(self, secret: Obj) -> list[Key]:
        """The Redis objects in the store whose password is in this Secret."""
        return self.store.redis.password_users(*key_of(secret))

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

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        """One watch event of any watched kind."""
        if kind == REDIS:
            self.on_redis(event_type, obj)
        elif kind == NAMESPACE:
            self.on_namespace(event_type, obj)
        elif kind == SECRET:
            self.on_secret(event_type, obj)
        else:
            self.on_child(ChildKind(kind), event_type, obj)

    def replace(self, kind: Kind, namespace: str | None, listing: Listing) -> None:
        """A full listing of ``kind`` in ``namespace`` (all if None) replaces what is held
        there: each held object it lacks (or holds under a new uid) is gone, unless it is newer
        than the listing (our own write's answer, whose event is still to come)."""
        listed = {key_of(obj): obj for obj in listing.items}
        for held in self._held(kind, namespace):
            current = listed.get(key_of(held))
            if current is not None and _uid(current) == _uid(held):
                continue
            if current is None and _newer(held, listing):
                continue
            self.event(kind, "DELETED", held)
        for obj in listing.items:
            self.event(kind, "ADDED", obj)

    def _held(self, kind: Kind, namespace: str | None) -> list[Obj]:
        if kind == NAMESPACE:
            terminating = self.store.terminating
            names = sorted({*terminating.watched, *terminating.refused})
            return [{"metadata": {"name": name}} for name in names]
        if kind == REDIS:
            bucket: Bucket = self.store.redis
        elif kind == SECRET:
            bucket = self.store.secrets
        else:
            bucket = self.store.children(kind)
        scopes = [namespace] if namespace is not None else list(bucket.by_namespace)
        return [obj for ns in scopes for obj in list(bucket.by_namespace.get(ns, {}).values())]


def _uid(obj: Obj) -> str | None:
    uid: str | None = obj["metadata"].get("uid")
    return uid


def _newer(obj: Obj, listing: Listing) -> bool:
    held, listed = resource_version(obj), version_number(listing.resource_version)
    return held is not None and listed is not None and held > listed


def informers(
    source: ListWatch,
    handlers: WatchHandlers,
    namespaces: Sequence[str],
    backoffs: Sequence[float],
) -> list[Informer]:
    """One informer per watched kind and served namespace (or one cluster-wide), and one for
    the Namespace objects, which are cluster-scoped whichever namespaces are served."""
    scopes: list[str | None] = [*namespaces] or [None]
    built = [
        Informer(
            source,
            kind,
            namespace,
            handlers,
            backoffs=backoffs,
            label_selector=SELECTORS.get(kind),
            transform=handlers.store.transform(kind),
        )
        for kind in WATCHED
        for namespace in scopes
    ]
    built.append(Informer(source, NAMESPACE, None, handlers, backoffs=backoffs))
    return built
