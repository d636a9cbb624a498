"""Leader election against the real control plane: one of several replicas reconciles.

Each operator runs with ``--leader-elect`` and short timings (lease 6s, renew deadline 4s,
retry 1s) on a Lease in the test's namespace. An operator's requests carry its identity in the
User-Agent, so the audit log tells the replicas' writes apart.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from devcluster.cluster import DevCluster
from tests.e2e.operator import OPERATOR_USER, OperatorProcess, Start
from tests.e2e.redis_objects import (
    events,
    find,
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

LEASE = "redis-operator-leader"
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 6, 4, 1
#: A candidate retries every retry period × (1 + up to 1.2 jitter).
MAX_RETRY = RETRY_PERIOD * 2.2


def elect(namespace: str) -> tuple[str, ...]:
    return (
        "--leader-elect",
        f"--leader-election-namespace={namespace}",
        f"--leader-elect-lease-duration={LEASE_DURATION}",
        f"--leader-elect-renew-deadline={RENEW_DEADLINE}",
        f"--leader-elect-retry-period={RETRY_PERIOD}",
    )


def identity(process: OperatorProcess) -> str:
    def find_identity() -> str | None:
        found = re.search(r"attempting to acquire lease \S+ as (\S+)", process.log())
        return found.group(1) if found else None

    result: str = wait_for(find_identity, "the operator's leader election identity", 30)
    return result


def lease(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    proc = kubectl.run("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def holder(kubectl: Kubectl, namespace: str) -> str:
    current = lease(kubectl, namespace)
    return (current or {}).get("spec", {}).get("holderIdentity") or ""


def wait_holder(kubectl: Kubectl, namespace: str, expected: set[str], timeout: float) -> str:
    found: str = wait_for(
        lambda: (h := holder(kubectl, namespace)) in expected and h,
        f"the Lease to be held by one of {sorted(expected)}",
        timeout,
        0.1,
    )
    return found


def writes_of(audit: AuditLog, since: int, who: str) -> list[dict[str, Any]]:
    """Write requests made by the operator whose identity is ``who``."""
    return [e for e in audit.writes(OPERATOR_USER, since) if who in e.get("userAgent", "")]


def summary(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['verb']} {e['requestURI']} {e['responseStatus'].get('code')}" for e in entries]


def test_standby_takes_over_when_the_leader_dies(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    since = audit.offset()
    first = start_operator(*elect(namespace))
    second = start_operator(*elect(namespace))
    replicas = {identity(first): first, identity(second): second}
    leader_id = wait_holder(kubectl, namespace, set(replicas), 30)
    (standby_id,) = set(replicas) - {leader_id}
    leader, standby = replicas[leader_id], replicas[standby_id]

    # The leader reconciles: create with 2, scale to 3, back to 2.
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    for replicas_count in (3, 2):
        scale(kubectl, namespace, replicas_count)
        wait_ready_pods(kubectl, namespace, ordinals(replicas_count))
        wait_status(kubectl, namespace, replicas_count, replicas_count)
    wait_event(kubectl, namespace, "ScalingDown", "my-op-redis replicas set to 2")
    assert holder(kubectl, namespace) == leader_id
    assert "acquired lease" not in standby.log()
    # Only the leader wrote: the standby at most tried to create the Lease at startup.
    assert writes_of(audit, since, leader_id), "the leader's writes are not attributable"
    standby_writes = writes_of(audit, since, standby_id)
    assert all(e["objectRef"]["resource"] == "leases" for e in standby_writes), summary(
        standby_writes
    )

    killed = time.monotonic()
    leader.kill()
    wait_holder(kubectl, namespace, {standby_id}, LEASE_DURATION + 3 * MAX_RETRY)
    took = time.monotonic() - killed
    print(f"takeover {took:.2f}s after the leader was killed")
    # Not before the dead leader's lease ran out (its last renewal was at most a retry
    # period before the kill), and about one lease duration after it.
    assert LEASE_DURATION - RETRY_PERIOD - 0.5 <= took <= LEASE_DURATION + 2 * MAX_RETRY + 1
    current = lease(kubectl, namespace)
    assert current is not None
    assert current["spec"]["leaseTransitions"] == 1
    assert current["spec"]["leaseDurationSeconds"] == LEASE_DURATION

    # The new leader reconciles, continuing the old leader's Events rather than doubling them.
    scale(kubectl, namespace, 3)
    wait_ready_pods(kubectl, namespace, ordinals(3))
    wait_status(kubectl, namespace, 3, 3)
    up = wait_event(kubectl, namespace, "ScalingUp", "my-op-redis replicas set to 3", "(x2 over")
    assert up.type == "Normal" and up.source == "RedisOperator"
    rows = events(kubectl, namespace)
    keys = [(r.type, r.reason, r.message) for r in rows]
    assert len(keys) == len(set(keys)), rows
    created_2 = find(rows, "SuccessfulCreate", "Created pod: my-op-redis-2")
    assert created_2 is not None and "(x2 over" in created_2.age, rows
    first_up = find(rows, "ScalingUp", "my-op-redis replicas set to 2")
    assert first_up is not None and "(x" not in first_up.age, rows
    for name in ("my-op-redis-0", "my-op-redis-1"):
        row = find(rows, "SuccessfulCreate", f"Created pod: {name}")
        assert row is not None and "(x" not in row.age, rows
    assert set(pods(kubectl, namespace)) == ordinals(3)
    assert standby.alive


def test_graceful_stop_hands_the_lease_over_at_once(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    first = start_operator(*elect(namespace))
    first_id = identity(first)
    wait_holder(kubectl, namespace, {first_id}, 30)
    second = start_operator(*elect(namespace))
    second_id = identity(second)
    kubectl.apply(redis(replicas=1), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(1))
    wait_status(kubectl, namespace, 1, 1)
    assert holder(kubectl, namespace) == first_id

    proc = first.proc
    assert proc is not None
    stopped = time.monotonic()
    first.stop()  # SIGTERM: release the Lease on the way out
    assert proc.returncode == 0
    wait_holder(kubectl, namespace, {second_id}, LEASE_DURATION)
    took = time.monotonic() - stopped
    print(f"handover {took:.2f}s after SIGTERM")
    assert took < LEASE_DURATION - 1, "the lease was not released"
    assert "released lease" in first.log()
    current = lease(kubectl, namespace)
    assert current is not None and current["spec"]["leaseTransitions"] == 1

    scale(kubectl, namespace, 2)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    wait_status(kubectl, namespace, 2, 2)
    rows = events(kubectl, namespace)
    keys = [(r.type, r.reason, r.message) for r in rows]
    assert len(keys) == len(set(keys)), rows


def test_a_leader_that_loses_the_lease_stops_at_once_and_exits(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    audit = AuditLog(cluster.layout.audit_log)
    operator = start_operator(*elect(namespace))
    me = identity(operator)
    wait_holder(kubectl, namespace, {me}, 30)
    kubectl.apply(redis(replicas=1), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(1))
    wait_status(kubectl, namespace, 1, 1)

    # Another holder appears (as after a partition that outlasted the lease).
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stolen = {"spec": {"holderIdentity": "intruder", "renewTime": now, "acquireTime": now}}
    kubectl("patch", "lease", LEASE, "-n", namespace, "--type=merge", "-p", json.dumps(stolen))
    taken = time.monotonic()
    proc = operator.proc
    assert proc is not None
    wait_for(lambda: proc.poll() is not None, "the operator to exit", 20, 0.1)
    print(f"exited {time.monotonic() - taken:.2f}s after the lease was taken")
    assert proc.returncode == 1
    log = operator.log()
    assert "stopped leading: lease" in log and "is now held by intruder" in log, log[-2000:]
    assert "leadership lost" in log

    # Nobody leads now: a change stays unreconciled, and the old leader wrote nothing more.
    since = audit.offset()
    scale(kubectl, namespace, 2)
    time.sleep(3)
    assert set(pods(kubectl, namespace)) == ordinals(1)
    assert writes_of(audit, since, me) == []
    assert holder(kubectl, namespace) == "intruder"
