"""FakeKubeApi: an apiserver in memory, faithful where the reconciler depends on it.

It implements :class:`~redis_operator.kube.client.KubeApi` for the operator and lets a test act
as everyone else (users, the kubelet) through methods that are neither logged nor failed on
purpose. What it models, as the apiserver does it:

- every object gets a uid, and every change a new ``resourceVersion`` from one counter (etcd's
  revision); ``metadata.generation`` starts at 1 and moves only when ``spec`` changes; a change
  that changes nothing is no write (no new version, no watch event);
- create of an existing name: 409 ``AlreadyExists``; any call on a missing object: 404;
- delete with ``preconditions.uid`` of another object: 409; a merge patch (RFC 7386) carrying a
  ``metadata.resourceVersion`` that is not the object's: 409;
- an object with finalizers is only marked (``deletionTimestamp``) by a delete, and goes when
  its last finalizer is removed (the answer to that update keeps the object's version); a pod
  is deleted gracefully (it stays, marked, until the kubelet deletes it with grace period 0);
  a delete with ``propagation`` ``Foreground`` or
  ``Orphan`` adds the garbage collector's finalizer ``foregroundDeletion`` or ``orphan`` (the
  garbage collector itself is the tests' to play);
- a namespace being deleted (:meth:`FakeKubeApi.terminate_namespace`): every create in it is
  refused with 403 and the cause ``NamespaceTerminating``, as the NamespaceLifecycle admission
  plugin does, while patches and deletes still go through; Namespace objects are cluster-scoped
  (namespace ``""``);
- a replace (PUT, the managed certificate's Secret) carrying a resourceVersion that is not
  the object's: 409; a JSON patch (RFC 6902, the webhook configuration's caBundle) applies
  whole or not at all, 422 for a failed ``test`` or a missing path; Secrets and webhook
  configurations make no watch events (the operator watches neither), and webhook
  configurations are cluster-scoped;
- the status subresource: a status patch changes only ``status``, any other write ignores it;
  a new pod's status is ``Pending``;
- watch delivery: every change becomes an ``ADDED``/``MODIFIED``/``DELETED`` event, held until
  :meth:`FakeKubeApi.deliver` hands them to the subscribers in order, as a watch lags behind
  the writes;
- list and watch (:class:`~redis_operator.kube.watch.ListWatch`) as the informers use them: a
  listing carries the current revision, a watch replays every change after the revision it
  starts from and then follows new ones; :meth:`FakeKubeApi.end_watches` breaks the open
  streams (an apiserver going away) and :meth:`FakeKubeApi.compact` forgets the history (an
  apiserver restarted): a watch from before it answers ``410 Gone``.

For the tests it adds scripted failures (:meth:`FakeKubeApi.fail`) and a log of the operator's
write calls in order (:attr:`FakeKubeApi.writes`).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from redis_operator import api
from redis_operator.api import ChildKind
from redis_operator.kube.client import NAMESPACE, REDIS, SECRET, WEBHOOK_CONFIGURATION, Kind, Obj
from redis_operator.kube.errors import ApiError, TransportError
from redis_operator.kube.watch import GONE, Event, Listing, Transform

_T = TypeVar("_T")

_RESOURCES: dict[str, str] = {
    ChildKind.POD: "pods",
    ChildKind.SERVICE: "services",
    REDIS: f"{api.PLURAL}.{api.GROUP}",
    NAMESPACE: "namespaces",
    SECRET: "secrets",
    WEBHOOK_CONFIGURATION: "validatingwebhookconfigurations.admissionregistration.k8s.io",
}
#: Kinds without a namespace (stored under namespace ``""``).
_CLUSTER_SCOPED: tuple[Kind, ...] = (NAMESPACE, WEBHOOK_CONFIGURATION)
#: Kinds the operator does not watch: their changes make no watch event.
_UNWATCHED: tuple[Kind, ...] = (WEBHOOK_CONFIGURATION,)

#: The finalizers the apiserver adds for the garbage collector, by propagation policy.
PROPAGATION_FINALIZERS = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}

_IMMUTABLE_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)

#: The grace period the apiserver gives a pod deleted without one.
POD_GRACE_PERIOD_SECONDS = 30


class Verb(StrEnum):
    """The calls of the :class:`~redis_operator.kube.client.KubeApi` protocol."""

    CREATE = "create"
    DELETE = "delete"
    PATCH = "patch"
    PATCH_STATUS = "patch_status"
    REPLACE = "replace"
    LIST = "list"
    WATCH = "watch"
    GET = "get"


@dataclass(frozen=True)
class Write:
    """One write call the operator made; ``error`` is what it raised, if anything."""

    verb: Verb
    kind: Kind
    namespace: str
    name: str
    body: Obj
    error: Exception | None = None


@dataclass(frozen=True)
class WatchEvent:
    """What a watch delivers: ``ADDED``, ``MODIFIED`` or ``DELETED`` and the object then."""

    type: str
    kind: Kind
    object: Obj


@dataclass
class _Failure:
    verb: Verb
    kind: Kind
    error: Exception
    times: int
    name: str | None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes a key, anything else replaces.

    Answers a new value; neither argument is changed or shared with it.
    """
    return _merge(copy.deepcopy(target), patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeApi:
    """An in-memory apiserver for Redis objects, pods and Services (see the module docstring).

    ``now`` gives the wall-clock time of ``creationTimestamp`` and ``deletionTimestamp``.
    """

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._revision = 0
        self._uids = 0
        self._failures: list[_Failure] = []
        self._subscribers: list[Callable[[WatchEvent], None]] = []
        self._pending: list[WatchEvent] = []
        self._history: list[WatchEvent] = []
        self._compacted = 0
        self._streams = 0  # bumped to end the open watches
        self._ended_at = 0  # the revision they ended at
        self._stream_error: Exception | None = None
        self._changed = asyncio.Event()
        self._terminating: set[str] = set()
        self.writes: list[Write] = []
        """The operator's write calls (create, delete, patch, patch_status), in order."""

    # -- the KubeApi protocol: the operator's calls ------------------------------------------

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        name = str(body["metadata"]["name"])
        await asyncio.sleep(0)  # the round trip: concurrent calls interleave here
        return self._logged(
            Verb.CREATE,
            kind,
            namespace,
            name,
            body,
            lambda: self.create_object(kind, namespace, body),
        )

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        await asyncio.sleep(0)
        self._logged(
            Verb.DELETE,
            kind,
            namespace,
            name,
            {"preconditions": {"uid": uid}},
            lambda: self.delete_object(kind, namespace, name, uid=uid),
        )

    async def patch(self, kind: ChildKind, namespace: str, name: str, patch: Obj) -> Obj:
        await asyncio.sleep(0)
        return self._logged(
            Verb.PATCH,
            kind,
            namespace,
            name,
            patch,
            lambda: self.patch_object(kind, namespace, name, patch),
        )

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        await asyncio.sleep(0)
        self._raise_scripted(Verb.GET, SECRET, name)
        return self.get(SECRET, namespace, name)

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        name = str(body["metadata"]["name"])
        await asyncio.sleep(0)
        return self._logged(
            Verb.CREATE,
            SECRET,
            namespace,
            name,
            body,
            lambda: self.create_object(SECRET, namespace, body),
        )

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        await asyncio.sleep(0)
        return self._logged(
            Verb.REPLACE,
            SECRET,
            namespace,
            name,
            body,
            lambda: self.replace_object(SECRET, namespace, name, body),
        )

    async def read_webhook_configuration(self, name: str) -> Obj | None:
        await asyncio.sleep(0)
        self._raise_scripted(Verb.GET, WEBHOOK_CONFIGURATION, name)
        return self.get(WEBHOOK_CONFIGURATION, "", name)

    async def patch_webhook_configuration(self, name: str, operations: list[Obj]) -> Obj:
        await asyncio.sleep(0)
        return self._logged(
            Verb.PATCH,
            WEBHOOK_CONFIGURATION,
            "",
            name,
            {"operations": operations},
            lambda: self.json_patch_object(WEBHOOK_CONFIGURATION, "", name, operations),
        )

    async def patch_redis(self, namespace: str, name: str, patch: Obj, *, status: bool) -> Obj:
        await asyncio.sleep(0)
        verb = Verb.PATCH_STATUS if status else Verb.PATCH
        return self._logged(
            verb,
            REDIS,
            namespace,
            name,
            patch,
            lambda: self.patch_object(REDIS, namespace, name, patch, status=status),
        )

    # -- the ListWatch protocol: the informers' calls ----------------------------------------

    async def list_objects(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None = None,
        transform: Transform | None = None,
    ) -> Listing:
        await asyncio.sleep(0)
        self._raise_scripted(Verb.LIST, kind, "")
        items = [o for o in self.objects(kind, namespace) if _selects(label_selector, o)]
        if transform is not None:
            items = [transform(o) for o in items]
        return Listing(items, str(self._revision))

    async def watch(
        self,
        kind: Kind,
        namespace: str | None,
        resource_version: str,
        label_selector: str | None = None,
    ) -> AsyncIterator[Event]:
        await asyncio.sleep(0)
        self._raise_scripted(Verb.WATCH, kind, "")
        since = int(resource_version)
        if since < self._compacted:
            raise ApiError(
                GONE, "Expired", f"too old resource version: {since} ({self._compacted})"
            )
        stream = self._streams
        while True:
            ended = self._streams != stream
            until = self._ended_at if ended else self._revision
            for event in [e for e in self._history if since < _revision(e.object) <= until]:
                since = _revision(event.object)
                if event.kind == kind and namespace in (None, _namespace(event.object)):
                    if _selects(label_selector, event.object):
                        yield Event(event.type, copy.deepcopy(event.object))
                    elif event.type == "MODIFIED":  # it no longer matches: gone from the view
                        yield Event("DELETED", copy.deepcopy(event.object))
            if ended:
                raise self._stream_error or TransportError("connection reset by peer")
            changed = self._changed
            await changed.wait()

    def end_watches(self, error: Exception | None = None) -> None:
        """End every open watch stream with ``error`` (default: a connection reset), as an
        apiserver going away does. Streams opened later are not affected."""
        self._streams += 1
        self._ended_at = self._revision
        self._stream_error = error
        self._wake()

    def compact(self) -> None:
        """Forget the changes so far, as a restarted apiserver does: a watch from an earlier
        revision answers 410 Gone and must list again."""
        self._compacted = self._revision
        self._history.clear()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- scripted failures and the log --------------------------------------------------------

    def fail(
        self, verb: Verb, kind: Kind, error: Exception, *, times: int = 1, name: str | None = None
    ) -> None:
        """Make the operator's next ``times`` calls of ``verb`` on ``kind`` (named ``name``, if
        given) raise ``error`` without doing anything."""
        self._failures.append(_Failure(verb, kind, error, times, name))

    def clear_failures(self) -> None:
        """Forget the scripted failures not used up yet."""
        self._failures.clear()

    def _raise_scripted(self, verb: Verb, kind: Kind, name: str) -> None:
        for failure in self._failures:
            if failure.verb is verb and failure.kind == kind and failure.name in (None, name):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise failure.error

    def _logged(
        self,
        verb: Verb,
        kind: Kind,
        namespace: str,
        name: str,
        body: Obj,
        action: Callable[[], _T],
    ) -> _T:
        sent = copy.deepcopy(body)
        try:
            self._raise_scripted(verb, kind, name)
            result = action()
        except Exception as exc:
            self.writes.append(Write(verb, kind, namespace, name, sent, exc))
            raise
        self.writes.append(Write(verb, kind, namespace, name, sent))
        return result

    # -- everyone else: users, the kubelet ----------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """The object as stored (a copy), or None."""
        obj = self._objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def objects(self, kind: Kind, namespace: str | None = None) -> list[Obj]:
        """Copies of the objects of ``kind`` (in ``namespace``, if given), by namespace and name."""
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self._objects.items())
            if k == kind and namespace in (None, ns)
        ]

    def create_object(self, kind: Kind, namespace: str, body: Obj) -> Obj:
        """Create as anyone would; 409 if the name is taken, 403 in a namespace being deleted."""
        name = str(body["metadata"]["name"])
        if kind != NAMESPACE and namespace in self._terminating:
            raise ApiError(
                403,
                "Forbidden",
                f'{_RESOURCES[kind]} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                {
                    "name": name,
                    "kind": _RESOURCES[kind],
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )
        if (kind, namespace, name) in self._objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{_RESOURCES[kind]} "{name}" already exists',
                {"name": name, "kind": _RESOURCES[kind]},
            )
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        for field in _IMMUTABLE_METADATA:
            meta.pop(field, None)
        self._uids += 1
        meta.update(
            name=name,
            uid=f"uid-{self._uids}",
            generation=1,
            creationTimestamp=_timestamp(self._now()),
        )
        if kind not in _CLUSTER_SCOPED:
            meta["namespace"] = namespace
        obj.pop("status", None)
        if kind == ChildKind.POD:
            obj["status"] = {"phase": "Pending"}
        elif kind == NAMESPACE:
            obj["status"] = {"phase": "Active"}
        return self._store(kind, obj, "ADDED")

    def patch_object(
        self, kind: Kind, namespace: str, name: str, patch: Obj, *, status: bool = False
    ) -> Obj:
        """A merge patch as anyone would make it; ``status``: through the status subresource."""
        current = self._existing(kind, namespace, name)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise _conflict(kind, name)
        if status:
            updated = copy.deepcopy(current)
            if "status" in patch:
                updated["status"] = merge_patch(current.get("status"), patch["status"])
        else:
            updated = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
        return self._update(kind, current, updated, status=status)

    def replace_object(self, kind: Kind, namespace: str, name: str, body: Obj) -> Obj:
        """A replace (PUT) as anyone would make it: 409 unless ``body`` carries the object's
        current resourceVersion."""
        current = self._existing(kind, namespace, name)
        if (body.get("metadata") or {}).get("resourceVersion") != current["metadata"][
            "resourceVersion"
        ]:
            raise _conflict(kind, name)
        return self._update(kind, current, copy.deepcopy(body), status=False)

    def json_patch_object(
        self, kind: Kind, namespace: str, name: str, operations: list[Obj]
    ) -> Obj:
        """A JSON patch (RFC 6902: ``test``, ``add``, ``replace``, ``remove``), all or nothing:
        422 when a ``test`` fails or a path does not exist."""
        current = self._existing(kind, namespace, name)
        updated = copy.deepcopy(current)
        for operation in operations:
            _apply_operation(updated, operation, kind, name)
        return self._update(kind, current, updated, status=False)

    def edit(self, kind: Kind, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
        """Replace the object with a changed copy (``kubectl edit``, the kubelet's status
        writes): ``change`` may alter anything but the server's own metadata."""
        current = self._existing(kind, namespace, name)
        updated = copy.deepcopy(current)
        change(updated)
        return self._update(kind, current, updated, status=True)

    def delete_object(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        uid: str | None = None,
        grace_period: int | None = None,
        propagation: Literal["Background", "Foreground", "Orphan"] = "Background",
    ) -> None:
        """Delete as anyone would: with ``uid``, only that object (else 409); a pod goes only
        when deleted with ``grace_period=0`` (the kubelet's last word), an object with
        finalizers only when they are gone; ``propagation`` other than ``Background`` adds the
        garbage collector's finalizer for it."""
        current = self._existing(kind, namespace, name)
        gc_finalizer = PROPAGATION_FINALIZERS.get(propagation)
        if gc_finalizer is not None and "deletionTimestamp" not in current["metadata"]:
            finalizers = current["metadata"].get("finalizers") or []
            if gc_finalizer not in finalizers:
                current = copy.deepcopy(current)
                current["metadata"]["finalizers"] = [*finalizers, gc_finalizer]
        meta = current["metadata"]
        if uid is not None and meta["uid"] != uid:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {_RESOURCES[kind]} "{name}": Precondition '
                f"failed: UID in precondition: {uid}, UID in object meta: {meta['uid']}",
                {"name": name, "kind": _RESOURCES[kind]},
            )
        graceful = kind == ChildKind.POD and grace_period != 0
        if not meta.get("finalizers") and not graceful:
            self._remove(kind, current)
            return
        if "deletionTimestamp" in meta:
            return
        marked = copy.deepcopy(current)
        marked["metadata"]["deletionTimestamp"] = _timestamp(self._now())
        if graceful:
            marked["metadata"]["deletionGracePeriodSeconds"] = POD_GRACE_PERIOD_SECONDS
        self._store(kind, marked, "MODIFIED")

    def terminate_namespace(self, namespace: str) -> None:
        """Someone deletes the namespace: its Namespace object (created if the test made none)
        shows it ``Terminating``, and creates in it are refused from now on."""
        key = (NAMESPACE, "", namespace)
        if key not in self._objects:
            self.create_object(NAMESPACE, "", {"metadata": {"name": namespace}})
        self._terminating.add(namespace)
        marked = copy.deepcopy(self._objects[key])
        marked["metadata"]["deletionTimestamp"] = _timestamp(self._now())
        marked["status"] = {"phase": "Terminating"}
        self._store(NAMESPACE, marked, "MODIFIED")

    def remove_namespace(self, namespace: str) -> None:
        """The namespace controller is done: everything in the namespace is gone, then the
        Namespace object; the name is free to be created again."""
        kinds: tuple[Kind, ...] = (*ChildKind, REDIS)
        for kind in kinds:
            for obj in self.objects(kind, namespace):
                self._remove(kind, obj)
        namespace_object = self._objects.get((NAMESPACE, "", namespace))
        if namespace_object is not None:
            self._remove(NAMESPACE, namespace_object)
        self._terminating.discard(namespace)

    # -- watch ------------------------------------------------------------------------------

    def subscribe(self, handler: Callable[[WatchEvent], None]) -> None:
        """Have ``handler`` receive every watch event from now on (see :meth:`deliver`)."""
        self._subscribers.append(handler)

    @property
    def undelivered(self) -> int:
        """Watch events not yet delivered."""
        return len(self._pending)

    def lose_events(self) -> int:
        """Drop the pending watch events, as a watch resumed after an outage never tells what
        changed meanwhile; answer how many."""
        lost = len(self._pending)
        self._pending.clear()
        return lost

    def deliver(self) -> int:
        """Hand the pending watch events to the subscribers, in order; answer how many."""
        count = 0
        while self._pending:
            event = self._pending.pop(0)
            for handler in self._subscribers:
                handler(WatchEvent(event.type, event.kind, copy.deepcopy(event.object)))
            count += 1
        return count

    # -- the store ----------------------------------------------------------------------------

    def _existing(self, kind: Kind, namespace: str, name: str) -> Obj:
        obj = self._objects.get((kind, namespace, name))
        if obj is None:
            raise ApiError(
                404,
                "NotFound",
                f'{_RESOURCES[kind]} "{name}" not found',
                {"name": name, "kind": _RESOURCES[kind]},
            )
        return obj

    def _update(self, kind: Kind, current: Obj, updated: Obj, *, status: bool) -> Obj:
        meta = updated.setdefault("metadata", {})
        for field in (*_IMMUTABLE_METADATA, "resourceVersion"):
            if field in current["metadata"]:
                meta[field] = current["metadata"][field]
            else:
                meta.pop(field, None)
        if not status:
            updated.pop("status", None)
            if "status" in current:
                updated["status"] = copy.deepcopy(current["status"])
        if updated.get("spec") != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if updated == current:
            return copy.deepcopy(current)  # nothing changed: no new version, no event
        if "deletionTimestamp" in meta and not meta.get("finalizers"):
            # The last finalizer gone, the object goes; the answer keeps the version it had.
            self._remove(kind, updated)
            return copy.deepcopy(updated)
        return self._store(kind, updated, "MODIFIED")

    def _store(self, kind: Kind, obj: Obj, event: str, *, emit: bool = True) -> Obj:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        meta = obj["metadata"]
        self._objects[(kind, meta.get("namespace", ""), meta["name"])] = obj
        if emit and kind not in _UNWATCHED:
            self._emit(WatchEvent(event, kind, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _emit(self, event: WatchEvent) -> None:
        self._pending.append(event)
        self._history.append(event)
        self._wake()

    def _remove(self, kind: Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        del self._objects[(kind, meta.get("namespace", ""), meta["name"])]
        self._revision += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._revision)
        if kind not in _UNWATCHED:
            self._emit(WatchEvent("DELETED", kind, gone))


def _selects(label_selector: str | None, obj: Obj) -> bool:
    """Whether a label selector of ``key`` and ``key=value`` terms matches the object."""
    if not label_selector:
        return True
    labels: Obj = (obj.get("metadata") or {}).get("labels") or {}
    for term in label_selector.split(","):
        key, has_value, value = term.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def _conflict(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_RESOURCES[kind]} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        {"name": name, "kind": _RESOURCES[kind]},
    )


def _apply_operation(obj: Obj, operation: Obj, kind: Kind, name: str) -> None:
    """One RFC 6902 operation on ``obj``, in place (paths of object keys and list indexes)."""

    def invalid(why: str) -> ApiError:
        return ApiError(422, "Invalid", f'{_RESOURCES[kind]} "{name}" is invalid: {why}')

    op, path = operation["op"], str(operation["path"])
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    parent: Any = obj
    try:
        for part in parents:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        key: Any = int(last) if isinstance(parent, list) and last != "-" else last
    except (KeyError, IndexError, ValueError, TypeError):
        raise invalid(f"the path {path} does not exist") from None
    listed = isinstance(parent, list)
    exists = (key != "-" and 0 <= key < len(parent)) if listed else key in parent
    value = copy.deepcopy(operation.get("value"))
    if op == "add" and isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else key, value)
    elif op == "add":
        parent[key] = value
    elif not exists:
        raise invalid(f"the path {path} does not exist")
    elif op == "test":
        if parent[key] != value:
            raise invalid(f"the test of {path} failed")
    elif op == "replace":
        parent[key] = value
    elif op == "remove":
        del parent[key]
    else:
        raise invalid(f"unsupported operation {op}")


def _revision(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _namespace(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace") or "")
