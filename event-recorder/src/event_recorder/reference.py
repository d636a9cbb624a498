"""The ``involvedObject`` / ``regarding`` reference, built from whatever the caller holds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple


class InvalidObjectError(ValueError):
    """The object cannot be turned into a reference, so no Event can name it."""


def _text(value: object) -> str:
    return value if type(value) is str else "" if value is None else str(value)


_JSON_KEYS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


class ObjectReference(NamedTuple):
    """A reference to the object an Event is about (core/v1 ``ObjectReference``).

    ``kubectl describe`` finds Events by the reference's kind, namespace, name and uid,
    so these must be exact. Passing an ``ObjectReference`` explicitly is the only way to
    set ``field_path`` (for example ``spec.containers{redis}``).
    An empty ``namespace`` means a cluster-scoped object. Build it with keywords;
    the field order is Go's, and it is an immutable tuple so that it is cheap to make.
    """

    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""
    field_path: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON form, empty fields omitted like Go's ``omitempty``."""
        return {key: value for key, value in zip(_JSON_KEYS, self, strict=True) if value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectReference:
        """Read a reference in its JSON form (as found in a listed Event)."""
        return cls(*(_text(data.get(key)) for key in _JSON_KEYS))

    def without_resource_version(self) -> ObjectReference:
        """The same reference minus the version, which changes on every object update."""
        return self._replace(resource_version="") if self.resource_version else self


# Kubernetes client models often come without kind/apiVersion (items of a list do), so
# the group of the built-in kinds is looked up here; the version comes from the class
# name (V1Pod, V1beta1CronJob, CoreV1Event).
_BUILTIN_GROUPS: dict[str, str] = {
    **dict.fromkeys(
        (
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ),
        "",
    ),
    **dict.fromkeys(
        ("ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"), "apps"
    ),
    **dict.fromkeys(("CronJob", "Job"), "batch"),
    "HorizontalPodAutoscaler": "autoscaling",
    "PodDisruptionBudget": "policy",
    **dict.fromkeys(("Ingress", "IngressClass", "NetworkPolicy"), "networking.k8s.io"),
    **dict.fromkeys(
        ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"), "rbac.authorization.k8s.io"
    ),
    **dict.fromkeys(("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"), "storage.k8s.io"),
    "CustomResourceDefinition": "apiextensions.k8s.io",
    "Lease": "coordination.k8s.io",
    "PriorityClass": "scheduling.k8s.io",
    **dict.fromkeys(
        ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
        "admissionregistration.k8s.io",
    ),
}

_MODEL_CLASS = re.compile(
    r"^(?:[A-Z][a-z]+)*?V(?P<version>\d+(?:alpha\d+|beta\d+)?)(?P<kind>[A-Z]\w*)$"
)


def _infer_type(model: object) -> tuple[str, str]:
    """Guess (kind, apiVersion) of a kubernetes client model from its class name."""
    match = _MODEL_CLASS.match(type(model).__name__)
    if match is None or match["kind"] not in _BUILTIN_GROUPS:
        return "", ""
    group = _BUILTIN_GROUPS[match["kind"]]
    version = "v" + match["version"]
    return match["kind"], f"{group}/{version}" if group else version


def _from_mapping(obj: Mapping[str, Any]) -> ObjectReference:
    metadata = obj.get("metadata")
    if type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise InvalidObjectError("a Kubernetes object needs a metadata mapping")
    return ObjectReference(
        kind=_text(obj.get("kind")),
        api_version=_text(obj.get("apiVersion")),
        name=_text(metadata.get("name")),
        namespace=_text(metadata.get("namespace")),
        uid=_text(metadata.get("uid")),
        resource_version=_text(metadata.get("resourceVersion")),
    )


def _from_model(obj: Any) -> ObjectReference:
    metadata = obj.metadata
    kind, api_version = _text(getattr(obj, "kind", None)), _text(getattr(obj, "api_version", None))
    if not kind or not api_version:
        inferred_kind, inferred_version = _infer_type(obj)
        kind, api_version = kind or inferred_kind, api_version or inferred_version
    return ObjectReference(
        kind=kind,
        api_version=api_version,
        name=_text(getattr(metadata, "name", None)),
        namespace=_text(getattr(metadata, "namespace", None)),
        uid=_text(getattr(metadata, "uid", None)),
        resource_version=_text(getattr(metadata, "resource_version", None)),
    )


def _from_reference_model(obj: Any) -> ObjectReference:
    return ObjectReference(
        kind=_text(obj.kind),
        name=_text(obj.name),
        api_version=_text(obj.api_version),
        namespace=_text(obj.namespace),
        uid=_text(obj.uid),
        resource_version=_text(obj.resource_version),
        field_path=_text(obj.field_path),
    )


def reference_for(obj: object) -> ObjectReference:
    """Build the reference to ``obj``.

    ``obj`` may be an :class:`ObjectReference`, a Kubernetes object as a mapping (a
    dict, a kopf ``Body``), a kubernetes client model (``V1Pod``...), or a client
    ``V1ObjectReference``. Kind, apiVersion and name are required, as without them
    ``kubectl describe`` could never show the Event.
    """
    if isinstance(obj, ObjectReference):
        ref = obj
    elif type(obj) is dict or isinstance(obj, Mapping):
        ref = _from_mapping(obj)
    elif hasattr(obj, "metadata"):
        ref = _from_model(obj)
    elif hasattr(obj, "field_path") and hasattr(obj, "kind"):
        ref = _from_reference_model(obj)
    else:
        raise InvalidObjectError(f"cannot reference an object of type {type(obj).__name__}")
    if not (ref.kind and ref.api_version and ref.name):
        fields = (("kind", ref.kind), ("apiVersion", ref.api_version), ("name", ref.name))
        missing = ", ".join(label for label, value in fields if not value)
        raise InvalidObjectError(f"object reference lacks {missing}")
    return ref
