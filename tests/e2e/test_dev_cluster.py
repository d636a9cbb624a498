"""The local control plane does what a real cluster does for us."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from devcluster.cluster import DevCluster
from devcluster.supervisor import pid_alive
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e


def _ready(obj: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in obj.get("status", {}).get("conditions", [])
    )


def test_fake_nodes_are_ready(kubectl: Kubectl) -> None:
    def addressed() -> list[dict[str, Any]] | None:
        # kwok may write the Ready condition before the node's addresses.
        items: list[dict[str, Any]] = kubectl.json("get", "nodes")["items"]
        return items if all(n["status"].get("addresses") for n in items) else None

    nodes = wait_for(addressed, "the kwok nodes' addresses", 60)
    assert len(nodes) == 2
    assert all(_ready(n) for n in nodes)
    for node in nodes:
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                assert address["address"].startswith("127.")
    assert " Ready " in kubectl("get", "nodes")


def test_pod_is_scheduled_running_and_ready(kubectl: Kubectl, namespace: str) -> None:
    kubectl("run", "web", "--image=nginx:1.27", "-n", namespace, "--restart=Never")
    kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=60s")
    pod = kubectl.json("get", "pod", "web", "-n", namespace)
    assert pod["spec"]["nodeName"].startswith("kwok-node-")
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"].startswith("127.")


def test_garbage_collector_deletes_dependents(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    owner = kubectl.json("get", "configmap", "owner", "-n", namespace)
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
    }
    kubectl.apply(dependent)
    kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        lambda: (
            kubectl.run("get", "configmap", "dependent", "-n", namespace, check=False).returncode
            != 0
        ),
        "the garbage collector to delete the dependent",
    )


def test_event_shows_in_describe(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "subject", "-n", namespace)
    subject = kubectl.json("get", "configmap", "subject", "-n", namespace)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "subject.e2e", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "subject",
            "namespace": namespace,
            "uid": subject["metadata"]["uid"],
        },
        "type": "Warning",
        "reason": "DevClusterCheck",
        "message": "events reach describe",
        "source": {"component": "e2e-test"},
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
    }
    kubectl("create", "-f", "-", stdin=json.dumps(event))
    described = kubectl("describe", "configmap", "subject", "-n", namespace)
    row = next(line for line in described.splitlines() if "DevClusterCheck" in line)
    assert row.split()[0] == "Warning"
    assert "e2e-test" in row and "events reach describe" in row


def test_rbac_is_enforced(cluster: DevCluster, kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", namespace)
    kubectl(
        "create", "rolebinding", "alice-reads", "--role=pod-reader", "--user=alice", "-n", namespace
    )
    alice = Kubectl(kubectl.binary, cluster.issue_kubeconfig("alice", ["developers"]))
    assert alice.run("get", "pods", "-n", namespace).returncode == 0
    refused = alice.run("create", "configmap", "nope", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr
    assert 'User "alice"' in refused.stderr
    assert alice.run("get", "pods", "-n", "default", check=False).returncode != 0


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.e2e.example.com"},
    "spec": {
        "group": "e2e.example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_with_status_subresource(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(CRD)
    kubectl("wait", "--for=condition=Established", "crd/widgets.e2e.example.com", "--timeout=30s")
    widget = {
        "apiVersion": "e2e.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": namespace},
        "spec": {"size": 3},
        "status": {"phase": "ignored-on-create"},
    }
    wait_for(
        lambda: (
            kubectl.run("apply", "-f", "-", stdin=json.dumps(widget), check=False).returncode == 0
        ),
        "the Widget kind to be served",
    )
    created = kubectl.json("get", "widget", "w1", "-n", namespace)
    assert "status" not in created  # the status subresource ignores status on create
    kubectl(
        "patch",
        "widget",
        "w1",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"phase": "Ready"}}',
    )
    assert kubectl.json("get", "widget", "w1", "-n", namespace)["status"] == {"phase": "Ready"}


def _all_pids(cluster: DevCluster) -> list[int]:
    status = cluster.status()
    return [pid for pid in status.processes.values() if pid is not None]


def _second_cluster(owner_pid: int | None) -> DevCluster:
    second = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="redis-op-e2e-2-")))
    second.up(nodes=1, owner_pid=owner_pid)
    return second


def test_down_leaves_no_process(cluster: DevCluster) -> None:
    second = _second_cluster(owner_pid=os.getpid())
    pids = _all_pids(second)
    assert len(pids) == 6, second.status()  # supervisor + 5 components
    second.down()
    wait_for(lambda: not any(pid_alive(p) for p in pids), "every process of the cluster to exit")
    assert not second.layout.root.exists()


def test_cluster_dies_with_its_owner(cluster: DevCluster) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    second = _second_cluster(owner_pid=owner.pid)
    try:
        pids = _all_pids(second)
        assert len(pids) == 6
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(
            lambda: not any(pid_alive(p) for p in pids),
            "the cluster to stop after its owner died",
        )
    finally:
        second.down()


def test_running_pod_marked_not_ready_becomes_ready_again(kubectl: Kubectl, namespace: str) -> None:
    """Like a kubelet after its node comes back (see components.POD_READY_AGAIN_STAGE)."""
    kubectl("run", "web", "--image=nginx:1.27", "-n", namespace, "--restart=Never")
    kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=60s")
    kubectl(
        "patch",
        "pod",
        "web",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"conditions": [{"type": "Ready", "status": "False"}]}}',
    )
    wait_for(
        lambda: _ready(kubectl.json("get", "pod", "web", "-n", namespace)),
        "the pod to be Ready again",
    )


def test_node_not_ready_for_a_while_keeps_its_addresses(kubectl: Kubectl) -> None:
    """kwok's own stage clears them when it re-initializes a node (see
    components.NODE_ADDRESSES_AGAIN_STAGE); a lapsed lease under load is enough for that."""
    kubectl(
        "patch",
        "node",
        "kwok-node-1",
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps(
            {"status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "Test"}]}}
        ),
    )

    def back() -> dict[str, Any] | None:
        node: dict[str, Any] = kubectl.json("get", "node", "kwok-node-1")
        addresses = {a["type"] for a in node["status"].get("addresses") or []}
        return node if _ready(node) and addresses == {"InternalIP", "Hostname"} else None

    node = wait_for(back, "kwok-node-1 Ready again with its addresses")
    internal = [a for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
    assert internal[0]["address"].startswith("127.")
