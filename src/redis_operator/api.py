"""The Redis API: names, defaults, a typed view of an object, and the CRD.

`crd()` is the one source of truth for the schema: the apiserver enforces it (defaults, bounds,
CEL rules) while the operator is down, and `deploy/base/crd.yaml` is generated from it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

GROUP = "myapp.tangx.in"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Redis"
PLURAL = "redis"
SINGULAR = "redis"
CRD_NAME = f"{PLURAL}.{GROUP}"
LEGACY_FINALIZER = f"{GROUP}/cleanup"
"""The finalizer earlier versions put on every Redis to delete its children themselves. The
garbage collector does that (every child has a controller owner reference), so the operator
adds no finalizer and only removes this one where an old object still carries it: left
there, it would hold the Redis, and its namespace, Terminating whenever no operator runs."""


class ChildKind(StrEnum):
    """The kinds of object a Redis has as children."""

    POD = "pod"
    SERVICE = "service"


def is_being_deleted(obj: Mapping[str, Any]) -> bool:
    """Whether the object is being deleted: it has a deletionTimestamp and keeps its name until
    its finalizers are gone (the one definition of "being deleted", for Redis and children)."""
    return (obj.get("metadata") or {}).get("deletionTimestamp") is not None


DEFAULT_REPLICAS = 1
DEFAULT_PORT = 6379
DEFAULT_IMAGE = "redis:7-alpine"

# Production needs an upper bound: with one API call per pod, a typo such as `replicas: 10000`
# would flood the namespace with pods and the Redis with events before anyone notices, and a
# ResourceQuota is not always there to stop it. 100 standalone Redis servers behind one name is
# far beyond any real use; raising the bound later is a compatible change, lowering it is not,
# so we start low. It also caps ordinals at two digits.
MAX_REPLICAS = 100

# The tutorial's schema bounds, kept so its manifests mean the same; the CEL rule below adds the
# tutorial webhook's "at least 6379", on create and update alike.
PORT_SCHEMA_MINIMUM = 1234
PORT_SCHEMA_MAXIMUM = 54321
PORT_MINIMUM = 6379

# A DNS label (RFC 1123/1035) is at most 63 characters; the Service name must be a DNS-1035
# label (it must start with a letter), and each pod name `<name>-<ordinal>` is used as the pod's
# hostname, which must be a DNS-1123 label.
DNS_LABEL_MAX_LENGTH = 63
DNS1035_LABEL_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"

IMAGE_MAX_LENGTH = 512


def _image_reference_pattern() -> str:
    """The grammar of github.com/distribution/reference, anchored, in the RE2/Python subset.

    `[[:xdigit:]]` is spelled out so the same pattern compiles in Go (the apiserver) and Python
    (the tests).
    """
    alphanumeric = "[a-z0-9]+"
    separator = "(?:[._]|__|[-]+)"
    path_component = f"{alphanumeric}(?:{separator}{alphanumeric})*"
    domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    domain_name = rf"{domain_component}(?:\.{domain_component})*"
    host = rf"(?:{domain_name}|\[[a-fA-F0-9:]+\])"
    domain = f"{host}(?::[0-9]+)?"
    name = f"(?:{domain}/)?{path_component}(?:/{path_component})*"
    tag = r"[\w][\w.-]{0,127}"
    digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
    return f"^{name}(?::{tag})?(?:@{digest})?$"


IMAGE_PATTERN = _image_reference_pattern()

# CEL rules and their messages, named so tests and docs can refer to them.
# The image pattern is a CEL rule rather than the schema's `pattern` so that a rejection reads
# as a sentence rather than as this regular expression.
IMAGE_RULE = f"self.matches(r'{IMAGE_PATTERN}')"  # raw: in '...' CEL would take \\. for an escape
IMAGE_MESSAGE = (
    "must be a container image reference, e.g. redis:7-alpine or "
    "registry.example.com/team/redis:7@sha256:<digest>"
)
PORT_RULE = f"self >= {PORT_MINIMUM}"
PORT_MESSAGE = f"port must be at least {PORT_MINIMUM} (Redis' default port)"

NAME_LABEL_RULE = f"self.metadata.name.matches('{DNS1035_LABEL_PATTERN}')"
NAME_LABEL_MESSAGE = (
    "must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and "
    "ending with a letter or digit): it names the Service and the pods"
)
# Every pod name `<name>-<ordinal>` for ordinals 0..replicas-1 must fit in a DNS label; the
# longest is the last ordinal. With no replicas there are no pods, and the schema's maxLength
# on metadata.name covers the Service name.
NAME_LENGTH_RULE = (
    "self.spec.replicas == 0 || "
    f"size(self.metadata.name) + 1 + size(string(self.spec.replicas - 1)) <= {DNS_LABEL_MAX_LENGTH}"
)
# A static message: a messageExpression naming the would-be pod fails the apiserver's cost
# estimate, which cannot bound the length of string(int) and so of the concatenation.
NAME_LENGTH_MESSAGE = (
    f"too long for spec.replicas: every pod name <name>-<ordinal> (ordinals 0 to replicas-1) "
    f"must be at most {DNS_LABEL_MAX_LENGTH} characters"
)


# The grammar of a resource.Quantity, as controller-gen renders it for a CRD (anchored).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
QUANTITY_MAX_LENGTH = 64
# Bounds that keep the CEL rules' cost estimate within the apiserver's budget; far beyond use.
RESOURCE_NAMES_MAX = 16
NODE_SELECTOR_MAX = 32
TOLERATIONS_MAX = 32

QUANTITY_SIGN_RULE = (
    "!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))"
)
QUANTITY_SIGN_MESSAGE = "must not be negative"
# Extended resources are named <domain>/<name> outside kubernetes.io; they and hugepages cannot
# be overcommitted, so the apiserver wants a limit equal to each of their requests.
_EXTENDED = "(k.contains('/') && !k.contains('kubernetes.io/'))"
RESOURCE_NAME_RULE = (
    "self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'] "
    f"|| k.startsWith('hugepages-') || {_EXTENDED})"
)
RESOURCE_NAME_MESSAGE = (
    "resource names are cpu, memory, ephemeral-storage, hugepages-<size> or an extended "
    "resource <domain>/<name>"
)


def _quantity(expression: str) -> str:
    return f"quantity(string({expression}))"


def _request_within_limit(name: str) -> str:
    request, limit = f"self.requests[{name}]", f"self.limits[{name}]"
    return (
        f"!({name} in self.limits) || !isQuantity(string({request})) "
        f"|| !isQuantity(string({limit})) "
        f"|| !{_quantity(request)}.isGreaterThan({_quantity(limit)})"
    )


REQUESTS_RULE = (
    "!has(self.requests) || !has(self.limits) || "
    f"self.requests.all(k, {_request_within_limit('k')})"
)
REQUESTS_MESSAGE = "every request must be at most its limit (spec.resources.limits)"
NOT_OVERCOMMITTED_RULE = (
    "!has(self.requests) || self.requests.all(k, "
    f"!(k.startsWith('hugepages-') || {_EXTENDED}) || "
    "(has(self.limits) && k in self.limits && isQuantity(string(self.requests[k])) "
    "&& isQuantity(string(self.limits[k])) "
    f"&& {_quantity('self.requests[k]')}.compareTo({_quantity('self.limits[k]')}) == 0))"
)
NOT_OVERCOMMITTED_MESSAGE = (
    "a request of hugepages or of an extended resource needs a limit equal to it"
)

# A label key (a qualified name, with an optional DNS-subdomain prefix) and a label value, as
# the apiserver validates them in nodeSelector and tolerations.
LABEL_NAME = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY_PATTERN = f"^({LABEL_PREFIX}/)?{LABEL_NAME}$"
LABEL_VALUE_PATTERN = f"^({LABEL_NAME})?$"
LABEL_PREFIX_MAX_LENGTH = 253
LABEL_KEY_MAX_LENGTH = LABEL_PREFIX_MAX_LENGTH + 1 + DNS_LABEL_MAX_LENGTH


def _is_label_key(expression: str) -> str:
    return (
        f"{expression}.matches(r'{LABEL_KEY_PATTERN}') && "
        f"{expression}.indexOf('/') <= {LABEL_PREFIX_MAX_LENGTH}"
    )


LABEL_KEY_MESSAGE = (
    "must be a label key: an optional DNS subdomain prefix and '/', then a name of at most 63 "
    "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
)
LABEL_VALUE_MESSAGE = (
    "must be a label value: empty, or at most 63 alphanumerics, '-', '_' or '.', starting and "
    "ending with an alphanumeric"
)
NODE_SELECTOR_KEYS_RULE = f"self.all(k, {_is_label_key('k')})"
NODE_SELECTOR_KEYS_MESSAGE = f"every key {LABEL_KEY_MESSAGE}"
LABEL_VALUE_RULE = f"self.matches(r'{LABEL_VALUE_PATTERN}')"
TOLERATION_KEY_RULE = _is_label_key("self")

TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_EMPTY_KEY_RULE = (
    "(has(self.key) && size(self.key) > 0) || (has(self.operator) && self.operator == 'Exists')"
)
TOLERATION_EMPTY_KEY_MESSAGE = (
    "operator must be Exists when key is empty (which tolerates every taint)"
)
TOLERATION_EXISTS_RULE = (
    "!(has(self.operator) && self.operator == 'Exists') "
    "|| !has(self.value) || size(self.value) == 0"
)
TOLERATION_EXISTS_MESSAGE = "value must be empty when operator is Exists"
TOLERATION_SECONDS_RULE = (
    "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')"
)
TOLERATION_SECONDS_MESSAGE = "tolerationSeconds needs effect NoExecute"

Quantity = int | str
"""A resource quantity as written in the spec (`500m`, `1Gi`, `2`); the apiserver
canonicalises it when it stores the pod."""


def _expect(path: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{path}: expected {what}, got {value!r}")


def _mapping(path: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: expected an object, got {value!r}")
    for key in value:
        _expect(f"{path} key", key, str, "a string")
    return value


@dataclass(frozen=True)
class Resources:
    """A container's core/v1 ResourceRequirements: `requests` and `limits` by resource name."""

    requests: Mapping[str, Quantity] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    limits: Mapping[str, Quantity] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @classmethod
    def from_object(cls, value: object, path: str = "spec.resources") -> Resources:
        """Read a ResourceRequirements object; a value of the wrong type is a ValueError."""
        obj = _mapping(path, value)
        parts: dict[str, Mapping[str, Quantity]] = {}
        for part in ("requests", "limits"):
            amounts = _mapping(f"{path}.{part}", obj.get(part) or {})
            for name, amount in amounts.items():
                _expect(f"{path}.{part}.{name}", amount, (int, str), "a quantity")
            parts[part] = MappingProxyType(dict(amounts))
        return cls(**parts)

    def to_object(self) -> dict[str, dict[str, Quantity]]:
        """The ResourceRequirements JSON; an empty part is left out, as the apiserver does."""
        parts = {"requests": self.requests, "limits": self.limits}
        return {part: dict(amounts) for part, amounts in parts.items() if amounts}


@dataclass(frozen=True)
class Toleration:
    """A core/v1 Toleration; an empty string is a field left out (`operator` "" is Equal)."""

    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    @classmethod
    def from_object(cls, value: object, path: str) -> Toleration:
        """Read a Toleration object; a field of the wrong type is a ValueError."""
        obj = _mapping(path, value)
        strings: dict[str, str] = {}
        for name in ("key", "operator", "value", "effect"):
            text = obj.get(name, "")
            _expect(f"{path}.{name}", text, str, "a string")
            strings[name] = text
        seconds = obj.get("tolerationSeconds")
        if seconds is not None:
            _expect(f"{path}.tolerationSeconds", seconds, int, "an integer")
        return cls(**strings, toleration_seconds=seconds)

    def to_object(self) -> dict[str, str | int]:
        """The Toleration JSON, without the fields left out."""
        obj: dict[str, str | int] = {
            name: text
            for name, text in (
                ("key", self.key),
                ("operator", self.operator),
                ("value", self.value),
                ("effect", self.effect),
            )
            if text
        }
        if self.toleration_seconds is not None:
            obj["tolerationSeconds"] = self.toleration_seconds
        return obj


def _tolerations(value: object) -> tuple[Toleration, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"spec.tolerations: expected a list, got {value!r}")
    return tuple(Toleration.from_object(t, f"spec.tolerations[{i}]") for i, t in enumerate(value))


def _node_selector(value: object) -> Mapping[str, str]:
    selector = _mapping("spec.nodeSelector", value)
    for key, label in selector.items():
        _expect(f"spec.nodeSelector.{key}", label, str, "a string")
    return MappingProxyType(dict(selector))


DEFAULT_RESOURCES = Resources(
    requests=MappingProxyType({"cpu": "50m", "memory": "64Mi"}),
    limits=MappingProxyType({"memory": "256Mi"}),
)
"""What a pod asks for when the spec has no `resources`: little CPU (Redis is one thread, mostly
idle), memory for a small data set, and a memory limit so that one Redis cannot starve its node.
It is the schema's default, so the apiserver writes it into each object: an operator upgrade
that changes it restarts no existing Redis."""


class Mode(StrEnum):
    """What the pods of a Redis are to each other."""

    STANDALONE = "standalone"
    """Independent servers (the tutorial's behaviour; also what an absent `spec.mode` means)."""

    REPLICATION = "replication"
    """One primary and replicas following it, with automatic failover (docs/replication.md)."""


MODE_RULE = (
    "(has(oldSelf.mode) ? oldSelf.mode : 'standalone') == "
    "(has(self.mode) ? self.mode : 'standalone')"
)
MODE_MESSAGE = (
    "spec.mode cannot be changed on an existing Redis: delete it and create it anew "
    "(the servers' data would not survive the change)"
)

DEFAULT_AUTH_KEY = "password"
"""The key of the password in the generated Secret, and the default key of a user's Secret."""

SECRET_KEY_PATTERN = "^[-._a-zA-Z0-9]+$"
SECRET_NAME_MAX_LENGTH = 253  # a DNS-1123 subdomain
SECRET_KEY_MAX_LENGTH = 253
AUTH_EXCLUSIVE_RULE = "!(has(self.secretRef) && has(self.disabled) && self.disabled)"
AUTH_EXCLUSIVE_MESSAGE = (
    "spec.auth: give secretRef (your own Secret) or disabled: true (no password), not both"
)


@dataclass(frozen=True)
class Auth:
    """Where the Redis password comes from: a Secret the operator generates (the default, no
    `spec.auth`), the user's own (`secret_name`, `key`), or nowhere (`disabled`)."""

    disabled: bool = False
    secret_name: str | None = None
    key: str = DEFAULT_AUTH_KEY

    @classmethod
    def from_object(cls, value: object) -> Auth:
        """Read `spec.auth`; a field of the wrong type is a ValueError naming it."""
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ValueError(f"spec.auth: expected object, got {value!r}")
        disabled = value.get("disabled", False)
        if not isinstance(disabled, bool):
            raise ValueError(f"spec.auth.disabled: expected bool, got {disabled!r}")
        ref = value.get("secretRef")
        if ref is None:
            return cls(disabled=disabled)
        if disabled:
            raise ValueError(AUTH_EXCLUSIVE_MESSAGE)
        if not isinstance(ref, Mapping):
            raise ValueError(f"spec.auth.secretRef: expected object, got {ref!r}")
        name, key = ref.get("name"), ref.get("key", DEFAULT_AUTH_KEY)
        for path, item in (("name", name), ("key", key)):
            if not isinstance(item, str) or not item:
                raise ValueError(f"spec.auth.secretRef.{path}: expected a name, got {item!r}")
        return cls(secret_name=name, key=key)


@dataclass(frozen=True)
class RedisSpec:
    """The desired state, with the CRD's defaults filled in for fields the object lacks.

    The apiserver applies the same defaults, so this only matters for objects that bypassed
    them (tests, objects read from an old storage version).
    """

    replicas: int = DEFAULT_REPLICAS
    port: int = DEFAULT_PORT
    image: str = DEFAULT_IMAGE
    resources: Resources = DEFAULT_RESOURCES
    node_selector: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    tolerations: tuple[Toleration, ...] = ()
    auth: Auth = Auth()
    mode: Mode = Mode.STANDALONE

    @classmethod
    def from_object(cls, redis: Mapping[str, Any]) -> RedisSpec:
        """Read `spec` from a Redis object dict; a field of the wrong type is a ValueError
        naming it."""
        spec: Mapping[str, Any] = redis.get("spec") or {}
        replicas = spec.get("replicas", DEFAULT_REPLICAS)
        port = spec.get("port", DEFAULT_PORT)
        image = spec.get("image", DEFAULT_IMAGE)
        for field_name, value, kind in (
            ("replicas", replicas, int),
            ("port", port, int),
            ("image", image, str),
        ):
            _expect(f"spec.{field_name}", value, kind, kind.__name__)
        resources = spec.get("resources")
        mode = spec.get("mode", Mode.STANDALONE.value)
        if mode not in {m.value for m in Mode}:
            raise ValueError(f"spec.mode: expected standalone or replication, got {mode!r}")
        return cls(
            replicas=replicas,
            port=port,
            image=image,
            resources=DEFAULT_RESOURCES if resources is None else Resources.from_object(resources),
            node_selector=_node_selector(spec.get("nodeSelector") or {}),
            tolerations=_tolerations(spec.get("tolerations") or ()),
            auth=Auth.from_object(spec.get("auth")),
            mode=Mode(mode),
        )


@dataclass(frozen=True)
class Redis:
    """The parts of a Redis object the operator reasons about: all the planner reads of it.

    Parsed once per reconcile pass; the object dict stays with the code that writes to the API.
    """

    name: str
    namespace: str
    uid: str
    generation: int
    deleting: bool
    spec: RedisSpec
    status: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """The object's status as read, a copy behind a read-only view: the memory the planner
    judges by (observedGeneration, targetReplicas, conditions), never changed in place."""

    @classmethod
    def from_object(cls, redis: Mapping[str, Any]) -> Redis:
        """Parse a Redis object dict as the apiserver returns it; a malformed spec is a
        ValueError (see `RedisSpec.from_object`)."""
        meta: Mapping[str, Any] = redis.get("metadata") or {}
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=str(meta.get("uid", "")),
            generation=int(meta.get("generation", 0)),
            deleting=is_being_deleted(redis),
            spec=RedisSpec.from_object(redis),
            status=MappingProxyType(copy.deepcopy(dict(redis.get("status") or {}))),
        )


def _rule(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """A CEL rule; with `field_path`, a refusal names that field rather than the object."""
    if field_path is None:
        return {"rule": rule, "message": message}
    return {"rule": rule, "message": message, "fieldPath": field_path}


def _quantities_schema(part: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"{part} by resource name, as in a container's resources.{part}.",
        "maxProperties": RESOURCE_NAMES_MAX,
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "maxLength": QUANTITY_MAX_LENGTH,
            "x-kubernetes-validations": [_rule(QUANTITY_SIGN_RULE, QUANTITY_SIGN_MESSAGE)],
        },
        "x-kubernetes-validations": [_rule(RESOURCE_NAME_RULE, RESOURCE_NAME_MESSAGE)],
    }


def _resources_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "The Redis container's resources (core/v1 ResourceRequirements). Absent: "
            "the default below; {} asks for nothing. A change replaces the pods one at a time."
        ),
        "default": DEFAULT_RESOURCES.to_object(),
        "properties": {
            "requests": _quantities_schema("requests"),
            "limits": _quantities_schema("limits"),
        },
        "x-kubernetes-validations": [
            _rule(REQUESTS_RULE, REQUESTS_MESSAGE, ".requests"),
            _rule(NOT_OVERCOMMITTED_RULE, NOT_OVERCOMMITTED_MESSAGE, ".requests"),
        ],
    }


def _node_selector_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "Labels a node must have to run the pods (the pods' nodeSelector). A change "
            "replaces the pods one at a time."
        ),
        "maxProperties": NODE_SELECTOR_MAX,
        "additionalProperties": {
            "type": "string",
            "maxLength": DNS_LABEL_MAX_LENGTH,
            "x-kubernetes-validations": [_rule(LABEL_VALUE_RULE, LABEL_VALUE_MESSAGE)],
        },
        "x-kubernetes-validations": [
            _rule(NODE_SELECTOR_KEYS_RULE, NODE_SELECTOR_KEYS_MESSAGE),
        ],
    }


def _toleration_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "key": {
                "type": "string",
                "maxLength": LABEL_KEY_MAX_LENGTH,
                "x-kubernetes-validations": [_rule(TOLERATION_KEY_RULE, LABEL_KEY_MESSAGE)],
            },
            "operator": {"type": "string", "enum": list(TOLERATION_OPERATORS)},
            "value": {
                "type": "string",
                "maxLength": DNS_LABEL_MAX_LENGTH,
                "x-kubernetes-validations": [_rule(LABEL_VALUE_RULE, LABEL_VALUE_MESSAGE)],
            },
            "effect": {"type": "string", "enum": list(TAINT_EFFECTS)},
            "tolerationSeconds": {"type": "integer", "format": "int64"},
        },
        "x-kubernetes-validations": [
            _rule(TOLERATION_EMPTY_KEY_RULE, TOLERATION_EMPTY_KEY_MESSAGE, ".operator"),
            _rule(TOLERATION_EXISTS_RULE, TOLERATION_EXISTS_MESSAGE, ".value"),
            _rule(TOLERATION_SECONDS_RULE, TOLERATION_SECONDS_MESSAGE, ".tolerationSeconds"),
        ],
    }


def _tolerations_schema() -> dict[str, Any]:
    return {
        "type": "array",
        "description": (
            "Taints the pods tolerate (core/v1 Toleration). A change replaces the pods one "
            "at a time."
        ),
        "maxItems": TOLERATIONS_MAX,
        "items": _toleration_schema(),
        "x-kubernetes-list-type": "atomic",
    }


def _auth_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "The Redis password. Absent: the operator generates one into the Secret "
            "<name>-auth (key password) and the pods require it."
        ),
        "properties": {
            "secretRef": {
                "type": "object",
                "description": "Your own Secret, in the Redis' namespace, holding the password.",
                "required": ["name"],
                "properties": {
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": SECRET_NAME_MAX_LENGTH,
                    },
                    "key": {
                        "type": "string",
                        "default": DEFAULT_AUTH_KEY,
                        "minLength": 1,
                        "maxLength": SECRET_KEY_MAX_LENGTH,
                        "pattern": SECRET_KEY_PATTERN,
                    },
                },
            },
            "disabled": {
                "type": "boolean",
                "description": "true: no password at all (any client on the network may connect).",
            },
        },
        "x-kubernetes-validations": [
            {"rule": AUTH_EXCLUSIVE_RULE, "message": AUTH_EXCLUSIVE_MESSAGE}
        ],
    }


def _spec_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The desired state of a Redis.",
        # An empty default makes the apiserver fill in the field defaults below even when the
        # object has no spec at all, so rules and the operator can rely on them.
        "default": {},
        "properties": {
            "replicas": {
                "type": "integer",
                "format": "int32",
                "description": "Number of Redis pods, named <name>-0 .. <name>-<replicas-1>.",
                "default": DEFAULT_REPLICAS,
                "minimum": 0,
                "maximum": MAX_REPLICAS,
            },
            "port": {
                "type": "integer",
                "format": "int32",
                "description": "Port Redis listens on, in every pod and on the Service.",
                "default": DEFAULT_PORT,
                "minimum": PORT_SCHEMA_MINIMUM,
                "maximum": PORT_SCHEMA_MAXIMUM,
                "x-kubernetes-validations": [{"rule": PORT_RULE, "message": PORT_MESSAGE}],
            },
            "image": {
                "type": "string",
                "description": "Container image reference, e.g. redis:7-alpine.",
                "default": DEFAULT_IMAGE,
                "minLength": 1,
                "maxLength": IMAGE_MAX_LENGTH,
                "x-kubernetes-validations": [{"rule": IMAGE_RULE, "message": IMAGE_MESSAGE}],
            },
            "resources": _resources_schema(),
            "nodeSelector": _node_selector_schema(),
            "tolerations": _tolerations_schema(),
            "auth": _auth_schema(),
            "mode": {
                "type": "string",
                "description": (
                    "standalone (absent: the same): independent servers; replication: one "
                    "primary, replicas following it, automatic failover. Fixed at creation."
                ),
                "enum": [m.value for m in Mode],
            },
        },
        "x-kubernetes-validations": [
            {"rule": MODE_RULE, "message": MODE_MESSAGE, "fieldPath": ".mode"}
        ],
    }


def _condition_schema() -> dict[str, Any]:
    """metav1.Condition, as controller-gen renders it from the upstream markers."""
    return {
        "type": "object",
        "required": ["type", "status", "lastTransitionTime", "reason", "message"],
        "properties": {
            "type": {
                "type": "string",
                "maxLength": 316,
                "pattern": (
                    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                ),
            },
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            },
            "message": {"type": "string", "maxLength": 32768},
        },
    }


def _status_schema() -> dict[str, Any]:
    count = {"type": "integer", "format": "int32", "minimum": 0}
    return {
        "type": "object",
        "description": "The observed state of a Redis, written by the operator.",
        "properties": {
            "replicas": count | {"description": "Pods that exist and are owned by this Redis."},
            "readyReplicas": count | {"description": "Owned pods that are Ready."},
            "selector": {
                "type": "string",
                "description": "Label selector of the pods, for the scale subresource.",
            },
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The metadata.generation this status was computed for.",
            },
            "targetReplicas": count
            | {
                "description": (
                    "spec.replicas as of observedGeneration: the count the operator last acted "
                    "on, so that a change is announced once as a scale-up or a scale-down."
                )
            },
            "primary": {
                "type": "string",
                "description": "Replication mode: the pod labelled primary.",
            },
            "lastFailoverTime": {
                "type": "string",
                "format": "date-time",
                "description": "Replication mode: when a replica was last promoted.",
            },
            "primaryLostSince": {
                "type": "string",
                "format": "date-time",
                "description": (
                    "Replication mode: since when the primary has not answered (the failover "
                    "clock, kept here so that a restarted operator resumes it)."
                ),
            },
            "replication": {
                "type": "array",
                "description": "Replication mode: each replica's link to the primary.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["pod"],
                "items": {
                    "type": "object",
                    "required": ["pod", "link"],
                    "properties": {
                        "pod": {"type": "string"},
                        "link": {"type": "string", "enum": ["up", "down", "unknown"]},
                        "lagBytes": {"type": "integer", "format": "int64", "minimum": 0},
                    },
                },
            },
            "conditions": {
                "type": "array",
                "items": _condition_schema(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def crd() -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of Redis."""
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            # At the root only name and generateName may be constrained. maxLength bounds the
            # cost of the CEL rules on the name (the apiserver uses this schema for them only
            # when both are declared as strings).
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": DNS_LABEL_MAX_LENGTH},
                    "generateName": {"type": "string"},
                },
            },
            "spec": _spec_schema(),
            "status": _status_schema(),
        },
        "x-kubernetes-validations": [
            {
                "rule": NAME_LABEL_RULE,
                "message": NAME_LABEL_MESSAGE,
                "fieldPath": ".metadata.name",
                "reason": "FieldValueInvalid",
            },
            {
                "rule": NAME_LENGTH_RULE,
                "message": NAME_LENGTH_MESSAGE,
                "fieldPath": ".metadata.name",
                "reason": "FieldValueInvalid",
            },
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "redis-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Current", "type": "integer", "jsonPath": ".status.replicas"},
                        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
                        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                        {"name": "Port", "type": "integer", "jsonPath": ".spec.port"},
                        {"name": "Primary", "type": "string", "jsonPath": ".status.primary"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }
