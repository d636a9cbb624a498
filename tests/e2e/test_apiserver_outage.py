"""An apiserver outage is survived: in the middle of scaling without an operator restart, and
at the operator's startup.

It runs on a cluster of its own, so stopping that cluster's apiserver cannot disturb the
other tests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.cluster import DevCluster
from tests.e2e.operator import OPERATOR_GROUPS, OPERATOR_USER, OperatorProcess, install_deploy
from tests.e2e.redis_objects import ordinals, pods, redis, scale, wait_ready_pods, wait_status
from tests.support.cluster import throwaway_cluster
from tests.support.kube import AuditLog, Kubectl, wait_for

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 20
#: After an earlier test's outage the controller-manager's watches reconnect with their own
#: backoff; its ServiceAccount controller may take a while to serve a new namespace.
NAMESPACE_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def outage_cluster() -> Iterator[DevCluster]:
    with throwaway_cluster("redis-op-outage-", nodes=1) as cluster:
        yield cluster


def install(cluster: DevCluster) -> Kubectl:
    """deploy/ installed (idempotent: each test can run alone); the cluster's kubectl."""
    kubectl = Kubectl(cluster.kubectl_path(), cluster.kubeconfig)
    install_deploy(kubectl)
    return kubectl


def _time(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def test_apiserver_outage_mid_scale(outage_cluster: DevCluster, tmp_path: Path) -> None:
    kubectl = install(outage_cluster)
    namespace = "outage"
    kubectl.create_namespace(namespace, NAMESPACE_TIMEOUT)
    operator = OperatorProcess(
        outage_cluster.issue_kubeconfig(OPERATOR_USER, OPERATOR_GROUPS),
        tmp_path / "operator.log",
        f"--namespace={namespace}",
        "--max-concurrent-writes=1",
    )
    operator.start()
    try:
        kubectl.apply(redis(replicas=0), "-n", namespace)
        wait_status(kubectl, namespace, replicas=0, ready=0)
        audit = AuditLog(outage_cluster.layout.audit_log)
        since = audit.offset()
        scale(kubectl, namespace, 10)
        wait_for(
            lambda: any(
                e["verb"] == "create" and e["objectRef"]["resource"] == "pods"
                for e in audit.writes(OPERATOR_USER, since)
            ),
            "the operator to start creating pods",
            60,
            0.002,
        )
        outage_start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        outage_cluster.stop_component("kube-apiserver")
        time.sleep(OUTAGE_SECONDS)
        outage_cluster.start_component("kube-apiserver")
        outage_end = dt.datetime.now(dt.UTC)
        restarted_at = dt.datetime.now()  # local time, as the operator's log lines carry

        wait_ready_pods(kubectl, namespace, ordinals(10), timeout=180)
        wait_status(kubectl, namespace, replicas=10, ready=10)
        assert operator.alive, "the operator died in the outage"
        assert set(pods(kubectl, namespace)) == ordinals(10)

        # Events recorded while the apiserver was away were queued and delivered after.
        def recorded_in_outage() -> list[str]:
            items = kubectl.json("get", "events", "-n", namespace)["items"]
            return [
                f"{e['reason']}: {e['message']}"
                for e in items
                if e.get("source", {}).get("component") == "RedisOperator"
                and outage_start <= _time(e["lastTimestamp"]) <= outage_end
            ]

        wait_for(recorded_in_outage, "events recorded during the outage", 120)
    finally:
        operator.stop()
    log = operator.log()
    assert "Traceback" not in log, log[-3000:]
    # A restarted apiserver answers 403 for a moment, until its RBAC caches are filled (its
    # /readyz does not wait for them). The operator must retry through that, which it did
    # above; any 'forbidden' outside those first seconds would be a gap in deploy/'s RBAC.
    for line in log.splitlines():
        if "forbidden" in line.lower():
            logged_at = dt.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
            assert logged_at - restarted_at < dt.timedelta(seconds=10), line


def test_operator_started_while_the_apiserver_is_down(
    outage_cluster: DevCluster, tmp_path: Path
) -> None:
    """Started into an outage, the operator waits it out, then lists, learns the Events it wrote
    before (a repeat continues them: x2, not a second row) and converges."""
    kubectl = install(outage_cluster)
    namespace = "startup"
    kubectl.create_namespace(namespace, NAMESPACE_TIMEOUT)
    kubeconfig = outage_cluster.issue_kubeconfig(OPERATOR_USER, OPERATOR_GROUPS)
    first = OperatorProcess(kubeconfig, tmp_path / "first.log", f"--namespace={namespace}")
    first.start()
    try:
        kubectl.apply(redis(replicas=2), "-n", namespace)
        wait_status(kubectl, namespace, replicas=2, ready=2)
        scale(kubectl, namespace, 1)
        wait_status(kubectl, namespace, replicas=1, ready=1)
    finally:
        first.stop()
    scale(kubectl, namespace, 2)  # while no operator runs: the next one scales up again

    outage_cluster.stop_component("kube-apiserver")
    second = OperatorProcess(kubeconfig, tmp_path / "second.log", f"--namespace={namespace}")
    second.start()
    try:
        time.sleep(OUTAGE_SECONDS)
        assert second.alive, f"the operator died without an apiserver:\n{second.log()[-3000:]}"
        outage_cluster.start_component("kube-apiserver")

        wait_ready_pods(kubectl, namespace, ordinals(2), timeout=180)
        wait_status(kubectl, namespace, replicas=2, ready=2)

        def scaled_up() -> list[dict[str, Any]] | None:
            items = kubectl.json(
                "get", "events", "-n", namespace, "--field-selector=reason=ScalingUp"
            )["items"]
            mine = [e for e in items if e["message"] == "my-op-redis replicas set to 2"]
            return mine if sum(e.get("count", 1) for e in mine) >= 2 else None

        repeats = wait_for(scaled_up, "the second ScalingUp to 2", 60)
        assert [e["count"] for e in repeats] == [2], repeats  # one Event, counted twice
    finally:
        second.stop()
    assert "Traceback" not in second.log(), second.log()[-3000:]


def test_what_went_while_the_watch_was_down_is_seen_when_it_resumes(
    outage_cluster: DevCluster, tmp_path: Path
) -> None:
    """A pod deleted just after the apiserver came back, before the operator's watch has
    reconnected (its backoff has grown during the outage), is recreated without a restart: the
    informer's listing drops what it no longer finds."""
    kubectl = install(outage_cluster)
    namespace = "vanished"
    kubectl.create_namespace(namespace, NAMESPACE_TIMEOUT)
    operator = OperatorProcess(
        outage_cluster.issue_kubeconfig(OPERATOR_USER, OPERATOR_GROUPS),
        tmp_path / "operator.log",
        f"--namespace={namespace}",
    )
    operator.start()
    try:
        kubectl.apply(redis(replicas=3), "-n", namespace)
        wait_ready_pods(kubectl, namespace, ordinals(3), timeout=120)
        wait_status(kubectl, namespace, replicas=3, ready=3)
        before = pods(kubectl, namespace)["my-op-redis-1"]["metadata"]["uid"]
        outage_cluster.stop_component("kube-apiserver")
        time.sleep(OUTAGE_SECONDS)
        outage_cluster.start_component("kube-apiserver")
        kubectl.run(
            "delete", "pod", "my-op-redis-1", "-n", namespace, "--grace-period=0", "--force"
        )

        def replaced() -> bool:
            pod = pods(kubectl, namespace).get("my-op-redis-1")
            return pod is not None and pod["metadata"]["uid"] != before

        wait_for(replaced, "my-op-redis-1 recreated after the outage", 120)
        wait_ready_pods(kubectl, namespace, ordinals(3), timeout=120)
        wait_status(kubectl, namespace, replicas=3, ready=3)
        assert operator.alive, "the operator died in the outage"
    finally:
        operator.stop()
    assert "Traceback" not in operator.log(), operator.log()[-3000:]
