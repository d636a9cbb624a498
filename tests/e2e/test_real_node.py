"""Redis on a real node: containerd runs the pods, the kubelet probes them, Redis answers; and
the operator's own image runs there, reaching the apiserver through the ``kubernetes`` Service.

This module has its own cluster (one kwok node, one real node): one real node per machine, so
it is up only while these tests run.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from devcluster import realnode
from devcluster.cluster import DevCluster
from devcluster.components import NODE_IP, POD_CIDR
from devcluster.layout import Settings
from devcluster.supervisor import pid_alive
from redis_operator import manifests
from redis_operator.children import AUTH_SECRET_LABEL
from redis_operator.leaderelection.election import DEFAULT_LEASE_NAME
from redis_operator.metrics import PREFIX
from redis_operator.webhook import renewal
from tests.e2e import in_cluster
from tests.e2e.in_cluster import container_log, tag_image
from tests.e2e.operator import (
    OPERATOR_GROUPS,
    OPERATOR_USER,
    OperatorProcess,
    assert_log_clean,
    install_deploy,
)
from tests.e2e.realnode import (
    PROBE_PROCESSES,
    container_cgroup,
    in_pod_netns,
    nat_rules,
    pod_processes,
    redis_call,
    redis_server_pid,
    serves,
)
from tests.e2e.redis_objects import (
    auth_password,
    events,
    find,
    is_ready,
    ordinals,
    pods,
    redis,
    scale,
    wait_event,
    wait_ready_pods,
)
from tests.e2e.webhook import wait_refusing
from tests.support.cluster import throwaway_cluster
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


@dataclass(frozen=True)
class RealCluster:
    cluster: DevCluster
    kubectl: Kubectl
    redis_image: str
    ip_forward_before: str


@pytest.fixture(scope="module")
def real() -> Iterator[RealCluster]:
    ip_forward = IP_FORWARD.read_text()
    with throwaway_cluster("redis-op-e2e-real-", nodes=1, real_nodes=1) as cluster:
        node = Settings.load(cluster.layout.settings).node
        assert node is not None
        kubectl = Kubectl(cluster.kubectl_path(), cluster.kubeconfig)
        yield RealCluster(cluster, kubectl, node.redis_image, ip_forward)


@pytest.fixture
def ns(real: RealCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    real.kubectl.create_namespace(name)
    yield name
    real.kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator_kubeconfig(real: RealCluster) -> Path:
    install_deploy(real.kubectl)
    return real.cluster.issue_kubeconfig(OPERATOR_USER, OPERATOR_GROUPS)


@pytest.fixture
def operator(operator_kubeconfig: Path, ns: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(operator_kubeconfig, tmp_path / "operator.log", f"--namespace={ns}")
    process.start()
    yield process
    process.stop()
    assert_log_clean(process.log())


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "redis",
                    "image": image,
                    "command": ["redis-server", "--port", "7000", "--protected-mode", "no"],
                    "readinessProbe": {"tcpSocket": {"port": 7000}, "periodSeconds": 1},
                }
            ],
            **spec,
        },
    }


def _ready_pod(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=60s")
    pod: dict[str, Any] = kubectl.json("get", "pod", name, "-n", ns)
    return pod


def test_the_real_node_is_ready_on_the_bridge_and_kwok_nodes_are_tainted(
    real: RealCluster,
) -> None:
    nodes = {n["metadata"]["name"]: n for n in real.kubectl.json("get", "nodes")["items"]}
    assert set(nodes) == {realnode.NODE_NAME, "kwok-node-0"}
    node = nodes[realnode.NODE_NAME]
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == realnode.BRIDGE_IP
    # The node lifecycle controller taints a node not-ready when it registers and lifts the
    # taints at its next look once the kubelet reports Ready (every 5 s): wait for that.
    wait_for(
        lambda: not real.kubectl.json("get", "node", realnode.NODE_NAME)["spec"].get("taints"),
        "the real node without taints",
        60,
    )
    assert nodes["kwok-node-0"]["spec"]["taints"] == [realnode.KWOK_TAINT]


def test_pods_run_for_real_unless_they_tolerate_the_kwok_taint(real: RealCluster, ns: str) -> None:
    real.kubectl.apply(_pod("real", real.redis_image), "-n", ns)
    simulated = _pod(
        "simulated",
        real.redis_image,
        nodeSelector={"type": "kwok"},
        tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    )
    real.kubectl.apply(simulated, "-n", ns)
    pod = _ready_pod(real.kubectl, ns, "real")
    assert pod["spec"]["nodeName"] == realnode.NODE_NAME
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert serves(pod["status"]["podIP"], 7000)
    fake = _ready_pod(real.kubectl, ns, "simulated")
    assert fake["spec"]["nodeName"] == "kwok-node-0"
    assert fake["status"]["podIP"].startswith("127.")


def _route_device(address: str) -> str:
    out = subprocess.run(
        ["ip", "-o", "route", "get", address], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[out.index("dev") + 1]


def test_network_stays_on_the_machine(real: RealCluster, ns: str) -> None:
    """Every cluster range is routed to the bridge or lo; a pod has no way out, no resolver."""
    service_cidr = Settings.load(real.cluster.layout.settings).service_cidr
    assert service_cidr == realnode.SERVICE_SUBNET
    ranges = {
        "real pods": realnode.POD_SUBNET,
        "kwok pods": POD_CIDR,
        "services": service_cidr,
        "kwok node": f"{NODE_IP}/32",
        "real node": f"{realnode.BRIDGE_IP}/32",
    }
    for what, cidr in ranges.items():
        network = ipaddress.ip_network(cidr)
        for address in (network[0], network[-1], network[network.num_addresses // 2]):
            device = _route_device(str(address))
            assert device in (realnode.BRIDGE, "lo"), f"{what}: {address} routes via {device}"
    real.kubectl.apply(_pod("r", real.redis_image), "-n", ns)
    pod = _ready_pod(real.kubectl, ns, "r")
    routes = in_pod_netns(pod, "ip", "route", "show")
    assert routes.returncode == 0, routes.stderr
    assert "default" not in routes.stdout
    pod_routes = [line.split()[:3] for line in routes.stdout.splitlines()]
    assert sorted(pod_routes) == [
        [realnode.POD_SUBNET, "dev", "eth0"],
        [realnode.SERVICE_SUBNET, "via", realnode.BRIDGE_IP],
    ]
    way_out = in_pod_netns(pod, "ip", "route", "get", "192.0.2.1")
    assert way_out.returncode != 0
    assert "Network is unreachable" in way_out.stderr
    redis_pid = redis_server_pid(pod)
    resolv = Path(f"/proc/{redis_pid}/root/etc/resolv.conf").read_text()
    assert "nameserver" not in resolv, resolv
    assert IP_FORWARD.read_text() == real.ip_forward_before
    _assert_nat_stays_on_the_bridge()


def _assert_nat_stays_on_the_bridge() -> None:
    """kube-proxy's NAT: every DNAT leads to an address on the bridge; MASQUERADE only in its
    KUBE-POSTROUTING, for packets it marked, and it marks only those from the bridge's
    addresses (a pod or the host reaching itself through a Service): nothing is NATed out."""
    pods = ipaddress.ip_network(realnode.POD_SUBNET)
    rules = nat_rules()
    dnat = [r[r.index("--to-destination") + 1] for r in rules if "DNAT" in r]
    assert dnat, "kube-proxy wrote no rule for the kubernetes Service"
    for target in dnat:
        assert ipaddress.ip_address(target.rsplit(":", 1)[0]) in pods, target
    masquerading = {r[0] for r in rules if "MASQUERADE" in r}
    assert masquerading <= {"KUBE-POSTROUTING"}, masquerading
    for rule in (r for r in rules if r[-1] == "KUBE-MARK-MASQ"):
        assert "-s" in rule, rule
        source = rule[rule.index("-s") + 1]
        assert ipaddress.ip_network(source).subnet_of(pods), rule  # type: ignore[arg-type]


def test_every_redis_pod_answers_on_spec_port(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    """The tutorial's Redis, with the local image: PING, then SET and GET on each pod."""
    real.kubectl.apply(redis(replicas=2, image=real.redis_image), "-n", ns)
    current = wait_ready_pods(real.kubectl, ns, ordinals(2))
    for name, pod in current.items():
        assert pod["spec"]["nodeName"] == realnode.NODE_NAME
        ip = pod["status"]["podIP"]
        password = auth_password(real.kubectl, ns)
        assert redis_call(ip, 8333, "PING", password=password) == "+PONG"
        assert redis_call(ip, 8333, "SET", "owner", name, password=password) == "+OK"
        assert redis_call(ip, 8333, "GET", "owner", password=password) == name


def _serving_pods(
    kubectl: Kubectl, ns: str, names: set[str], port: int, check: Callable[[dict[str, Any]], bool]
) -> dict[str, dict[str, Any]]:
    password = auth_password(kubectl, ns)

    def ready() -> dict[str, dict[str, Any]] | None:
        current = pods(kubectl, ns)
        ok = set(current) == names and all(
            is_ready(p) and check(p) and serves(p["status"]["podIP"], port, password)
            for p in current.values()
        )
        return current if ok else None

    result: dict[str, dict[str, Any]] = wait_for(ready, f"pods {sorted(names)} serving", 120)
    return result


def test_deleting_a_pod_kills_redis_and_the_replacement_serves(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    real.kubectl.apply(redis(replicas=1, image=real.redis_image), "-n", ns)
    (pod,) = wait_ready_pods(real.kubectl, ns, ordinals(1)).values()
    pid = redis_server_pid(pod)
    real.kubectl("delete", "pod", "my-op-redis-0", "-n", ns, "--wait=false")
    wait_for(lambda: not pid_alive(pid), "the deleted pod's redis-server to exit", 30)
    (replacement,) = _serving_pods(
        real.kubectl,
        ns,
        ordinals(1),
        8333,
        lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"],
    ).values()
    assert redis_server_pid(replacement) != pid


def test_an_image_change_restarts_containers_one_at_a_time(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    retagged = real.redis_image + "-retagged"
    tag_image(real.cluster, real.redis_image, retagged)
    real.kubectl.apply(redis(replicas=3, image=real.redis_image), "-n", ns)
    before = wait_ready_pods(real.kubectl, ns, ordinals(3))
    pids = {redis_server_pid(p) for p in before.values()}
    real.kubectl.apply(redis(replicas=3, image=retagged), "-n", ns)
    most_unready = 0

    def replaced() -> bool:
        nonlocal most_unready
        current = pods(real.kubectl, ns)
        unready = [n for n, p in current.items() if not is_ready(p)]
        most_unready = max(most_unready, 3 - len(current) + len(unready))
        images = {p["spec"]["containers"][0]["image"] for p in current.values()}
        return images == {retagged} and len(current) == 3 and not unready

    wait_for(replaced, "every pod replaced with the new image", 120, interval=0.05)
    assert most_unready <= 1
    after = _serving_pods(
        real.kubectl,
        ns,
        ordinals(3),
        8333,
        lambda p: p["spec"]["containers"][0]["image"] == retagged,
    )
    assert not pids & {redis_server_pid(p) for p in after.values()}


def test_a_port_change_moves_the_listener(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    real.kubectl.apply(redis(replicas=2, image=real.redis_image), "-n", ns)
    wait_ready_pods(real.kubectl, ns, ordinals(2))
    real.kubectl.apply(redis(replicas=2, image=real.redis_image, port=9000), "-n", ns)
    current = _serving_pods(
        real.kubectl,
        ns,
        ordinals(2),
        9000,
        lambda p: p["spec"]["containers"][0]["ports"][0]["containerPort"] == 9000,
    )
    password = auth_password(real.kubectl, ns)
    for pod in current.values():
        assert not serves(pod["status"]["podIP"], 8333, password)
        assert set(pod_processes(pod).values()) - PROBE_PROCESSES == {"pause", "redis-server"}


def test_the_spec_resources_are_the_containers_cgroup_limits(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    resources = {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "128Mi"},
    }
    real.kubectl.apply(redis(replicas=1, image=real.redis_image, resources=resources), "-n", ns)
    (pod,) = wait_ready_pods(real.kubectl, ns, ordinals(1)).values()
    assert pod["spec"]["nodeName"] == realnode.NODE_NAME
    pid = redis_server_pid(pod)
    memory = container_cgroup(pod, "memory", pid)
    assert int((memory / "memory.limit_in_bytes").read_text()) == 128 * 2**20
    cpu = container_cgroup(pod, "cpu", pid)
    period = int((cpu / "cpu.cfs_period_us").read_text())
    assert int((cpu / "cpu.cfs_quota_us").read_text()) == period // 2  # 500m
    assert int((cpu / "cpu.shares").read_text()) == 256  # 250m: 1024 shares a CPU


def test_a_redis_that_tolerates_the_kwok_taint_is_simulated_on_kwok(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    """The fields a benchmark at scale uses: tolerate kwok's taint and select its nodes."""
    placement: dict[str, Any] = {
        "nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": realnode.KWOK_TAINT["key"], "operator": "Exists"}],
    }
    real.kubectl.apply(redis(replicas=2, image=real.redis_image, **placement), "-n", ns)
    for pod in wait_ready_pods(real.kubectl, ns, ordinals(2)).values():
        assert pod["spec"]["nodeName"] == "kwok-node-0"
        assert pod["status"]["podIP"].startswith("127.")
        assert not pod_processes(pod)


@pytest.fixture(scope="module")
def operator_image(real: RealCluster) -> str:
    """The operator's image, built from the Dockerfile (cached) and imported into the node."""
    return in_cluster.operator_image(real.cluster)


_IN_CLUSTER = """\
import asyncio
from kubernetes_asyncio import client, config

async def main():
    config.load_incluster_config()
    async with client.ApiClient() as api:
        version = await client.VersionApi(api).get_code()
    with open("/dev/termination-log", "w") as out:
        out.write(version.git_version)

asyncio.run(main())
"""


def test_a_pod_reaches_the_apiserver_through_the_kubernetes_service(
    real: RealCluster, ns: str, operator_image: str
) -> None:
    """In-cluster config from KUBERNETES_SERVICE_HOST/PORT: the Service's ClusterIP on the
    bridge's range, kube-proxy's DNAT to the apiserver on the bridge's address."""
    service = real.kubectl.json("get", "service", "kubernetes", "-n", "default")
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in ipaddress.ip_network(
        realnode.SERVICE_SUBNET
    )
    slice_ = real.kubectl.json("get", "endpointslice", "kubernetes", "-n", "default")
    assert [e["addresses"] for e in slice_["endpoints"]] == [[realnode.BRIDGE_IP]]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "in-cluster"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "c", "image": operator_image, "command": ["python3", "-c", _IN_CLUSTER]}
            ],
        },
    }
    real.kubectl.apply(pod, "-n", ns)

    def finished() -> dict[str, Any] | None:
        current: dict[str, Any] = real.kubectl.json("get", "pod", "in-cluster", "-n", ns)
        done = current["status"].get("phase") in ("Succeeded", "Failed")
        return current if done else None

    done = wait_for(finished, "the in-cluster pod to finish", 120)
    assert done["spec"]["nodeName"] == realnode.NODE_NAME
    (status,) = done["status"]["containerStatuses"]
    terminated = status["state"]["terminated"]
    assert (terminated["exitCode"], terminated["message"]) == (0, _kubernetes_version(real))


def _kubernetes_version(real: RealCluster) -> str:
    version: str = json.loads(real.kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
    return version


#: The Deployment's policy in this test: only the dev cluster's local images.
_LOCAL_ONLY = "--allowed-image-prefix=localhost/"


def _webhook_configuration(real: RealCluster, ns: str) -> None:
    """deploy/'s webhook configuration, scoped to the test's namespace, and no Secret yet: the
    operator creates it and fills in the caBundle."""
    _remove_webhook(real)
    config = manifests.validating_webhook_configuration()
    for webhook in config["webhooks"]:
        webhook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    real.kubectl.apply(config)


def _remove_webhook(real: RealCluster) -> None:
    for kind, name, namespace in (
        ("validatingwebhookconfiguration", manifests.CONFIGURATION_NAME, []),
        ("secret", manifests.WEBHOOK_SECRET, ["-n", manifests.NAMESPACE]),
    ):
        real.kubectl.run("delete", kind, name, *namespace, "--ignore-not-found", check=False)


def _ca_bundle(real: RealCluster) -> bytes:
    config = real.kubectl.json(
        "get", "validatingwebhookconfiguration", manifests.CONFIGURATION_NAME
    )
    (webhook,) = config["webhooks"]
    return base64.b64decode(webhook["clientConfig"].get("caBundle", ""))


def _refused_through_the_service(real: RealCluster, ns: str) -> None:
    """The apiserver calls the webhook through its Service (kube-proxy's rules to a pod) and
    trusts its certificate by the caBundle the operator wrote: a Redis with an image outside
    the allow-list is refused (with failurePolicy Ignore, an unreachable or untrusted webhook
    would let it through)."""
    probe = {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": "probe"},
        "spec": {"replicas": 1, "image": "evil.io/redis:7"},
    }
    stderr = wait_refusing(real.kubectl, ns, probe, timeout=90)
    assert 'admission webhook "validate.redis.myapp.tangx.in" denied the request' in stderr
    assert 'spec.image: "evil.io/redis:7" is not from an allowed registry' in stderr


def test_the_operator_runs_from_its_image_under_deploy_rbac_ready_by_the_kubelets_probes(
    real: RealCluster, operator_kubeconfig: Path, operator_image: str, ns: str
) -> None:
    """deploy/'s Deployment (2 replicas, its ServiceAccount, probes, read-only root, non-root
    user, the webhook certificate managed by the operator) with the local image: both pods
    Ready by the kubelet's probe of /readyz, which holds only once each has listed Redis
    objects through the apiserver; one leads; both serve the Secret's certificate, which the
    apiserver trusts by the caBundle the operator keeps."""
    _webhook_configuration(real, ns)
    deployment = manifests.deployment()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["image"] = operator_image
    container["args"] = [*container["args"], _LOCAL_ONLY]
    real.kubectl.apply(deployment)
    try:
        real.kubectl(
            "rollout",
            "status",
            f"deployment/{manifests.NAME}",
            "-n",
            manifests.NAMESPACE,
            "--timeout=180s",
        )
        selector = ",".join(f"{k}={v}" for k, v in manifests.LABELS.items())
        listed = real.kubectl.json("get", "pods", "-n", manifests.NAMESPACE, "-l", selector)
        running = {p["metadata"]["name"]: p for p in listed["items"]}
        assert len(running) == 2
        for pod in running.values():
            assert pod["spec"]["nodeName"] == realnode.NODE_NAME
            assert pod["spec"]["serviceAccountName"] == manifests.NAME
            (status,) = pod["status"]["containerStatuses"]
            assert status["ready"] and status["restartCount"] == 0, status

        def holder() -> str | None:
            lease = real.kubectl.json("get", "lease", DEFAULT_LEASE_NAME, "-n", manifests.NAMESPACE)
            identity: str | None = lease["spec"].get("holderIdentity")
            return identity or None

        leader = wait_for(holder, "a replica to hold the Lease", 60)
        assert leader.rsplit("_", 1)[0] in running
        secret = real.kubectl.json(
            "get", "secret", manifests.WEBHOOK_SECRET, "-n", manifests.NAMESPACE
        )
        material = renewal.parse(secret["data"])
        assert _ca_bundle(real) == material.ca_bundle()
        served = _reached_through_their_services(
            real, {p["status"]["podIP"] for p in running.values()}, material.ca_bundle()
        )
        assert served == material.serving.certificate
        _refused_through_the_service(real, ns)
        for name in running:
            log = container_log(real.cluster, name)
            assert_log_clean(log)
            assert "name resolution" not in log, log[-3000:]
    finally:
        for kind, name in (
            ("deployment", manifests.NAME),
            ("service", manifests.METRICS_SERVICE),
            ("service", manifests.WEBHOOK_SERVICE),
        ):
            real.kubectl(
                "delete", kind, name, "-n", manifests.NAMESPACE, "--ignore-not-found", "--wait"
            )
        _remove_webhook(real)


def _service_address(
    real: RealCluster, name: str, pod_ips: set[str], namespace: str = manifests.NAMESPACE
) -> tuple[str, int]:
    """A Service's ClusterIP and port, once the EndpointSlice controller lists exactly these
    pods and kube-proxy's rules lead to them."""
    service = real.kubectl.json("get", "service", name, "-n", namespace)
    address = service["spec"]["clusterIP"]
    if ipaddress.ip_address(address) not in ipaddress.ip_network(realnode.SERVICE_SUBNET):
        raise AssertionError(f"{address} is not in the Service range routed to the bridge")
    selector = f"kubernetes.io/service-name={name}"

    def listed() -> bool:
        slices = real.kubectl.json("get", "endpointslices", "-n", namespace, "-l", selector)
        ready = {
            a
            for s in slices["items"]
            for e in s.get("endpoints") or []
            if e.get("conditions", {}).get("ready")
            for a in e["addresses"]
        }
        return ready == pod_ips

    wait_for(listed, f"the EndpointSlice of {name} to list the pods", 60)
    comment = f"{namespace}/{name}:{service['spec']['ports'][0]['name']}"

    def programmed() -> bool:
        targets = {
            r[r.index("--to-destination") + 1].rsplit(":", 1)[0]
            for r in nat_rules()
            if "DNAT" in r and comment in r
        }
        return targets == pod_ips

    wait_for(programmed, f"kube-proxy's rules for {name}", 60)
    return address, service["spec"]["ports"][0]["port"]


def _reached_through_their_services(
    real: RealCluster, pod_ips: set[str], ca_bundle: bytes
) -> x509.Certificate:
    """deploy/'s Services get endpoints from the EndpointSlice controller and kube-proxy's
    rules lead to them from the host: /metrics over HTTP, the webhook's TLS handshake trusting
    only ``ca_bundle``, for the Service's name; answers the certificate served."""
    real.kubectl.apply(manifests.metrics_service())
    real.kubectl.apply(manifests.webhook_service())
    host, port = _service_address(real, manifests.METRICS_SERVICE, pod_ips)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with direct.open(f"http://{host}:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert f"{PREFIX}_workqueue_depth" in response.read().decode()
    host, port = _service_address(real, manifests.WEBHOOK_SERVICE, pod_ips)
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    name = f"{manifests.WEBHOOK_SERVICE}.{manifests.NAMESPACE}.svc"
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _cmdlines(pod: dict[str, Any]) -> list[str]:
    """The argv of every process of the pod, as `ps` would show it."""
    found = []
    for pid in pod_processes(pod):
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_a_password_is_required_and_shown_nowhere(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    """The tutorial's manifest, secure by default: NOAUTH without the generated password,
    refused with a wrong one; the Secret's works; it is in no argv, pod spec, status or Event."""
    real.kubectl.apply(redis(replicas=1, image=real.redis_image), "-n", ns)
    (pod,) = wait_ready_pods(real.kubectl, ns, ordinals(1)).values()  # the probe authenticates
    ip = pod["status"]["podIP"]
    password = auth_password(real.kubectl, ns)
    assert redis_call(ip, 8333, "PING").startswith("-NOAUTH")
    assert redis_call(ip, 8333, "PING", password="not-" + password).startswith("-WRONGPASS")
    assert redis_call(ip, 8333, "PING", password=password) == "+PONG"
    assert redis_call(ip, 8333, "SET", "k", "v", password=password) == "+OK"
    assert redis_call(ip, 8333, "GET", "k", password=password) == "v"
    shown = [
        *_cmdlines(pod),
        real.kubectl("get", "pod", "my-op-redis-0", "-n", ns, "-o", "json"),
        real.kubectl("get", "redis", "my-op-redis", "-n", ns, "-o", "json"),
        real.kubectl("describe", "redis", "my-op-redis", "-n", ns),
        real.kubectl("get", "events", "-n", ns, "-o", "json"),
        operator.log(),
    ]
    assert not [text for text in shown if password in text]
    environ = Path(f"/proc/{redis_server_pid(pod)}/environ").read_bytes().decode(errors="replace")
    assert password not in environ


def test_a_user_secret_is_the_password(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    """A user's Secret, labelled for the operator to watch it; rotating the password in it
    replaces the pod, which then requires the new one."""
    real.kubectl(
        "create", "secret", "generic", "mine", "-n", ns, "--from-literal=pw=user-chosen-pass"
    )
    real.kubectl("label", "secret", "mine", "-n", ns, f"{AUTH_SECRET_LABEL}=my-op-redis")
    auth = {"secretRef": {"name": "mine", "key": "pw"}}
    real.kubectl.apply(redis(replicas=1, image=real.redis_image, auth=auth), "-n", ns)
    (pod,) = wait_ready_pods(real.kubectl, ns, ordinals(1)).values()
    ip = pod["status"]["podIP"]
    assert redis_call(ip, 8333, "PING").startswith("-NOAUTH")
    assert redis_call(ip, 8333, "PING", password="user-chosen-pass") == "+PONG"
    secrets = real.kubectl.json("get", "secrets", "-n", ns)["items"]
    assert [s["metadata"]["name"] for s in secrets] == ["mine"]

    rotated = base64.b64encode(b"rotated-pass").decode()
    real.kubectl("patch", "secret", "mine", "-n", ns, "-p", json.dumps({"data": {"pw": rotated}}))

    def restarted() -> dict[str, Any] | None:
        current = pods(real.kubectl, ns).get("my-op-redis-0")
        if current is None or current["metadata"]["uid"] == pod["metadata"]["uid"]:
            return None
        return current if is_ready(current) else None

    pod = wait_for(restarted, "the pod replaced with the rotated password", 90)
    ip = pod["status"]["podIP"]
    assert redis_call(ip, 8333, "PING", password="user-chosen-pass").startswith("-WRONGPASS")
    assert redis_call(ip, 8333, "PING", password="rotated-pass") == "+PONG"
    replaced = "Replacing pod my-op-redis-0: its image, port, password, resources or placement"
    assert find(events(real.kubectl, ns), "PodReplaced", f"{replaced} do not match the spec")


def test_auth_disabled_serves_without_a_password(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    spec = {"image": real.redis_image, "auth": {"disabled": True}}
    real.kubectl.apply(redis(replicas=1, **spec), "-n", ns)
    (pod,) = wait_ready_pods(real.kubectl, ns, ordinals(1)).values()
    assert serves(pod["status"]["podIP"], 8333)


def _primary(
    kubectl: Kubectl, ns: str, count: int = 3, exclude: str | None = None
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The one pod labelled primary (not `exclude`) once status names it and `count` pods are
    Ready; never two labelled at any observation."""

    def settled() -> tuple[str, dict[str, dict[str, Any]]] | None:
        current = pods(kubectl, ns)
        labelled = [n for n, p in current.items() if p["metadata"]["labels"].get(ROLE) == "primary"]
        assert len(labelled) <= 1, labelled
        status = kubectl.json("get", "redis", "my-op-redis", "-n", ns).get("status") or {}
        ready = len(current) == count and all(is_ready(p) for p in current.values())
        if labelled and status.get("primary") == labelled[0] and ready:
            return None if labelled[0] == exclude else (labelled[0], current)
        return None

    found: tuple[str, dict[str, dict[str, Any]]] = wait_for(
        settled, f"one primary, {count} Ready", 120
    )
    return found


ROLE = "myapp.tangx.in/role"


def test_replication_a_write_to_the_primary_is_read_on_every_replica_and_survives_failover(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    manifest = redis(replicas=3, image=real.redis_image, mode="replication")
    real.kubectl.apply(manifest, "-n", ns)
    primary, current = _primary(real.kubectl, ns)
    assert primary == "my-op-redis-0"
    password = auth_password(real.kubectl, ns)
    primary_ip = current[primary]["status"]["podIP"]
    assert redis_call(primary_ip, 8333, "SET", "k", "v1", password=password) == "+OK"
    assert redis_call(primary_ip, 8333, "WAIT", "2", "2000", password=password) == ":2"
    for name, pod in current.items():
        ip = pod["status"]["podIP"]
        assert redis_call(ip, 8333, "GET", "k", password=password) == "v1", name
        if name != primary:
            answer = redis_call(ip, 8333, "SET", "k", "x", password=password)
            assert answer.startswith("-READONLY"), answer
    rows = events(real.kubectl, ns)
    assert find(rows, "PrimaryElected", "my-op-redis-0 is the primary of my-op-redis")
    assert find(rows, "ReplicaAttached", "my-op-redis-1 replicates from my-op-redis-0")

    # The write address: <name>-primary's ClusterIP leads to the primary only (kube-proxy on
    # the real node), and a write there is on both replicas within a second (WAIT's timeout).
    host, port = _service_address(real, "my-op-redis-primary", {primary_ip}, ns)
    assert redis_call(host, port, "SET", "via", "service", password=password) == "+OK"
    assert redis_call(host, port, "WAIT", "2", "1000", password=password) == ":2"
    replica_ips = {p["status"]["podIP"] for n, p in current.items() if n != primary}
    _service_address(real, "my-op-redis-replicas", replica_ips, ns)
    for ip in replica_ips:
        assert redis_call(ip, 8333, "GET", "via", password=password) == "service"
    expected = {
        (f"{PREFIX}_replication_primary", ns, "my-op-redis", primary): 1.0,
        (f"{PREFIX}_replication_connected_replicas", ns, "my-op-redis", None): 2.0,
    }

    # The gauges are as of the last replication step (one every few seconds).
    def current_metrics() -> str | None:
        text = _scrape(operator)
        values = {
            (s.name, s.labels.get("namespace"), s.labels.get("redis"), s.labels.get("pod")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        return text if all(values.get(k) == v for k, v in expected.items()) else None

    scraped: str = wait_for(current_metrics, "the replication metrics", 30)
    shown = [scraped, operator.log(), real.kubectl("get", "events", "-n", ns, "-o", "json")]
    shown.append(real.kubectl("get", "redis,pods,services", "-n", ns, "-o", "json"))
    assert not [text for text in shown if password in text]

    # The primary's pod is deleted: a replica is promoted, the key is there, one label.
    real.kubectl("delete", "pod", primary, "-n", ns, "--wait=false")
    wait_for(
        lambda: (
            (real.kubectl.json("get", "redis", "my-op-redis", "-n", ns).get("status") or {}).get(
                "primary"
            )
            not in (None, primary)
        ),
        "a new primary",
        60,
    )
    new_primary, current = _primary(real.kubectl, ns)
    assert new_primary != primary
    ip = current[new_primary]["status"]["podIP"]
    assert redis_call(ip, 8333, "GET", "k", password=password) == "v1"
    assert redis_call(ip, 8333, "SET", "k", "v2", password=password) == "+OK"
    returned = current[primary]["status"]["podIP"]  # recreated, now a replica
    wait_for(
        lambda: redis_call(returned, 8333, "GET", "k", password=password) == "v2",
        "the recreated pod to follow the new primary",
        30,
    )
    assert any(r.reason == "FailoverCompleted" for r in events(real.kubectl, ns))


def _scrape(operator: OperatorProcess) -> str:
    """The operator's /metrics, at the loopback address its log names."""
    served = r"serving /metrics, /healthz and /readyz on (http://127\.0\.0\.1:\d+)"
    found = re.search(served, operator.log())
    assert found is not None, "the operator did not say where it serves /metrics"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with direct.open(f"{found.group(1)}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    return text


def _status(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "redis", "my-op-redis", "-n", ns).get("status")
    return status or {}


def test_replication_scale_3_5_2_attaches_replicas_and_keeps_the_primary(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    real.kubectl.apply(redis(replicas=3, image=real.redis_image, mode="replication"), "-n", ns)
    primary, current = _primary(real.kubectl, ns)
    uid = current[primary]["metadata"]["uid"]
    password = auth_password(real.kubectl, ns)
    primary_ip = current[primary]["status"]["podIP"]
    assert redis_call(primary_ip, 8333, "SET", "k", "v", password=password) == "+OK"

    scale(real.kubectl, ns, 5)
    grown = _primary(real.kubectl, ns, count=5)
    assert grown[0] == primary and grown[1][primary]["metadata"]["uid"] == uid
    for name in ("my-op-redis-3", "my-op-redis-4"):
        wait_event(real.kubectl, ns, "ReplicaAttached", f"{name} replicates from {primary}")
        ip = grown[1][name]["status"]["podIP"]
        assert redis_call(ip, 8333, "GET", "k", password=password) == "v"

    scale(real.kubectl, ns, 2)
    shrunk = _primary(real.kubectl, ns, count=2)
    assert shrunk[0] == primary and shrunk[1][primary]["metadata"]["uid"] == uid
    assert set(shrunk[1]) == ordinals(2)
    rows = events(real.kubectl, ns)
    assert find(rows, "ScalingUp", "my-op-redis replicas set to 5")
    assert find(rows, "ScalingDown", "my-op-redis replicas set to 2")
    assert not [r for r in rows if r.reason in ("FailoverCompleted", "PrimaryLost")]
    assert redis_call(primary_ip, 8333, "SET", "k", "w", password=password) == "+OK"
    assert redis_call(primary_ip, 8333, "WAIT", "1", "1000", password=password) == ":1"


def test_an_operator_killed_during_a_failover_completes_it_once_restarted(
    real: RealCluster, ns: str, operator: OperatorProcess
) -> None:
    """SIGKILL while the failover clock runs (PrimaryLost told, nobody promoted yet): the new
    process resumes from the status and promotes exactly one replica, once."""
    real.kubectl.apply(redis(replicas=3, image=real.redis_image, mode="replication"), "-n", ns)
    primary, current = _primary(real.kubectl, ns)
    password = auth_password(real.kubectl, ns)
    primary_ip = current[primary]["status"]["podIP"]
    for i in range(100):
        assert redis_call(primary_ip, 8333, "SET", f"k{i}", "v", password=password) == "+OK"
    assert redis_call(primary_ip, 8333, "WAIT", "2", "2000", password=password) == ":2"

    os.kill(redis_server_pid(current[primary]), signal.SIGKILL)  # the pod stays
    wait_for(lambda: _status(real.kubectl, ns).get("primaryLostSince"), "PrimaryLost", 30)
    operator.kill()
    assert not [r for r in events(real.kubectl, ns) if r.reason == "FailoverCompleted"]
    operator.start()

    new_primary, after = _primary(real.kubectl, ns, exclude=primary)
    assert new_primary != primary
    listed = real.kubectl.json("get", "events", "-n", ns)["items"]
    (completed,) = [e for e in listed if e["reason"] == "FailoverCompleted"]
    assert completed.get("count", 1) == 1  # one promotion, told once
    assert completed["message"].startswith(f"Promoted {new_primary} at offset ")
    masters = []
    for name, pod in after.items():
        info = redis_call(pod["status"]["podIP"], 8333, "INFO", "replication", password=password)
        if "role:master" in info:
            masters.append(name)
    assert masters == [new_primary]
    ip = after[new_primary]["status"]["podIP"]
    assert redis_call(ip, 8333, "DBSIZE", password=password) == ":100"
