"""The children of a Redis: its pods `<name>-<ordinal>`, its headless Service `<name>` (and in
replication mode `<name>-primary` and `<name>-replicas`), and the Secret `<name>-auth` of a
generated password (its body is `auth.generated_secret`'s).

Everything here builds or inspects plain object dicts, from the typed `Redis` the reconciler
parses once per pass; what to do with them is planning's job.
Drift is detected by comparing the fields we set (image, port, command) directly with the live
pod, rather than through a template hash: it also catches `kubectl set image` on a pod, and an
operator upgrade that changes, say, the probe does not restart every Redis. Resources,
nodeSelector and tolerations are compared through the pod's `SETTINGS_ANNOTATION` instead: the
apiserver's admission plugins change them in the pod it stores (DefaultTolerationSeconds adds
tolerations, LimitRanger adds requests and limits, a RuntimeClass adds both), so comparing the
pod's own fields would find drift in every pod, forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from redis_operator.api import (
    API_VERSION,
    GROUP,
    KIND,
    Auth,
    Mode,
    Redis,
    RedisSpec,
    is_being_deleted,
)

CONTAINER_NAME = "redis"
PORT_NAME = "redis"
MANAGED_BY = "redis-operator"

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

SETTINGS_ANNOTATION = f"{GROUP}/resources-and-placement"
"""On each pod: the spec's resources, nodeSelector and tolerations it was created from, as
`pod_settings` writes them; a pod without it (or with another value) is replaced."""

# Pods in these phases never run again (restartPolicy Always only ends there on eviction,
# node shutdown and the like), yet keep their name until garbage-collected.
FINISHED_PHASES = frozenset({"Failed", "Succeeded"})


def pod_name(redis_name: str, ordinal: int) -> str:
    """The name (and hostname) of the pod with this ordinal."""
    return f"{redis_name}-{ordinal}"


def ordinal_of(pod_name: str, redis_name: str) -> int | None:
    """The ordinal if `pod_name` is `<redis_name>-<ordinal>` in canonical decimal, else None.

    `foo-01` and `foo-1-0` are not children of `foo`, so no two Redis claim the same name.
    """
    prefix = f"{redis_name}-"
    if not pod_name.startswith(prefix):
        return None
    suffix = pod_name[len(prefix) :]
    if not suffix.isascii() or not suffix.isdigit() or str(int(suffix)) != suffix:
        return None
    return int(suffix)


def redis_name_of(pod_name: str) -> str | None:
    """The Redis whose child name `pod_name` is (`<redis>-<ordinal>`), or None."""
    base = pod_name.rpartition("-")[0]
    return base if base and ordinal_of(pod_name, base) is not None else None


def selector_labels(redis_name: str) -> dict[str, str]:
    """Labels that select exactly this Redis' pods (Service selector and status.selector).

    `managed-by` is part of it because a Helm release of the same name (e.g. Bitnami's redis
    chart) labels its pods with the same `name` and `instance`.
    """
    return {
        INSTANCE_LABEL: redis_name,
        MANAGED_BY_LABEL: MANAGED_BY,
        NAME_LABEL: "redis",
    }


def labels(redis_name: str) -> dict[str, str]:
    """All labels of a child: the tutorial's `app` plus the recommended ones."""
    return {"app": redis_name} | selector_labels(redis_name)


def selector_string(redis_name: str) -> str:
    """The selector in the `k=v,k=v` form the scale subresource and HPA read from status."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(redis_name).items()))


def owner_reference(redis: Redis) -> dict[str, Any]:
    """A controller reference, so garbage collection and `kubectl` see the ownership."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": redis.name,
        "uid": redis.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(redis: Redis, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": redis.namespace,
        "labels": labels(redis.name),
        "ownerReferences": [owner_reference(redis)],
    }


def pod_settings(spec: RedisSpec) -> str:
    """The spec's resources, nodeSelector and tolerations as one canonical JSON text.

    Written as given (`0.5` and `500m` differ), so any change of these fields in the spec is a
    change of the text.
    """
    settings = {
        "resources": spec.resources.to_object(),
        "nodeSelector": dict(spec.node_selector),
        "tolerations": [t.to_object() for t in spec.tolerations],
    }
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


AUTH_VOLUME = "auth"
AUTH_DIR = "/etc/redis-auth"
AUTH_FILE = "password"
CONFIG_VOLUME = "config"
CONFIG_DIR = "/run/redis"
SECRET_MODE = 0o400

ROLE_LABEL = f"{GROUP}/role"
"""Replication mode: `primary` on the one pod the operator made primary, `replica` on the
others (docs/replication.md); the operator keeps it current."""
PRIMARY_ROLE = "primary"
REPLICA_ROLE = "replica"

NO_PRIMARY = ("127.0.0.1", "1")
"""Replication mode: every Redis starts as a replica of this address, where nothing listens,
so a pod that (re)starts never serves as a second primary; the operator points it at the
primary, or promotes it."""

# The container writes its redis.conf from the mounted password with shell builtins only
# (`read`, `printf`: no child process, so no argv anywhere holds it) and execs redis-server on
# that file; $1 is the port, $2 an extra line (replication mode: `replicaof ...`). See
# docs/replication.md#how-the-password-reaches-redis-server.
SERVER_SCRIPT = (
    f'set -e; read -r password < {AUTH_DIR}/{AUTH_FILE} || [ -n "$password" ]; umask 077; '
    """printf 'port %s\nrequirepass "%s"\nmasterauth "%s"\n%s\n' """
    '"$1" "$password" "$password" "$2" '
    f"> {CONFIG_DIR}/redis.conf; exec redis-server {CONFIG_DIR}/redis.conf"
)
# The readiness probe hands the password to redis-cli in REDISCLI_AUTH (`-a` would put it on
# argv); $1 is the port.
PROBE_SCRIPT = (
    f"set -e; read -r REDISCLI_AUTH < {AUTH_DIR}/{AUTH_FILE} || "
    '[ -n "$REDISCLI_AUTH" ]; export REDISCLI_AUTH; [ "$(redis-cli -p "$1" PING)" = PONG ]'
)
# Replication mode: Ready when serving as the primary or linked to one (a pod starts as a
# replica of NO_PRIMARY, so it is Ready only once the operator promoted or attached it); the
# password, when mounted, in REDISCLI_AUTH.
REPLICATION_PROBE_SCRIPT = (
    f"if [ -e {AUTH_DIR}/{AUTH_FILE} ]; then read -r REDISCLI_AUTH < {AUTH_DIR}/{AUTH_FILE} "
    '|| [ -n "$REDISCLI_AUTH" ]; export REDISCLI_AUTH; fi; '
    'info="$(redis-cli -p "$1" INFO replication)" || exit 1; '
    'case "$info" in *role:master*|*master_link_status:up*) exit 0;; esac; exit 1'
)


AUTH_SECRET_LABEL = f"{GROUP}/redis-auth"
"""On every Secret the operator reads a password from: the generated `<name>-auth` carries it
(the Redis' name as value), a user's own Secret must be given it (any value). The operator
watches only Secrets with this label, never the cluster's others."""

AUTH_DIGEST_ANNOTATION = f"{GROUP}/auth-digest"
"""On each pod with a password: `auth.password_digest` of the password it started with (a
keyed hash, never the value); a pod whose digest differs from the Secret's is replaced."""


def auth_secret_name(redis_name: str) -> str:
    """The name of the Secret the operator generates for a Redis without `spec.auth`."""
    return f"{redis_name}-auth"


def auth_secret(redis: Redis) -> tuple[str, str] | None:
    """The Secret and key holding the Redis' password, or None when auth is disabled."""
    return secret_of_auth(redis.name, redis.spec.auth)


def secret_of_auth(redis_name: str, auth: Auth) -> tuple[str, str] | None:
    """The Secret and key holding the password of the Redis ``redis_name`` whose `spec.auth`
    is ``auth``, or None when auth is disabled."""
    if auth.disabled:
        return None
    if auth.secret_name is None:
        return auth_secret_name(redis_name), auth.key
    return auth.secret_name, auth.key


def _auth_volumes(secret: tuple[str, str]) -> list[dict[str, Any]]:
    name, key = secret
    return [
        {
            "name": AUTH_VOLUME,
            "secret": {
                "secretName": name,
                "items": [{"key": key, "path": AUTH_FILE}],
                "defaultMode": SECRET_MODE,
            },
        },
        {"name": CONFIG_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]


def _auth_mounts() -> list[dict[str, Any]]:
    return [
        {"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True},
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR},
    ]


def container_command(redis: Redis) -> list[str]:
    """The container command: `redis_command` without a password, else the script that
    writes redis.conf from the mounted Secret; in replication mode starting as a replica of
    `NO_PRIMARY`."""
    port = str(redis.spec.port)
    replicating = redis.spec.mode is Mode.REPLICATION
    if auth_secret(redis) is None:
        extra = ["--replicaof", *NO_PRIMARY] if replicating else []
        return [*redis_command(redis.spec.port), *extra]
    extra_line = [f"replicaof {' '.join(NO_PRIMARY)}"] if replicating else []
    return ["sh", "-c", SERVER_SCRIPT, "redis-server", port, *extra_line]


def _readiness_probe(redis: Redis) -> dict[str, Any]:
    port = str(redis.spec.port)
    if redis.spec.mode is Mode.REPLICATION:
        command = ["sh", "-c", REPLICATION_PROBE_SCRIPT, "probe", port]
    elif auth_secret(redis) is None:
        return {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 5}
    else:
        command = ["sh", "-c", PROBE_SCRIPT, "probe", port]
    # Every second in replication mode: readiness is what moves a Service after a failover.
    period = 1 if redis.spec.mode is Mode.REPLICATION else 5
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 2}


def redis_command(port: int) -> list[str]:
    """The container command: without `--port`, Redis would listen on 6379 whatever the spec.

    Protected mode (on without a password) answers `-DENIED` to every client not on the pod's
    own loopback: it is off until the Redis gets a password.
    """
    return ["redis-server", "--port", str(port), "--protected-mode", "no"]


def desired_pod(redis: Redis, ordinal: int, auth_digest: str | None = None) -> dict[str, Any]:
    """The pod with this ordinal as the Redis' spec wants it; `auth_digest`: the password's
    (`AUTH_DIGEST_ANNOTATION`), None while the Secret is not seen."""
    name = pod_name(redis.name, ordinal)
    spec = redis.spec
    pod_spec: dict[str, Any] = {
        # With the headless Service as subdomain, each pod gets a stable DNS name
        # <pod>.<redis>.<namespace>.svc.
        "hostname": name,
        "subdomain": redis.name,
        "containers": [
            {
                "name": CONTAINER_NAME,
                "image": spec.image,
                "command": container_command(redis),
                "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
                "readinessProbe": _readiness_probe(redis),
                "resources": spec.resources.to_object(),
            }
        ],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_object() for t in spec.tolerations]
    secret = auth_secret(redis)
    if secret is not None:
        pod_spec["containers"][0]["volumeMounts"] = _auth_mounts()
        pod_spec["volumes"] = _auth_volumes(secret)
    annotations = {SETTINGS_ANNOTATION: pod_settings(spec)}
    if secret is not None and auth_digest is not None:
        annotations[AUTH_DIGEST_ANNOTATION] = auth_digest
    metadata = _metadata(redis, name) | {"annotations": annotations}
    if spec.mode is Mode.REPLICATION:
        metadata["labels"][ROLE_LABEL] = REPLICA_ROLE
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _service_ports(port: int) -> list[dict[str, Any]]:
    return [{"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}]


def desired_service(redis: Redis) -> dict[str, Any]:
    """The headless Service that gives the pods DNS names."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(redis, redis.name),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(redis.name),
            "ports": _service_ports(redis.spec.port),
        },
    }


def primary_service_name(redis_name: str) -> str:
    """Replication mode: the Service selecting the primary only (the write address)."""
    return f"{redis_name}-primary"


def replicas_service_name(redis_name: str) -> str:
    """Replication mode: the Service selecting the replicas (read-only traffic)."""
    return f"{redis_name}-replicas"


def role_service_names(redis_name: str) -> tuple[str, str]:
    """The names of the role Services, primary's first."""
    return primary_service_name(redis_name), replicas_service_name(redis_name)


def desired_role_services(redis: Redis) -> list[dict[str, Any]]:
    """Replication mode: `<name>-primary` and `<name>-replicas`, ClusterIP Services selecting
    the pods by role label (the operator moves the label on failover); none in standalone."""
    if redis.spec.mode is not Mode.REPLICATION:
        return []
    roles = zip(role_service_names(redis.name), (PRIMARY_ROLE, REPLICA_ROLE), strict=True)
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(redis, name),
            "spec": {
                "selector": selector_labels(redis.name) | {ROLE_LABEL: role},
                "ports": _service_ports(redis.spec.port),
            },
        }
        for name, role in roles
    ]


def service_patch(
    service: Mapping[str, Any], redis: Redis, desired: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """A JSON merge patch (RFC 7386) bringing an owned Service's ports and selector back to the
    spec (`desired`, default the headless Service), or None when they match.

    Merge patch replaces the ports list whole (a strategic merge would add a port rather than
    change it); selector keys someone added are removed with explicit nulls.
    """
    spec: Mapping[str, Any] = service.get("spec") or {}
    want = desired_service(redis) if desired is None else desired
    want_selector = dict(want["spec"]["selector"])
    want_ports = _service_ports(redis.spec.port)
    have_selector: Mapping[str, Any] = spec.get("selector") or {}
    patch: dict[str, Any] = {}
    if dict(have_selector) != want_selector:
        patch["selector"] = {key: None for key in have_selector} | want_selector
    if spec.get("ports") != want_ports:
        patch["ports"] = want_ports
    return {"spec": patch} if patch else None


def controller_reference(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object's controller reference if its controller is a Redis, else None.

    A Redis is recognised by group and kind, whatever the version (controller-runtime's
    EnqueueRequestForOwner does the same), so a later API version keeps its children.
    """
    references: list[Mapping[str, Any]] = (obj.get("metadata") or {}).get("ownerReferences") or []
    for ref in references:
        if (
            ref.get("controller") is True
            and ref.get("kind") == KIND
            and str(ref.get("apiVersion", "")).partition("/")[0] == GROUP
        ):
            return ref
    return None


def controller_name(obj: Mapping[str, Any]) -> str | None:
    """The name of the Redis that controls the object, or None."""
    ref = controller_reference(obj)
    return None if ref is None else str(ref.get("name", ""))


def is_owned_by(child: Mapping[str, Any], redis_uid: str) -> bool:
    """Whether the child belongs to the Redis with this uid: its controller is a Redis with
    that uid.

    The one ownership rule: the planner acts only on such children, the webhook warns about
    the others, and the watch handler queues the Redis a child names as its controller. By uid,
    so the planner (a typed `Redis`) and the webhook (an admission object) judge alike.
    """
    ref = controller_reference(child)
    return ref is not None and ref.get("uid") == redis_uid


def is_finished(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has stopped for good (phase Failed or Succeeded)."""
    return (pod.get("status") or {}).get("phase") in FINISHED_PHASES


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod serves: condition Ready is True and it is not going away."""
    if is_being_deleted(pod):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _volume_secret(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Secret and key the pod's auth volume mounts, or None."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    volume = next((v for v in volumes if v.get("name") == AUTH_VOLUME), None)
    source = None if volume is None else volume.get("secret")
    if not source:
        return None
    items = source.get("items") or [{}]
    return str(source.get("secretName", "")), str(items[0].get("key", ""))


def password_changed(pod: Mapping[str, Any], auth_digest: str | None) -> bool:
    """Whether the pod started with another password than the Secret now holds.

    Not judged while the Secret is not seen (`auth_digest` None), nor for a pod without the
    annotation (created by an earlier version: replacing every pod on an upgrade would lose
    their data for nothing).
    """
    annotations: Mapping[str, Any] = (pod.get("metadata") or {}).get("annotations") or {}
    have = annotations.get(AUTH_DIGEST_ANNOTATION)
    return auth_digest is not None and have is not None and have != auth_digest


def pod_matches_spec(pod: Mapping[str, Any], redis: Redis, auth_digest: str | None = None) -> bool:
    """Whether the pod runs what the spec says: the image, Redis on the spec's port, the
    password from the spec's Secret (or none) as it is now (`password_changed`), and the
    resources and placement it was created with (its `SETTINGS_ANNOTATION`)."""
    spec = redis.spec
    annotations: Mapping[str, Any] = (pod.get("metadata") or {}).get("annotations") or {}
    if annotations.get(SETTINGS_ANNOTATION) != pod_settings(spec):
        return False
    if password_changed(pod, auth_digest):
        return False
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c.get("name") == CONTAINER_NAME), None)
    if container is None:
        return False
    ports = [
        p.get("containerPort") for p in container.get("ports") or [] if p.get("name") == PORT_NAME
    ]
    return (
        container.get("image") == spec.image
        and container.get("command") == container_command(redis)
        and ports == [spec.port]
        and _volume_secret(pod) == auth_secret(redis)
    )
