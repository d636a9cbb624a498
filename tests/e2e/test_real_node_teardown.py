"""A real node leaves nothing behind: after ``down``, and after its supervisor is SIGKILLed.

Checked one by one: processes (by pid), mounts, ``/kubepods`` cgroups, the bridge and veths,
network namespaces, iptables tables, the kubelet's fixed paths, ``ip_forward``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster import realnode
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


def _ip_tables() -> str:
    path = Path("/proc/net/ip_tables_names")
    return path.read_text() if path.exists() else ""


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

    ip_forward: str
    ip_tables: str
    veths: str

    @classmethod
    def now(cls) -> Machine:
        return cls(Path("/proc/sys/net/ipv4/ip_forward").read_text(), _ip_tables(), _veths())


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
    return running


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
    if _ip_tables() != before.ip_tables:
        left.append(f"iptables tables {_ip_tables()!r}")
    if Path("/proc/sys/net/ipv4/ip_forward").read_text() != before.ip_forward:
        left.append("ip_forward changed")
    return left


def test_down_leaves_nothing() -> None:
    before = Machine.now()
    cluster = _cluster()
    try:
        running = _start(cluster, owner_pid=os.getpid())
    finally:
        cluster.down()
    assert _left(running, before) == []
    assert not cluster.layout.root.exists()


def test_a_killed_supervisor_leaves_nothing() -> None:
    """SIGKILL: no code of the supervisor runs; its janitor tears the node down."""
    before = Machine.now()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    cluster = _cluster()
    try:
        running = _start(cluster, owner_pid=owner.pid)
        supervisor = running.cluster.status().processes["supervisor"]
        assert supervisor is not None
        os.kill(supervisor, signal.SIGKILL)
        wait_for(lambda: _left(running, before) == [], "the janitor to tear the node down", 60)
    finally:
        owner.kill()
        owner.wait()
        cluster.down()
