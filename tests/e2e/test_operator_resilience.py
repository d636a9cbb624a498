"""The operator writes nothing while nothing changes, and survives a crash mid-pass.

Write calls are counted in the apiserver's audit log (the local control plane audits every
create/update/patch/delete at Metadata level), filtered by the operator's user name: that
includes Events, status, finalizers and anything a library under the operator might write.
"""

from __future__ import annotations

import time

import pytest

from devcluster.cluster import DevCluster
from tests.e2e.operator import OPERATOR_USER, Start
from tests.e2e.redis_objects import (
    events,
    ordinals,
    pods,
    redis,
    scale,
    wait_event,
    wait_ready_pods,
    wait_status,
)
from tests.support.kube import AuditLog, Kubectl, wait_for

pytestmark = pytest.mark.e2e


def _summary(entries: list[dict[str, object]]) -> list[str]:
    return [f"{e['verb']} {e['requestURI']}" for e in entries]


def test_no_writes_in_steady_state_nor_across_a_restart(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    operator = start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    wait_status(kubectl, namespace, replicas=2, ready=2)
    # Converged once its last write (an Event, the status) is a few seconds old.
    settle_from = audit.offset()
    while True:
        time.sleep(3)
        if not audit.writes(OPERATOR_USER, settle_from):
            break
        settle_from = audit.offset()

    quiet_from = audit.offset()
    time.sleep(30)
    operator.restart()
    time.sleep(30)
    assert operator.alive
    writes = audit.writes(OPERATOR_USER, quiet_from)
    assert writes == [], _summary(writes)
    # The restarted operator is live: it still acts on a change.
    scale(kubectl, namespace, 3)
    wait_ready_pods(kubectl, namespace, ordinals(3))
    assert audit.writes(OPERATOR_USER, quiet_from)


def test_crash_mid_scale_up_converges_without_duplicates(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    # One write at a time, so the crash lands in the middle of the creates.
    operator = start_operator("--max-concurrent-writes=1")
    kubectl.apply(redis(replicas=0), "-n", namespace)
    wait_status(kubectl, namespace, replicas=0, ready=0)
    since = audit.offset()
    scale(kubectl, namespace, 20)

    def pod_creates() -> int:
        return sum(
            1
            for e in audit.writes(OPERATOR_USER, since)
            if e["verb"] == "create" and e["objectRef"]["resource"] == "pods"
        )

    wait_for(lambda: pod_creates() >= 3, "the operator to start creating pods", 60, 0.002)
    operator.kill()
    created_before_crash = len(pods(kubectl, namespace))
    assert 0 < created_before_crash < 20, "the crash did not land mid-scale"

    start_operator()
    wait_ready_pods(kubectl, namespace, ordinals(20), timeout=120)
    wait_status(kubectl, namespace, replicas=20, ready=20)
    assert len(pods(kubectl, namespace)) == 20
    row = wait_event(kubectl, namespace, "ScalingUp", "my-op-redis replicas set to 20", "(x2 over")
    assert row.type == "Normal"
    rows = events(kubectl, namespace)
    assert not [r for r in rows if r.reason.startswith("Failed")], rows
