"""Taking things away: a namespace deleted under the operator, deletion without the operator,
and the finalizer of earlier versions released (docs/redis-api.md, Deletion).

Writes are counted in the apiserver's audit log, filtered by the operator's user name.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from kubernetes_asyncio import client

from devcluster.cluster import DevCluster
from redis_operator.api import LEGACY_FINALIZER, ChildKind
from redis_operator.kube.client import JsonKubeApi
from redis_operator.kube.errors import ApiError, is_namespace_terminating
from tests.e2e.operator import OPERATOR_USER, REPO, Start, install_deploy
from tests.e2e.redis_objects import ordinals, pods, redis, wait_ready_pods
from tests.support.kube import AuditLog, Kubectl, wait_for

pytestmark = pytest.mark.e2e


def _gone(kubectl: Kubectl, *what: str) -> bool:
    return kubectl.run("get", *what, check=False).returncode != 0


def _quiet(audit: AuditLog) -> int:
    """Wait until the operator has written nothing for 3 s; the audit offset then."""
    since = audit.offset()
    while True:
        time.sleep(3)
        if not audit.writes(OPERATOR_USER, since):
            return audit.offset()
        since = audit.offset()


def _hold_finalizer(kubectl: Kubectl, namespace: str, kind: str, name: str) -> None:
    patch = json.dumps({"metadata": {"finalizers": [LEGACY_FINALIZER]}})
    kubectl("patch", kind, name, "-n", namespace, "--type=merge", "-p", patch)


async def test_the_apiserver_refuses_creates_in_a_terminating_namespace_with_the_cause(
    api: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    """The Status the reconciler recognises, as kube-apiserver sends it."""
    # A ConfigMap with a finalizer holds the namespace in Terminating while we look.
    kubectl("create", "configmap", "hold", "-n", namespace)
    patch = json.dumps({"metadata": {"finalizers": ["example.com/hold"]}})
    kubectl("patch", "configmap", "hold", "-n", namespace, "--type=merge", "-p", patch)
    kubectl("delete", "namespace", namespace, "--wait=false")
    kube = JsonKubeApi(api)
    body = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "redis", "image": "redis:5-alpine"}]},
    }
    refused: ApiError | None = None
    for attempt in range(50):  # the admission plugin's namespace cache follows within moments
        try:
            await kube.create(
                ChildKind.POD, namespace, body | {"metadata": {"name": f"p{attempt}"}}
            )
        except ApiError as exc:
            refused = exc
            break
        await asyncio.sleep(0.1)
    assert refused is not None, "no create was refused in the terminating namespace"
    assert is_namespace_terminating(refused), (refused.status, refused.details)
    assert (refused.status, refused.reason) == (403, "Forbidden")
    assert f"unable to create new content in namespace {namespace}" in refused.message
    assert list(refused.causes) == [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {namespace} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    kubectl(
        "patch",
        "configmap",
        "hold",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata": {"finalizers": null}}',
    )
    wait_for(lambda: _gone(kubectl, "namespace", namespace), f"namespace {namespace} gone", 60)


def test_a_namespace_deleted_under_the_operator_is_not_fought(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    start_operator()
    names = [f"r{i}" for i in range(10)]
    for name in names:
        kubectl.apply(redis(name=name, replicas=3), "-n", namespace)
    wanted = set().union(*(ordinals(3, name) for name in names))
    wait_ready_pods(kubectl, namespace, wanted, timeout=120)

    def statuses_done() -> bool:
        items = kubectl.json("get", "redis", "-n", namespace)["items"]
        return len(items) == 10 and all(
            (r.get("status") or {}).get("readyReplicas") == 3 for r in items
        )

    wait_for(statuses_done, "every Redis' status saying 3 ready", 60)
    since = _quiet(audit)

    kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(lambda: _gone(kubectl, "namespace", namespace), f"namespace {namespace} gone", 120)
    time.sleep(2)  # the last answers reach the audit log
    there = [
        e
        for e in audit.writes(OPERATOR_USER, since)
        if (e.get("objectRef") or {}).get("namespace") == namespace
    ]
    summary = [
        f"{e['verb']} {e['requestURI']} {(e.get('responseStatus') or {}).get('code')}"
        for e in there
    ]
    print(f"operator writes in the namespace once its deletion began: {len(there)}", summary)
    refused = [
        e
        for e in there
        if e["verb"] == "create" and (e.get("responseStatus") or {}).get("code") == 403
    ]
    status = [e for e in there if (e.get("objectRef") or {}).get("subresource") == "status"]
    assert len(refused) <= 10, summary  # 30 pods; the Go operator's storm was thousands
    assert len(status) <= 5, summary


def test_without_the_operator_a_namespace_with_a_redis_goes(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    operator = start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    operator.stop()  # uninstalled, or just down
    kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(lambda: _gone(kubectl, "namespace", namespace), f"namespace {namespace} gone", 30)


def test_the_legacy_finalizer_is_released_and_deletion_does_not_hang(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    # Objects as the previous version left them: one live, one whose deletion it held.
    kubectl.apply(redis(), "-n", namespace)
    kubectl.apply(redis(name="held", replicas=1), "-n", namespace)
    for name in ("my-op-redis", "held"):
        _hold_finalizer(kubectl, namespace, "redis", name)
    kubectl("delete", "redis", "held", "-n", namespace, "--wait=false")
    time.sleep(2)
    held = kubectl.json("get", "redis", "held", "-n", namespace)
    assert held["metadata"]["deletionTimestamp"]  # Terminating: nobody releases it

    since = audit.offset()
    start_operator()
    wait_for(lambda: _gone(kubectl, "redis", "held", "-n", namespace), "held released", 30)

    def released() -> dict[str, Any] | None:
        obj = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
        return obj if not obj["metadata"].get("finalizers") else None

    wait_for(released, "my-op-redis released", 30)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    _quiet(audit)
    patches = [
        e
        for e in audit.writes(OPERATOR_USER, since)
        if e["verb"] == "patch"
        and e["objectRef"]["resource"] == "redis"
        and not e["objectRef"].get("subresource")
    ]
    assert sorted(e["objectRef"]["name"] for e in patches) == ["held", "my-op-redis"], [
        (e["objectRef"]["name"], e["responseStatus"].get("code"), e["stageTimestamp"])
        for e in patches
    ]

    kubectl("delete", "redis", "my-op-redis", "-n", namespace, "--timeout=30s")
    wait_for(
        lambda: (
            not pods(kubectl, namespace)
            and _gone(kubectl, "service", "my-op-redis", "-n", namespace)
        ),
        "the garbage collector to delete the pods and the Service",
        30,
    )


def test_deleting_the_crd_takes_every_redis_and_the_gc_their_children(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    """Uninstalling in any order leaves nothing behind (docs/operations.md, Uninstalling);
    the CRD is installed again at the end, and shown to work."""
    operator = start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    operator.stop()
    try:
        kubectl("delete", "-f", str(REPO / "deploy" / "base" / "crd.yaml"), "--timeout=60s")
        wait_for(
            lambda: (
                not pods(kubectl, namespace)
                and _gone(kubectl, "service", "my-op-redis", "-n", namespace)
            ),
            "the garbage collector to delete the pods and the Service",
            60,
        )
    finally:
        install_deploy(kubectl)
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
