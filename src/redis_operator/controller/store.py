"""The operator's in-memory view of the cluster, fed by watch events (an informer's cache).

Reconcile passes read from here, not from the API, so a pass with nothing to do makes no API
call at all. Writes the operator makes are stored from their responses ("write-through"), and a
watch event never overwrites what is held unless it carries a newer resourceVersion: not an
older one (late), nor the same one. The answer to an update that deletes the object (its last
finalizer removed) keeps the version the object had, and the watch may still deliver that
version as it was, finalizer and all. Of the
namespaces only one fact is kept: which are being deleted (``namespaces.py``). Objects are kept
without their ``metadata.managedFields`` (:func:`trimmed`), which nothing here reads, and pods
and Services only with the fields the operator reads of them (:data:`POD_FIELDS`,
:data:`SERVICE_FIELDS`; client-go's informer transforms, ``SetTransform``): at 3,000 pods most of
the operator's memory is its store. A unit test runs passes over objects that record every field
read and fails if one is not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from redis_operator.api import Auth
from redis_operator.children import INSTANCE_LABEL, redis_name_of, secret_of_auth
from redis_operator.controller.namespaces import TerminatingNamespaces
from redis_operator.kube.client import REDIS, SECRET

Obj = Mapping[str, Any]
Key = tuple[str, str]
"""An object by namespace and name (a Redis' key in the work queue)."""
#: A child by kind (``pod`` or ``service``) and name.
ChildKey = tuple[str, str]


def version_number(value: object) -> int | None:
    """A resourceVersion as a number (None if it is none): the operator's objects all come
    from one apiserver, whose versions are etcd revisions."""
    try:
        return int(str(value))
    except ValueError:
        return None


def resource_version(obj: Obj) -> int | None:
    """An object's resourceVersion as a number (None if it has none)."""
    return version_number((obj.get("metadata") or {}).get("resourceVersion"))


def trimmed(obj: Obj) -> Obj:
    """``obj`` without ``metadata.managedFields``: the server-side-apply bookkeeping, a third
    of a pod's JSON, read by nothing in the operator (client-go's
    ``TransformStripManagedFields``, the default transform of controller-runtime's cache)."""
    meta = obj.get("metadata")
    if not meta or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


Fields = Mapping[str, Union["Fields", None]]
"""What is kept of a mapping: each key named (if present), its value whole where None, else (of a
mapping, or of each mapping in a list) what the inner ``Fields`` name."""

POD_FIELDS: Fields = {
    "apiVersion": None,
    "kind": None,
    "metadata": None,
    "spec": {
        "containers": {"name": None, "image": None, "command": None, "ports": None},
        "volumes": {"name": None, "secret": None},
    },
    "status": {"phase": None, "conditions": {"type": None, "status": None}, "podIP": None},
}
"""What the store keeps of a pod: ownership, labels and annotations (``children``, the planner),
what ``children.pod_matches_spec`` compares (of the volumes, the Secret each mounts), readiness
(each condition's type and status) and phase, and the address the replicator dials. The
scheduler's, kubelet's and apiserver's defaults (tolerations, the service account's projected
volume, container statuses, condition times...) are a pod's larger part and read by nothing."""

SERVICE_FIELDS: Fields = {
    "apiVersion": None,
    "kind": None,
    "metadata": None,
    "spec": {"selector": None, "ports": None},
}
"""What the store keeps of a Service: ownership and what ``children.service_patch`` compares."""


def projected(value: Any, fields: Fields | None) -> Any:
    """``value`` with only the ``fields`` named (all of it if None)."""
    if fields is None:
        return value
    if isinstance(value, Mapping):
        return {key: projected(value[key], inner) for key, inner in fields.items() if key in value}
    if isinstance(value, list):
        return [projected(item, fields) for item in value]
    return value


def key_of(obj: Obj) -> Key:
    """The object's namespace (empty if cluster-scoped) and name."""
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


@dataclass
class Bucket:
    """Objects of one kind, by namespace and name."""

    by_namespace: dict[str, dict[str, Obj]] = field(default_factory=dict)
    fields: Fields | None = None
    """What is kept of each object (all but its managedFields if None)."""

    def held(self, obj: Obj) -> dict[str, Any]:
        """``obj`` as this bucket keeps it."""
        kept: dict[str, Any] = projected(trimmed(obj), self.fields)
        return kept

    def upsert(self, obj: Obj, *, answer: bool = False) -> Obj | None:
        """Store ``obj`` unless a newer version is held, or the same one and ``obj`` comes from
        the watch rather than as the ``answer`` to our own write; return the object it
        replaced."""
        namespace, name = key_of(obj)
        objects = self.by_namespace.setdefault(namespace, {})
        current = objects.get(name)
        if current is not None and current["metadata"].get("uid") == obj["metadata"].get("uid"):
            old, new = resource_version(current), resource_version(obj)
            if old is not None and new is not None and (new < old or (new == old and not answer)):
                return obj  # a late event: we already hold this version or a newer one
        objects[name] = self.held(obj)
        return current

    def remove(self, obj: Obj) -> Obj | None:
        """Forget ``obj`` (if the same object, by uid, is held); return what was removed."""
        namespace, name = key_of(obj)
        objects = self.by_namespace.get(namespace, {})
        current = objects.get(name)
        if current is not None and current["metadata"].get("uid") == obj["metadata"].get("uid"):
            del objects[name]
            return current
        return None

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.by_namespace.get(namespace, {}).get(name)

    def __len__(self) -> int:
        return sum(len(objects) for objects in self.by_namespace.values())


def _redis_names(pod: Obj) -> set[str]:
    """The Redis names a pod could be a child of: by its name ``<redis>-<ordinal>`` or by its
    instance label."""
    base = redis_name_of(pod["metadata"]["name"])
    names = {base} if base is not None else set()
    instance = (pod["metadata"].get("labels") or {}).get(INSTANCE_LABEL)
    if instance:
        names.add(instance)
    return names


@dataclass
class IndexedBucket(Bucket):
    """A bucket that also files each object under the values :meth:`index_values` gives it,
    so a lookup by value reads only its own objects instead of scanning the kind."""

    index: dict[Key, set[str]] = field(default_factory=dict)

    def index_values(self, obj: Obj) -> Iterable[str]:
        """The values ``obj`` is filed under, in its namespace."""
        raise NotImplementedError

    def _index(self, obj: Obj | None, add: bool) -> None:
        if obj is None:
            return
        namespace, name = key_of(obj)
        for value in self.index_values(obj):
            names = self.index.setdefault((namespace, value), set())
            if add:
                names.add(name)
            else:
                names.discard(name)
                if not names:
                    del self.index[(namespace, value)]

    def upsert(self, obj: Obj, *, answer: bool = False) -> Obj | None:
        replaced = super().upsert(obj, answer=answer)
        if replaced is not obj:
            self._index(replaced, add=False)
            self._index(obj, add=True)
        return replaced

    def remove(self, obj: Obj) -> Obj | None:
        removed = super().remove(obj)
        self._index(removed, add=False)
        return removed

    def filed_under(self, namespace: str, value: str) -> list[str]:
        """The names of the objects filed under ``value`` in ``namespace``, sorted."""
        return sorted(self.index.get((namespace, value), ()))


@dataclass
class PodBucket(IndexedBucket):
    """Pods, filed under the Redis they could belong to, so a pass reads only its own."""

    def index_values(self, obj: Obj) -> Iterable[str]:
        return _redis_names(obj)

    def of_redis(self, namespace: str, redis_name: str) -> list[Obj]:
        """Pods named ``<redis>-<ordinal>`` or labelled with the Redis' instance."""
        pods = (self.get(namespace, name) for name in self.filed_under(namespace, redis_name))
        return [pod for pod in pods if pod is not None]


def _password_secret(redis: Obj) -> str | None:
    """The name of the Secret holding a Redis' password (None: auth disabled, or a
    `spec.auth` the passes refuse, so nothing reads its Secret)."""
    try:
        auth = Auth.from_object((redis.get("spec") or {}).get("auth"))
    except ValueError:
        return None
    secret = secret_of_auth(redis["metadata"]["name"], auth)
    return None if secret is None else secret[0]


@dataclass
class RedisBucket(IndexedBucket):
    """Redis objects, filed under the Secret holding each one's password, so a Secret's event
    finds its users without a scan of every Redis."""

    def index_values(self, obj: Obj) -> Iterable[str]:
        secret = _password_secret(obj)
        return () if secret is None else (secret,)

    def password_users(self, namespace: str, secret: str) -> list[Key]:
        """The Redis objects whose password the Secret ``secret`` holds, by name."""
        return [(namespace, name) for name in self.filed_under(namespace, secret)]


@dataclass
class Store:
    """Redis objects, pods and Services the operator has seen, the password Secrets (those
    labelled ``children.AUTH_SECRET_LABEL``), and the namespaces being deleted."""

    redis: RedisBucket = field(default_factory=RedisBucket)
    pods: PodBucket = field(default_factory=lambda: PodBucket(fields=POD_FIELDS))
    services: Bucket = field(default_factory=lambda: Bucket(fields=SERVICE_FIELDS))
    secrets: Bucket = field(default_factory=Bucket)
    terminating: TerminatingNamespaces = field(default_factory=TerminatingNamespaces)

    def children(self, kind: str) -> Bucket:
        """The bucket of a child kind: ``pod`` or ``service``."""
        return {"pod": self.pods, "service": self.services}[kind]

    def transform(self, kind: str) -> Callable[[Obj], dict[str, Any]] | None:
        """What a listing of ``kind`` keeps of each object, page by page (None: a kind the
        store does not hold, the namespaces)."""
        buckets = {"pod": self.pods, "service": self.services, REDIS: self.redis}
        bucket = (buckets | {SECRET: self.secrets}).get(kind)
        return None if bucket is None else bucket.held

    def candidate_pods(self, namespace: str, redis_name: str) -> list[Obj]:
        """Pods that are, or could be mistaken for, children of a Redis.

        Named ``<redis>-<ordinal>`` or labelled with its instance; the planner decides which
        it owns, which collide with a child name, and which to ignore.
        """
        return self.pods.of_redis(namespace, redis_name)
