"""Fixtures giving end-to-end tests a real local control plane.

The cluster starts once per test session (its supervisor watches this pytest process, so it
goes away even if pytest is killed) and each test gets a fresh namespace. When the control
plane cannot start, every test that needs it fails with the reason: nothing is skipped.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from devcluster.cluster import DevCluster
from tests.e2e.operator import (
    OPERATOR_GROUPS,
    OPERATOR_USER,
    OperatorProcess,
    assert_log_clean,
    install_deploy,
)
from tests.e2e.webhook import Register, wait_refusing
from tests.support.cluster import throwaway_cluster
from tests.support.kube import Kubectl


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    with throwaway_cluster("redis-op-e2e-", nodes=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kubectl(cluster: DevCluster) -> Kubectl:
    return Kubectl(cluster.kubectl_path(), cluster.kubeconfig)


@pytest.fixture
def namespace(cluster: DevCluster, kubectl: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    try:
        kubectl.create_namespace(name)
    except AssertionError as late:
        # The ServiceAccount controller is kube-controller-manager's: say what it was doing.
        raise AssertionError(
            f"{late}\n{cluster.status()}\n"
            f"-- supervisor --\n{cluster.log_tail('supervisor', 20)}\n"
            f"-- kube-controller-manager --\n{cluster.log_tail('kube-controller-manager', 60)}"
        ) from late
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def api(cluster: DevCluster) -> AsyncIterator[client.ApiClient]:
    """A kubernetes_asyncio client with the cluster's admin credentials."""
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    api_client = client.ApiClient(configuration)
    yield api_client
    await api_client.close()


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: DevCluster, kubectl: Kubectl) -> Path:
    """Install deploy/'s namespace, CRD and RBAC; a kubeconfig with exactly that RBAC."""
    install_deploy(kubectl)
    return cluster.issue_kubeconfig(OPERATOR_USER, OPERATOR_GROUPS)


@pytest.fixture
def start_operator(
    operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start ``redis-operator run`` for the test's namespace, as the operator's identity.

    At the end, its log must hold no authorization error: everything the operator does must
    be allowed by the RBAC in deploy/.
    """
    started: list[OperatorProcess] = []

    def start(*args: str) -> OperatorProcess:
        process = OperatorProcess(
            operator_kubeconfig,
            tmp_path / f"operator-{len(started)}.log",
            f"--namespace={namespace}",
            *args,
        )
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    for process in started:
        assert_log_clean(process.log())


@pytest.fixture
def register_webhook(kubectl: Kubectl, namespace: str) -> Iterator[Register]:
    """Apply a configuration, scoped to the test namespace; wait until the apiserver uses it."""
    name = f"redis-operator-{namespace}"

    def register(config: dict[str, Any]) -> None:
        config = copy.deepcopy(config)
        config["metadata"]["name"] = name
        for webhook in config["webhooks"]:
            webhook["namespaceSelector"] = {
                "matchLabels": {"kubernetes.io/metadata.name": namespace}
            }
        kubectl.apply(config)
        wait_refusing(kubectl, namespace, timeout=30)

    yield register
    kubectl.run("delete", "validatingwebhookconfiguration", name, "--ignore-not-found", check=False)
