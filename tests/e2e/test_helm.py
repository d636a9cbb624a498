"""`helm install`, `helm upgrade` and `helm uninstall` of charts/ on a cluster of its own.

kwok nodes only: the Deployment's pods go Running and Ready there without the image, which is
all Helm's part needs (the operator running as its Deployment is the real node's e2e). A
cluster of its own, because other modules install deploy/'s RBAC, which Helm would refuse to
take over.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.cluster import DevCluster
from redis_operator import api
from tests.e2e.helm import RELEASE, Helm
from tests.e2e.redis_objects import redis
from tests.support.cluster import throwaway_cluster
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

NAMESPACE = "redis-operator-system"
#: Any base64 text does for a caBundle the apiserver stores (it is parsed only when called).
CA_BUNDLE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()


@pytest.fixture(scope="module")
def helm_cluster() -> Iterator[DevCluster]:
    with throwaway_cluster("redis-op-helm-", nodes=2) as cluster:
        yield cluster


def _objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def _ref(obj: dict[str, Any]) -> list[str]:
    """kubectl arguments naming one object of a release."""
    kind = (
        f"{obj['kind']}.{obj['apiVersion'].split('/')[0]}"
        if "/" in obj["apiVersion"]
        else obj["kind"]
    )
    namespace = obj["metadata"].get("namespace")
    return [kind, obj["metadata"]["name"], *(["-n", namespace] if namespace else [])]


def _exists(kubectl: Kubectl, obj: dict[str, Any]) -> bool:
    result = kubectl.run("get", *_ref(obj), "--ignore-not-found", "-o", "name", check=False)
    assert result.returncode == 0, result.stderr
    return bool(result.stdout.strip())


def _deployment(kubectl: Kubectl) -> dict[str, Any]:
    deployment: dict[str, Any] = kubectl.json(
        "get", "deployment", "redis-operator", "-n", NAMESPACE
    )
    return deployment


def _rolled_out(kubectl: Kubectl, replicas: int) -> bool:
    """The Deployment's latest spec is out: every replica updated and available."""
    d = _deployment(kubectl)
    status = d.get("status", {})
    return (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
    )


def _release(helm: Helm) -> dict[str, Any] | None:
    listed = yaml.safe_load(helm.run("list", "-n", NAMESPACE, "-o", "yaml").stdout) or []
    return next((r for r in listed if r["name"] == RELEASE), None)


def test_install_upgrade_uninstall(helm_cluster: DevCluster, tmp_path: Path) -> None:
    kubectl = Kubectl(helm_cluster.kubectl_path(), helm_cluster.kubeconfig)
    helm = Helm(tmp_path / "helm", helm_cluster.kubeconfig)

    # Install: every object of the release is there, the CRD established, the Deployment
    # available with its 2 replicas.
    helm.run("install", *helm.chart_args(), "-n", NAMESPACE, "--create-namespace")
    installed = _objects(helm.run("get", "manifest", RELEASE, "-n", NAMESPACE).stdout)
    assert {o["kind"] for o in installed} >= {"Deployment", "ValidatingWebhookConfiguration"}
    assert all(_exists(kubectl, o) for o in installed)
    kubectl("wait", "--for=condition=Established", f"crd/{api.CRD_NAME}", "--timeout=60s")
    crd_version = kubectl.json("get", "crd", api.CRD_NAME)["metadata"]["resourceVersion"]
    wait_for(lambda: _rolled_out(kubectl, 2), "the Deployment's 2 replicas available", 120)
    metadata = _deployment(kubectl)["metadata"]
    assert metadata["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert metadata["annotations"]["meta.helm.sh/release-name"] == RELEASE
    assert (_release(helm) or {}).get("status") == "deployed"
    notes = helm.run("get", "notes", RELEASE, "-n", NAMESPACE).stdout
    assert "helm uninstall` leaves it" in notes

    # The caBundle the operator writes into the webhook configuration (managed mode) is not
    # the chart's: an upgrade leaves it. Written here as the operator would, by patch.
    kubectl(
        "patch",
        "validatingwebhookconfiguration",
        "redis-operator",
        "--type=json",
        "--field-manager=redis-operator",
        "-p",
        json.dumps(
            [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": CA_BUNDLE}]
        ),
    )

    # Upgrade with other values: applied, rolled out; the CRD and the caBundle untouched.
    helm.run(
        "upgrade",
        *helm.chart_args({"replicas": 3, "eventLanguage": "zh"}),
        "-n",
        NAMESPACE,
    )
    wait_for(lambda: _rolled_out(kubectl, 3), "the upgraded Deployment's 3 replicas", 120)
    (container,) = _deployment(kubectl)["spec"]["template"]["spec"]["containers"]
    assert "--event-language=zh" in container["args"]
    assert (_release(helm) or {}).get("revision") == "2"
    assert kubectl.json("get", "crd", api.CRD_NAME)["metadata"]["resourceVersion"] == crd_version
    (hook,) = kubectl.json("get", "validatingwebhookconfiguration", "redis-operator")["webhooks"]
    assert hook["clientConfig"]["caBundle"] == CA_BUNDLE

    # A Redis object, to outlive the release with its CRD.
    kubectl.create_namespace("apps")
    kubectl.apply(redis(replicas=0), "-n", "apps")

    # Uninstall: every object of the release is gone, the CRD and the Redis object stay.
    helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout=120s")
    left = [o for o in installed if _exists(kubectl, o)]
    assert not left, f"left after uninstall: {[_ref(o) for o in left]}"
    assert kubectl.json("get", "pods", "-n", NAMESPACE)["items"] == []
    assert _release(helm) is None
    assert kubectl.json("get", "crd", api.CRD_NAME)["metadata"]["resourceVersion"] == crd_version
    assert kubectl.json("get", api.PLURAL, "-n", "apps")["items"]
