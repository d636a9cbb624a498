"""A real node leaves nothing behind: after ``down``, and after its supervisor is SIGKILLed.

Checked one by one: processes (by pid), mounts, ``/kubepods`` cgroups, the bridge and veths,
network namespaces, the Service range's route, iptables rules and chains (kube-proxy's and the
kubelet's, both families, a crashed earlier run's too; someone else's stay), the kubelet's fixed
paths, the sysctls kube-proxy could change.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster import iptables, realnode
from devcluster.cluster import DevCluster
from devcluster.layout import Settings
from devcluster.supervisor import pid_alive
from devcluster.teardown import (
    container_processes,
    created_host_paths,
    kubepods_cgroups,
    network_namespace_files,
    owned_mounts,
    owned_processes,
)
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e


#: What kube-proxy or the kubelet could set, and must leave as found.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
)


def _sysctls() -> dict[str, str]:
    found = {}
    for name in SYSCTLS:
        path = Path("/proc/sys") / name
        found[name] = path.read_text() if path.exists() else ""
    return found


def _rules() -> str:
    """Both families' tables, chains and rules, without counters or the dump's dates."""
    out = []
    for family in ("iptables", "ip6tables"):
        saved = subprocess.run(
            [f"{family}-save"], capture_output=True, text=True, check=True
        ).stdout
        out += [
            re.sub(r"\[\d+:\d+\]", "", line)
            for line in saved.splitlines()
            if not line.startswith("#")
        ]
    return "\n".join(out)


def _service_route() -> str:
    return subprocess.run(
        ["ip", "route", "show", realnode.SERVICE_SUBNET], capture_output=True, text=True, check=True
    ).stdout


def _live_network_namespaces() -> set[int]:
    """Inodes of the network namespaces some process is in."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            link = os.readlink(entry / "ns" / "net") if entry.name.isdigit() else ""
        except OSError:
            continue
        if link.startswith("net:["):
            found.add(int(link[5:-1]))
    return found


def _veths() -> str:
    return subprocess.run(
        ["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True
    ).stdout


@dataclass(frozen=True)
class Machine:
    """What a real node may change on the machine, as found before ``up``."""

    sysctls: dict[str, str]
    rules: str
    veths: str

    @classmethod
    def now(cls) -> Machine:
        return cls(_sysctls(), _rules(), _veths())


@dataclass(frozen=True)
class Running:
    """A real node with a Redis pod running on it, and what it put on the machine."""

    cluster: DevCluster
    pids: list[int]
    mounts: list[str]
    netns: list[Path]
    netns_inodes: set[int]
    host_paths: list[Path]


def _cluster() -> DevCluster:
    return DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="redis-op-e2e-teardown-")))


def _start(cluster: DevCluster, owner_pid: int) -> Running:
    cluster.up(nodes=0, real_nodes=1, owner_pid=owner_pid)
    node = Settings.load(cluster.layout.settings).node
    assert node is not None
    kubectl = Kubectl(cluster.kubectl_path(), cluster.kubeconfig)
    image = f"--image={node.redis_image}"
    kubectl("run", "r", image, "--restart=Never", "--command", "--", "redis-server")
    kubectl("wait", "--for=condition=Ready", "pod/r", "--timeout=60s")
    root = cluster.layout.root
    pids = [p for p in cluster.status().processes.values() if p is not None]
    pids += owned_processes(root) + container_processes()
    netns = network_namespace_files(root)
    inodes = {n.stat().st_ino for n in netns}
    host_paths = [p for p in created_host_paths(root) if p.exists()]
    running = Running(cluster, pids, owned_mounts(root), netns, inodes, host_paths)
    assert len(container_processes()) == 2, "the pod's pause and redis-server"
    assert running.netns and running.mounts
    assert Path("/var/lib/kubelet") in running.host_paths
    assert realnode.bridge_exists()
    assert _service_route(), "the Service range is routed to the bridge"
    assert ":KUBE-SERVICES" in _rules(), "kube-proxy's chains"
    return running


def _iptables(family: str, table: str, *args: str) -> None:
    subprocess.run([family, "-w", "-t", table, *args], check=True)


def _leave_kubelet_chains_as_a_crash_would() -> None:
    """Before ``up``: the kubelet's chains as a crashed earlier run leaves them (``kube-proxy
    --cleanup`` keeps them), with its jumps; teardown must remove them though ``up`` found them.
    Should ``up`` fail before it wrote its state, they stay, harmless (empty), until the next
    real node's teardown."""
    assert not realnode.bridge_exists() and not iptables.node_chains(), "a real node runs here"
    for family in ("iptables", "ip6tables"):
        _iptables(family, "mangle", "-N", "KUBE-IPTABLES-HINT")
        for table in ("mangle", "nat", "filter"):
            _iptables(family, table, "-N", "KUBE-KUBELET-CANARY")
    _iptables("iptables", "filter", "-N", "KUBE-FIREWALL")
    for chain in ("INPUT", "OUTPUT"):
        _iptables("iptables", "filter", "-I", chain, "-j", "KUBE-FIREWALL")


@contextlib.contextmanager
def _other_chain() -> Iterator[None]:
    """A ``KUBE-`` chain neither the kubelet nor kube-proxy could make, jumped to from a
    built-in chain (for a source never seen here): someone else's, which teardown keeps."""
    rule = ("INPUT", "-s", "192.0.2.254/32", "-j", "KUBE-E2E-OTHER")
    _iptables("iptables", "filter", "-N", "KUBE-E2E-OTHER")
    _iptables("iptables", "filter", "-A", *rule)
    try:
        yield
    finally:
        _iptables("iptables", "filter", "-D", *rule)
        _iptables("iptables", "filter", "-X", "KUBE-E2E-OTHER")


def _left(running: Running, before: Machine) -> list[str]:
    left = []
    if alive := [p for p in running.pids if pid_alive(p)]:
        left.append(f"processes {alive}")
    mounted = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    if still := [m for m in running.mounts if m in mounted]:
        left.append(f"mounts {still}")
    if cgroups := kubepods_cgroups():
        left.append(f"cgroups {cgroups[-1]}")
    if realnode.bridge_exists():
        left.append(f"bridge {realnode.BRIDGE}")
    if _veths() != before.veths:
        left.append(f"veths {_veths()}")
    if netns := [n for n in running.netns if n.exists()]:
        left.append(f"network namespace files {netns}")
    if held := running.netns_inodes & _live_network_namespaces():
        left.append(f"network namespaces {held}")
    if paths := [p for p in running.host_paths if p.exists()]:
        left.append(f"paths {paths}")
    if (rules := _rules()) != before.rules:
        changed = set(rules.splitlines()) ^ set(before.rules.splitlines())
        left.append(f"iptables changed: {sorted(changed)[:8]}")
    if _service_route():
        left.append(f"route {_service_route()}")
    if (sysctls := _sysctls()) != before.sysctls:
        left.append(f"sysctls {sysctls} (were {before.sysctls})")
    return left


def test_down_leaves_nothing() -> None:
    with _other_chain():
        before = Machine.now()
        cluster = _cluster()
        try:
            _leave_kubelet_chains_as_a_crash_would()
            running = _start(cluster, owner_pid=os.getpid())
        finally:
            cluster.down()
        assert _left(running, before) == []
    assert not cluster.layout.root.exists()


def test_a_killed_supervisor_leaves_nothing() -> None:
    """SIGKILL: no code of the supervisor runs; its janitor tears the node down."""
    with _other_chain():
        before = Machine.now()
        owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        cluster = _cluster()
        try:
            _leave_kubelet_chains_as_a_crash_would()
            running = _start(cluster, owner_pid=owner.pid)
            supervisor = running.cluster.status().processes["supervisor"]
            assert supervisor is not None
            os.kill(supervisor, signal.SIGKILL)
            wait_for(lambda: _left(running, before) == [], "the janitor to tear the node down", 60)
        finally:
            owner.kill()
            owner.wait()
            cluster.down()
