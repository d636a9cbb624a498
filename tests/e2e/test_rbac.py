"""deploy/'s RBAC is not only sufficient (every operator test checks its log) but necessary:
take one verb away and the operator's trouble is visible, and the tests' check says so."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from devcluster.cluster import DevCluster
from redis_operator.manifests import cluster_role
from tests.e2e.operator import OperatorProcess, assert_log_clean
from tests.e2e.redis_objects import events, redis
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

USER = "reduced-operator"


def test_removing_a_verb_fails_with_a_clear_message(
    cluster: DevCluster,
    kubectl: Kubectl,
    operator_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    role = copy.deepcopy(cluster_role())
    role["metadata"] = {"name": f"{USER}-{namespace}"}
    (pods_rule,) = [r for r in role["rules"] if r["apiGroups"] == [""] and "pods" in r["resources"]]
    pods_rule["verbs"].remove("create")
    kubectl.apply(role)
    kubectl(
        "create",
        "clusterrolebinding",
        f"{USER}-{namespace}",
        f"--clusterrole={USER}-{namespace}",
        f"--user={USER}",
    )
    operator = OperatorProcess(
        cluster.issue_kubeconfig(USER),
        tmp_path / "operator.log",
        f"--namespace={namespace}",
    )
    operator.start()
    try:
        kubectl.apply(redis(), "-n", namespace)
        row = wait_for(
            lambda: next(
                (r for r in events(kubectl, namespace) if r.reason == "FailedCreate"), None
            ),
            "a FailedCreate event",
        )
        assert row.type == "Warning" and "forbidden" in row.message.lower(), row

        def failure_condition() -> dict[str, str] | None:
            status = kubectl.json("get", "redis", "my-op-redis", "-n", namespace).get("status", {})
            return next(
                (c for c in status.get("conditions", []) if c["type"] == "ReplicaFailure"), None
            )

        condition = wait_for(failure_condition, "a ReplicaFailure condition")
        assert condition["status"] == "True" and "forbidden" in condition["message"].lower()
    finally:
        operator.stop()
        kubectl.run("delete", "clusterrolebinding", f"{USER}-{namespace}", check=False)
        kubectl.run("delete", "clusterrole", f"{USER}-{namespace}", check=False)
    with pytest.raises(AssertionError, match="operator hit RBAC limits"):
        assert_log_clean(operator.log())
