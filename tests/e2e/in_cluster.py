"""The operator as users run it: deploy/'s Deployment on the real node, its pods, Lease and logs.

Shared by the e2e tests of the in-cluster operator and its benchmark. Everything is read
through the apiserver or from the files the kubelet and containerd write on this machine:
never ``kubectl logs`` or ``exec``.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devcluster import imagebuild, realnode
from devcluster.build import ensure_node_binaries
from devcluster.cluster import DevCluster
from devcluster.layout import Settings
from redis_operator import manifests
from redis_operator.leaderelection.election import DEFAULT_LEASE_NAME
from tests.e2e.operator import REPO
from tests.support.kube import Kubectl, wait_for

SELECTOR = ",".join(f"{k}={v}" for k, v in manifests.LABELS.items())
DEPLOYMENT = f"deployment/{manifests.NAME}"
DEV_OVERLAY = REPO / "deploy" / "dev"


@contextmanager
def real_cluster(owner_pid: int) -> Iterator[DevCluster]:
    """A throwaway cluster with one kwok node and the machine's one real node."""
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="redis-op-e2e-incluster-")))
    try:
        cluster.up(nodes=1, real_nodes=1, owner_pid=owner_pid)
        yield cluster
    finally:
        cluster.down()


def kubectl_of(cluster: DevCluster) -> Kubectl:
    return Kubectl(cluster.kubectl_path(), cluster.kubeconfig)


def redis_image(cluster: DevCluster) -> str:
    node = Settings.load(cluster.layout.settings).node
    assert node is not None
    return node.redis_image


def operator_image(cluster: DevCluster) -> str:
    """The operator's image from the Dockerfile (BuildKit, cached), imported into the node."""
    image = imagebuild.build_operator_image(ensure_node_binaries(), REPO)
    cluster.import_image(image.archive)
    return image.name


def tag_image(cluster: DevCluster, source: str, target: str) -> None:
    """A second local name for an image in the node's containerd (namespace ``k8s.io``)."""
    node = Settings.load(cluster.layout.settings).node
    assert node is not None
    socket = realnode.NodeFiles(cluster.layout.node).containerd_socket
    ctr = [str(node.binaries.ctr), f"--address={socket}", "-n", "k8s.io"]
    subprocess.run(
        [*ctr, "images", "tag", "--force", source, target],
        capture_output=True,
        text=True,
        check=True,
    )


def install(kubectl: Kubectl) -> None:
    """``kubectl apply -k deploy/dev``: deploy/ with the local image's name, as a user would
    apply it (the operator issues its webhook certificate and keeps the caBundle itself)."""
    kubectl("apply", "-k", str(DEV_OVERLAY))


def rolled_out(kubectl: Kubectl, timeout: int = 180) -> None:
    """Every replica of the Deployment updated, Ready by the kubelet's probes, none left over."""
    kubectl("rollout", "status", DEPLOYMENT, "-n", manifests.NAMESPACE, f"--timeout={timeout}s")


def operator_pods(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    """The Deployment's pods that are not being deleted, by name."""
    listed = kubectl.json("get", "pods", "-n", manifests.NAMESPACE, "-l", SELECTOR)
    return {
        p["metadata"]["name"]: p
        for p in listed["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def lease(kubectl: Kubectl) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json(
        "get", "lease", DEFAULT_LEASE_NAME, "-n", manifests.NAMESPACE
    )
    return found


def holder_pod(kubectl: Kubectl) -> str | None:
    """The pod holding the Lease (its identity is ``<pod name>_<uuid>``), if any."""
    identity = lease(kubectl)["spec"].get("holderIdentity")
    return identity.rsplit("_", 1)[0] if identity else None


def wait_leader(kubectl: Kubectl, among: set[str], timeout: float = 60) -> str:
    found: str = wait_for(
        lambda: (pod := holder_pod(kubectl)) in among and pod,
        f"one of {sorted(among)} to hold the Lease",
        timeout,
        0.1,
    )
    return found


def timestamp(value: str) -> datetime:
    """An RFC 3339 time of the API (``...Z``, with or without fractions)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def container_log(cluster: DevCluster, pod: str) -> str:
    """A pod's container log, read where the kubelet writes it (not ``kubectl logs``)."""
    logs = realnode.NodeFiles(cluster.layout.node).pod_logs
    (directory,) = logs.glob(f"{manifests.NAMESPACE}_{pod}_*")
    return "".join(f.read_text(errors="replace") for f in sorted(directory.rglob("*.log")))


@dataclass
class Logs:
    """The operator pods' logs, kept as read: the kubelet removes a deleted pod's log."""

    cluster: DevCluster
    kept: dict[str, str] = field(default_factory=dict)

    def read(self, kubectl: Kubectl) -> dict[str, str]:
        """Keep the current log of every pod of the Deployment that has one yet."""
        logs = realnode.NodeFiles(self.cluster.layout.node).pod_logs
        for name in operator_pods(kubectl):
            if any(logs.glob(f"{manifests.NAMESPACE}_{name}_*")):
                self.kept[name] = container_log(self.cluster, name)
        return self.kept
