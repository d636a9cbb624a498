"""The committed deploy/ files are what the code generates; RBAC is least privilege."""

from __future__ import annotations

from pathlib import Path

import yaml

from redis_operator import api
from redis_operator.manifests import cluster_role, render_manifests, write_manifests

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_committed_deploy_files_are_up_to_date() -> None:
    stale = [
        name
        for name, text in render_manifests().items()
        if not (DEPLOY / name).is_file() or (DEPLOY / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, (
        f"deploy/ differs from the code for {stale}: run `redis-operator manifests --write` "
        "and commit the result"
    )


def test_write_manifests(tmp_path: Path) -> None:
    written = write_manifests(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(render_manifests())
    assert (tmp_path / "samples" / "redis.yaml").is_file()


def test_manifests_parse_and_the_crd_round_trips() -> None:
    files = render_manifests()
    assert yaml.safe_load(files["crd.yaml"]) == api.crd()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(files["rbac.yaml"])]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert all(resource in files for resource in kustomization["resources"])


def test_sample_is_the_tutorials() -> None:
    assert yaml.safe_load(render_manifests()["samples/redis.yaml"]) == {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": "my-op-redis"},
        "spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333},
    }


def test_cluster_role_grants_exactly_what_is_used() -> None:
    granted = {
        (group, resource, verb)
        for rule in cluster_role()["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {
        *(("myapp.tangx.in", "redis", v) for v in ("get", "list", "watch", "patch")),
        *(("myapp.tangx.in", "redis/status", v) for v in ("get", "patch", "update")),
        ("myapp.tangx.in", "redis/finalizers", "update"),
        *(("", "pods", v) for v in ("get", "list", "watch", "create", "delete")),
        *(("", "services", v) for v in ("get", "list", "watch", "create", "delete", "patch")),
        *(("", "events", v) for v in ("create", "patch", "list")),
        *(("events.k8s.io", "events", v) for v in ("create", "patch")),
        *(("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")),
        *(("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")),
        *(("", "namespaces", v) for v in ("list", "watch")),
    }
    assert granted == expected
    assert not any("*" in str(rule) for rule in cluster_role()["rules"])
