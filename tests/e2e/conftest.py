"""Fixtures giving end-to-end tests a real local control plane.

The cluster starts once per test session (its supervisor watches this pytest process, so it
goes away even if pytest is killed) and each test gets a fresh namespace. When the control
plane cannot start, every test that needs it fails with the reason: nothing is skipped.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_operator.devcluster.cluster import DevCluster
from tests.e2e.kube import Kubectl, wait_for


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    state = Path(tempfile.mkdtemp(prefix="redis-op-e2e-"))
    cluster = DevCluster(state_dir=state)
    try:
        cluster.up(nodes=2, owner_pid=os.getpid())
    except Exception as exc:  # the reason must reach every test that needed the cluster
        cluster.down()
        pytest.fail(f"cannot start the local control plane: {exc}", pytrace=False)
    yield cluster
    cluster.down()


@pytest.fixture(scope="session")
def kubectl(cluster: DevCluster) -> Kubectl:
    return Kubectl(cluster.kubectl_path(), cluster.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    # Pods are refused until the ServiceAccount controller has made the default account.
    wait_for(
        lambda: (
            kubectl.run("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0
        ),
        f"the default ServiceAccount in {name}",
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
