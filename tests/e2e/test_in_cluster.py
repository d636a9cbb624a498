"""The operator as users install it: deploy/'s Deployment on the real node, from its own image.

Two replicas under deploy/'s RBAC only, Ready by the kubelet's probes, one leading; the seed's
story driven by them; the webhook reached through its Service; the leader pod deleted and a
rolling update, each losing nothing and doubling nothing. This module has its own cluster with
the machine's one real node; its tests share one installation and run in order.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devcluster import realnode
from devcluster.cluster import DevCluster
from redis_operator import manifests
from redis_operator.metrics import PREFIX
from tests.e2e.in_cluster import (
    DEPLOYMENT,
    Logs,
    holder_pod,
    install,
    kubectl_of,
    lease,
    operator_image,
    operator_pods,
    real_cluster,
    redis_image,
    rolled_out,
    tag_image,
    timestamp,
    wait_leader,
)
from tests.e2e.operator import OPERATOR_USER, assert_log_clean
from tests.e2e.realnode import nat_rules
from tests.e2e.redis_objects import (
    events,
    find,
    ordinals,
    pods,
    redis,
    scale,
    scale_story,
    wait_event,
    wait_ready_pods,
    wait_status,
)
from tests.e2e.webhook import wait_refusing
from tests.support.kube import AuditLog, EventRow, Kubectl, wait_for

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Deployed:
    cluster: DevCluster
    kubectl: Kubectl
    image: str
    redis_image: str
    logs: Logs

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.cluster.layout.audit_log)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with real_cluster(os.getpid()) as cluster:
        kubectl = kubectl_of(cluster)
        image = operator_image(cluster)
        install(kubectl)
        rolled_out(kubectl)
        yield Deployed(cluster, kubectl, image, redis_image(cluster), Logs(cluster))


@pytest.fixture
def ns(deployed: Deployed) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    deployed.kubectl.create_namespace(name)
    yield name
    deployed.logs.read(deployed.kubectl)
    deployed.kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def _on_the_bridge(address: str) -> str:
    """The address, if a pod's or a Service's on the project's bridge: nothing else is dialled."""
    ip = ipaddress.ip_address(address)
    ranges = (realnode.POD_SUBNET, realnode.SERVICE_SUBNET)
    if not any(ip in ipaddress.ip_network(r) for r in ranges):
        raise AssertionError(f"{address} is neither a pod's nor a Service's on the bridge")
    return address


def _get(address: str, port: int, path: str) -> tuple[int, str]:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with direct.open(f"http://{_on_the_bridge(address)}:{port}{path}", timeout=5) as response:
        return response.status, response.read().decode()


def _unique(rows: list[EventRow]) -> None:
    """One row per distinct Event: none was recorded twice as a separate Event."""
    keys = [(r.type, r.reason, r.message) for r in rows]
    assert len(keys) == len(set(keys)), rows


def _once(rows: list[EventRow], reason: str, message: str) -> None:
    row = find(rows, reason, message)
    assert row is not None and "(x" not in row.age, (reason, message, rows)


def _each_told_once(kubectl: Kubectl, ns: str, *expected: tuple[str, str]) -> None:
    """The namespace's Events: none doubled, and each (reason, message) told exactly once."""
    rows = events(kubectl, ns)
    _unique(rows)
    for reason, message in expected:
        _once(rows, reason, message)


def test_two_replicas_ready_by_the_kubelets_probes_one_leading(deployed: Deployed) -> None:
    running = operator_pods(deployed.kubectl)
    assert len(running) == manifests.REPLICAS == 2
    for pod in running.values():
        assert pod["spec"]["nodeName"] == realnode.NODE_NAME
        assert pod["spec"]["serviceAccountName"] == manifests.NAME
        (container,) = pod["spec"]["containers"]
        assert container["image"] == deployed.image
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] and status["restartCount"] == 0, status
        ready = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
        for path in ("/healthz", "/readyz"):
            assert _get(pod["status"]["podIP"], manifests.METRICS_PORT, path) == (200, "ok")
    leader = wait_leader(deployed.kubectl, set(running))
    assert leader in running
    assert lease(deployed.kubectl)["spec"]["leaseTransitions"] == 0


def test_the_seeds_story_driven_by_the_in_cluster_operator(deployed: Deployed, ns: str) -> None:
    scale_story(deployed.kubectl, ns, image=deployed.redis_image)
    up = wait_event(deployed.kubectl, ns, "ScalingUp", "my-op-redis replicas set to 3", "(x2 over")
    assert up.type == "Normal" and up.source == "RedisOperator"
    rows = events(deployed.kubectl, ns)
    down = find(rows, "ScalingDown", "my-op-redis replicas set to 1")
    assert down is not None and down.type == "Warning"
    _once(rows, "ScalingUp", "my-op-redis replicas set to 2")
    assert find(rows, "SuccessfulDelete", "Deleted pod: my-op-redis-1") is not None
    _once(rows, "SuccessfulCreate", "Created service: my-op-redis")
    _unique(rows)
    for pod in pods(deployed.kubectl, ns).values():
        assert pod["spec"]["nodeName"] == realnode.NODE_NAME


def _pod_writes(audit: AuditLog, since: int, ns: str) -> list[dict[str, Any]]:
    return [
        e
        for e in audit.writes(OPERATOR_USER, since)
        if e["objectRef"].get("resource") == "pods" and e["objectRef"].get("namespace") == ns
    ]


def test_the_leader_pod_deleted_the_other_takes_over_and_converges_a_scale_made_meanwhile(
    deployed: Deployed, ns: str
) -> None:
    kubectl = deployed.kubectl
    kubectl.apply(redis(replicas=1, image=deployed.redis_image), "-n", ns)
    wait_ready_pods(kubectl, ns, ordinals(1))
    wait_status(kubectl, ns, 1, 1)
    running = operator_pods(kubectl)
    leader = wait_leader(kubectl, set(running))
    before = lease(kubectl)["spec"]
    since = deployed.audit.offset()
    deployed.logs.read(kubectl)

    deleted = datetime.now(UTC)
    kubectl("delete", "pod", leader, "-n", manifests.NAMESPACE, "--wait=false")
    scale(kubectl, ns, 3)
    lease_duration = before["leaseDurationSeconds"]
    # The standby, or the Deployment's replacement pod if it starts and asks first: either is
    # a correct successor, as long as it is not the deleted leader.
    successor: str = wait_for(
        lambda: (pod := holder_pod(kubectl)) not in (None, leader) and pod,
        f"a replica other than {leader} to hold the Lease",
        lease_duration,
        0.1,
    )
    after = lease(kubectl)["spec"]
    assert after["leaseTransitions"] == before["leaseTransitions"] + 1
    took = timestamp(after["acquireTime"]) - deleted
    print(f"takeover {took.total_seconds():.2f}s after the leader pod was deleted")
    assert took < timedelta(seconds=lease_duration), "the successor waited for the lease to expire"

    wait_ready_pods(kubectl, ns, ordinals(3))
    wait_status(kubectl, ns, 3, 3)
    created = [e for e in _pod_writes(deployed.audit, since, ns) if e["verb"] == "create"]
    names = sorted(e["objectRef"].get("name", "") for e in created)
    assert names == ["my-op-redis-1", "my-op-redis-2"], [
        (e["objectRef"], e["responseStatus"].get("code")) for e in created
    ]
    assert {e["responseStatus"].get("code") for e in created} == {201}
    wait_event(kubectl, ns, "ScalingUp", "my-op-redis replicas set to 3")
    _each_told_once(
        kubectl,
        ns,
        ("ScalingUp", "my-op-redis replicas set to 1"),
        ("ScalingUp", "my-op-redis replicas set to 3"),
        ("SuccessfulCreate", "Created pod: my-op-redis-0"),
        ("SuccessfulCreate", "Created pod: my-op-redis-1"),
        ("SuccessfulCreate", "Created pod: my-op-redis-2"),
    )
    rolled_out(kubectl)  # the Deployment's replacement for the deleted pod
    assert holder_pod(kubectl) == successor


def test_metrics_are_scraped_from_each_pod_and_through_the_metrics_service(
    deployed: Deployed,
) -> None:
    kubectl = deployed.kubectl
    running = operator_pods(kubectl)
    leader = wait_leader(kubectl, set(running))
    acted = f'{PREFIX}_reconcile_total{{outcome="acted"}}'
    for name, pod in running.items():
        status, body = _get(pod["status"]["podIP"], manifests.METRICS_PORT, "/metrics")
        assert status == 200
        assert f"{PREFIX}_workqueue_depth" in body
        assert "event_recorder_events_recorded_total" in body
        (line,) = [x for x in body.splitlines() if x.startswith(acted)]
        # Only the Lease holder runs passes.
        assert (float(line.split()[-1]) > 0) == (name == leader), (name, leader, line)
    service = kubectl.json("get", "service", manifests.METRICS_SERVICE, "-n", manifests.NAMESPACE)
    address, port = service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"]

    def through_the_service() -> str | None:
        try:
            status, body = _get(address, port, "/metrics")
        except OSError:
            return None  # kube-proxy has not written the rule for a new endpoint yet
        return body if status == 200 else None

    assert f"{PREFIX}_workqueue_depth" in wait_for(through_the_service, "/metrics via its Service")


DISALLOWED = "evil.example/redis:7"


def test_an_invalid_image_is_refused_by_the_webhook_through_its_service(
    deployed: Deployed, ns: str
) -> None:
    """The allow-list turned on in the Deployment (a rollout), then a Redis naming another
    registry is refused by the webhook: the apiserver reached a pod through the Service."""
    kubectl = deployed.kubectl
    deployed.logs.read(kubectl)
    allow = {
        "op": "add",
        "path": "/spec/template/spec/containers/0/args/-",
        "value": "--allowed-image-prefix=localhost/",
    }
    kubectl(
        "patch", DEPLOYMENT, "-n", manifests.NAMESPACE, "--type=json", "-p", json.dumps([allow])
    )
    rolled_out(kubectl)
    wait_refusing(kubectl, ns, redis(image=DISALLOWED))
    manifest = json.dumps(redis(image=DISALLOWED))
    refused = kubectl.run("apply", "-n", ns, "-f", "-", stdin=manifest, check=False)
    assert refused.returncode != 0
    assert 'admission webhook "validate.redis.myapp.tangx.in" denied the request' in (
        refused.stderr
    ), refused.stderr
    assert f'spec.image: "{DISALLOWED}" is not from an allowed registry' in refused.stderr
    assert kubectl.run("get", "redis", "my-op-redis", "-n", ns, check=False).returncode != 0
    kubectl.apply(redis(replicas=1, image=deployed.redis_image), "-n", ns)
    wait_ready_pods(kubectl, ns, ordinals(1))


def test_a_rolling_update_to_a_new_tag_keeps_one_leader_and_loses_no_event(
    deployed: Deployed, ns: str
) -> None:
    kubectl = deployed.kubectl
    new_image = deployed.image + "-rollout"
    tag_image(deployed.cluster, deployed.image, new_image)
    kubectl.apply(redis(replicas=1, image=deployed.redis_image), "-n", ns)
    wait_ready_pods(kubectl, ns, ordinals(1))
    wait_status(kubectl, ns, 1, 1)
    old = set(operator_pods(kubectl))
    since = deployed.audit.offset()
    transitions = lease(kubectl)["spec"]["leaseTransitions"]

    kubectl("set", "image", DEPLOYMENT, f"operator={new_image}", "-n", manifests.NAMESPACE)
    scale(kubectl, ns, 2)
    scaled_again = False

    def rolled() -> bool:
        nonlocal scaled_again
        deployed.logs.read(kubectl)
        current = operator_pods(kubectl)
        images = {p["spec"]["containers"][0]["image"] for p in current.values()}
        if not scaled_again and images == {deployed.image, new_image}:
            scale(kubectl, ns, 3)  # in the middle of the rollout
            scaled_again = True
        deployment = kubectl.json("get", DEPLOYMENT, "-n", manifests.NAMESPACE)
        status = deployment["status"]
        return (
            status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("replicas") == 2
            and status.get("availableReplicas") == 2
            and images == {new_image}
            and not old & set(current)
        )

    wait_for(rolled, "the rollout to the new tag", 240)
    if not scaled_again:
        scale(kubectl, ns, 3)
    rolled_out(kubectl)

    new = set(operator_pods(kubectl))
    assert not new & old and len(new) == 2
    assert wait_leader(kubectl, new) in new
    assert lease(kubectl)["spec"]["leaseTransitions"] > transitions
    wait_ready_pods(kubectl, ns, ordinals(3))
    wait_status(kubectl, ns, 3, 3)
    wait_event(kubectl, ns, "ScalingUp", "my-op-redis replicas set to 3")
    _each_told_once(
        kubectl,
        ns,
        ("ScalingUp", "my-op-redis replicas set to 2"),
        ("ScalingUp", "my-op-redis replicas set to 3"),
        ("SuccessfulCreate", "Created pod: my-op-redis-1"),
        ("SuccessfulCreate", "Created pod: my-op-redis-2"),
    )
    # One leader at a time: the writers of the namespace's objects follow one another, none
    # writing again once another has.
    writers: list[str] = []
    for entry in deployed.audit.writes(OPERATOR_USER, since):
        if entry["objectRef"].get("namespace") != ns:
            continue
        writer = entry.get("userAgent", "").split(" ")[0]
        if not writers or writers[-1] != writer:
            assert writer not in writers, (writer, writers)
            writers.append(writer)
    assert writers, "no write of the in-cluster operator in the audit log"


def test_kube_proxy_marks_only_hairpin_packets_and_can_snat_only_to_the_bridge_address(
    deployed: Deployed,
) -> None:
    """kube-proxy's MASQUERADE (docs/operations.md#masquerade): with deploy/'s Services and
    the ``kubernetes`` one programmed, every mark is in an endpoint chain for packets from
    that endpoint's own address (a hairpin), which is on the bridge, where the route to it
    leads, with the bridge's address as its source: the only address MASQUERADE can pick."""
    rules = nat_rules()
    chains: dict[str, list[list[str]]] = {}
    for rule in rules:
        chains.setdefault(rule[0], []).append(rule)
    marking = [r for r in rules if r[-1] == "KUBE-MARK-MASQ"]
    assert marking, "kube-proxy wrote no endpoint chain"
    for rule in marking:
        chain = rule[0]
        assert chain.startswith("KUBE-SEP-"), rule
        source = rule[rule.index("-s") + 1]
        (dnat,) = [r for r in chains[chain] if "DNAT" in r]
        endpoint = dnat[dnat.index("--to-destination") + 1].rsplit(":", 1)[0]
        assert ipaddress.ip_network(source) == ipaddress.ip_network(f"{endpoint}/32"), rule
        route = subprocess.run(
            ["ip", "-o", "route", "get", endpoint], capture_output=True, text=True, check=True
        ).stdout.split()
        assert route[route.index("dev") + 1] in (realnode.BRIDGE, "lo"), route
        assert route[route.index("src") + 1] == realnode.BRIDGE_IP, route
    masquerading = [r for r in rules if "MASQUERADE" in r]
    assert [r[0] for r in masquerading] == ["KUBE-POSTROUTING"], masquerading
    postrouting = chains["KUBE-POSTROUTING"]
    assert postrouting[0][-1] == "RETURN" and "!" in postrouting[0], postrouting
    jumps = [r for r in rules if "KUBE-POSTROUTING" in r[1:]]
    assert [r[0] for r in jumps] == ["POSTROUTING"], jumps


def test_the_operators_log_has_no_forbidden_under_deploys_rbac(deployed: Deployed) -> None:
    """Last: every replica that ran in this module, its log kept as it went."""
    logs = deployed.logs.read(deployed.kubectl)
    assert len(logs) == 2 + 1 + 2 + 2  # the first two, a replacement, two rollouts of two
    for name, log in logs.items():
        assert "acquire lease" in log, (name, log[-2000:])
        assert_log_clean(log)
        assert "name resolution" not in log, log[-3000:]
