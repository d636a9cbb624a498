"""The deploy manifests, generated from code: the source of truth for `deploy/`.

`redis-operator manifests --write` calls `write_manifests`; a unit test fails when the committed
files differ from `render_manifests()`, so the CRD and RBAC never drift from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from redis_operator import api

NAMESPACE = "redis-operator-system"
NAME = "redis-operator"
LABELS = {"app.kubernetes.io/name": NAME}

HEADER = (
    "# Generated from src/redis_operator/manifests.py by `redis-operator manifests --write`.\n"
    "# Do not edit: change the code and regenerate.\n"
)


def namespace() -> dict[str, Any]:
    """The namespace the operator runs in."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": LABELS},
    }


def service_account() -> dict[str, Any]:
    """The identity the operator's pod runs as."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
    }


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def cluster_role() -> dict[str, Any]:
    """Exactly what the operator (and kopf under it) calls, in every namespace it serves."""
    rules = [
        # Watch Redis; kopf patches it (finalizer, annotations); status via its subresource.
        _rule(api.GROUP, [api.PLURAL], ["get", "list", "watch", "patch"]),
        _rule(api.GROUP, [f"{api.PLURAL}/status"], ["get", "patch", "update"]),
        # Children carry blockOwnerDeletion: true, which the OwnerReferencesPermissionEnforcement
        # admission plugin allows only to those who may update the owner's finalizers.
        _rule(api.GROUP, [f"{api.PLURAL}/finalizers"], ["update"]),
        _rule("", ["pods"], ["get", "list", "watch", "create", "delete"]),
        # patch: a Service whose port or selector drifted is patched back.
        _rule("", ["services"], ["get", "list", "watch", "create", "delete", "patch"]),
        # Events: created, then patched as they repeat; listed to resume counts after a restart.
        _rule("", ["events"], ["create", "patch", "list"]),
        _rule("events.k8s.io", ["events"], ["create", "patch"]),
        # Leader election.
        _rule("coordination.k8s.io", ["leases"], ["get", "create", "update"]),
        # kopf: discovers and watches CRDs (scanning), and resolves namespace patterns when not
        # cluster-wide; without these it falls back with warnings.
        _rule("apiextensions.k8s.io", ["customresourcedefinitions"], ["list", "watch"]),
        _rule("", ["namespaces"], ["list", "watch"]),
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": LABELS},
        "rules": rules,
    }


def cluster_role_binding() -> dict[str, Any]:
    """Grants the ClusterRole to the operator's ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": LABELS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def sample_redis() -> dict[str, Any]:
    """The tutorial's sample, unchanged."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "my-op-redis"},
        "spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333},
    }


def kustomization() -> dict[str, Any]:
    """`kubectl apply -k deploy/` installs everything but the sample."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["namespace.yaml", "crd.yaml", "rbac.yaml"],
    }


def _dump(*documents: dict[str, Any]) -> str:
    # A wide line keeps CEL rules and patterns on one line, as written in the code.
    body = yaml.safe_dump_all(
        documents, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
    return HEADER + body


def render_manifests() -> dict[str, str]:
    """Each file of `deploy/`, by path relative to it, with its YAML text."""
    return {
        "namespace.yaml": _dump(namespace()),
        "crd.yaml": _dump(api.crd()),
        "rbac.yaml": _dump(service_account(), cluster_role(), cluster_role_binding()),
        "kustomization.yaml": _dump(kustomization()),
        "samples/redis.yaml": _dump(sample_redis()),
    }


def write_manifests(directory: Path) -> list[Path]:
    """Write `render_manifests()` under `directory`; returns the paths written."""
    written = []
    for relative, text in render_manifests().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
