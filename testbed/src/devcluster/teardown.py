"""Remove everything a real node left on the machine; safe to run twice, and after a crash.

Processes are found by pid only: the shims by a command line naming this cluster's state dir
(containerd's socket is in it), the containers by the ``kubepods`` cgroups the kubelet made.
Then the mounts under the state dir and the kubelet's fixed paths are unmounted, the cgroups,
the bridge (its veths go with the network namespaces and the Service route with the bridge),
kube-proxy's rules (``kube-proxy --cleanup``, then every chain the kubelet or kube-proxy could
have made: ``iptables``) and the fixed paths ``up`` created are removed. ``leftovers`` lists
whatever is still there: ``down`` and the tests use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devcluster import iptables
from devcluster.layout import Layout, Settings
from devcluster.realnode import BRIDGE, HOST_PATHS, NodeFiles, bridge_exists

CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def shim_processes(socket: Path) -> list[int]:
    """containerd shims serving this cluster's containerd (``-address <its socket>``).

    A shim outlives containerd by design (it detaches into its own session), so it is found by
    that argument, which names this cluster's state dir.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = _cmdline(int(entry.name))
        if "-address" in args[:-1] and args[args.index("-address") + 1] == str(socket):
            found.append(int(entry.name))
    return found


def _recorded(state_root: Path) -> list[int]:
    """containerd and the kubelet, by their pid files, if still alive with our arguments."""
    found = []
    for name in ("containerd", "kubelet", "kube-proxy"):
        try:
            pid = int(Layout(state_root).pid_file(name).read_text())
        except (OSError, ValueError):
            continue
        if any(str(state_root) + "/" in a for a in _cmdline(pid)):
            found.append(pid)
    return found


def node_files(state_root: Path) -> NodeFiles:
    return NodeFiles(Layout(state_root).node)


def owned_processes(state_root: Path) -> list[int]:
    """The node's runtime processes: containerd, the kubelet and the shims."""
    return _recorded(state_root) + shim_processes(node_files(state_root).containerd_socket)


def network_namespace_files(state_root: Path) -> list[Path]:
    """The pods' network namespaces, bind-mounted under containerd's state dir."""
    state = node_files(state_root).containerd_state
    return sorted(state.glob("*/netns/cni-*")) if state.exists() else []


def kubepods_cgroups() -> list[Path]:
    """Every cgroup at or below ``/kubepods`` in every v1 hierarchy, deepest first."""
    found: list[Path] = []
    if not CGROUP_ROOT.exists():
        return found
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / KUBEPODS
        if top.is_dir():
            found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def container_processes() -> list[int]:
    pids: set[int] = set()
    for cgroup in kubepods_cgroups():
        try:
            text = (cgroup / "cgroup.procs").read_text()
        except OSError:
            continue
        pids.update(int(line) for line in text.split())
    return sorted(pids)


def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        points.append(point)
    return points


def owned_mounts(state_root: Path) -> list[str]:
    """Mount points under the state dir or a fixed kubelet path, deepest first."""
    prefixes = [str(state_root), *(str(p) for p in HOST_PATHS)]
    found = [m for m in _mounts() if any(m == p or m.startswith(p + "/") for p in prefixes)]
    return sorted(set(found), key=len, reverse=True)


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _created_host_paths(files: NodeFiles) -> list[Path]:
    try:
        return [Path(p) for p in json.loads(files.created_host_paths.read_text())]
    except (OSError, ValueError):
        return []


def teardown(state_root: Path, timeout: float = 30.0) -> None:
    """Kill, unmount, remove: see the module docstring. Raises if something stays."""
    files = node_files(state_root)
    deadline = time.monotonic() + timeout
    while True:
        pids = owned_processes(state_root) + container_processes()
        if not pids:
            break
        _kill_all(pids)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes outlive SIGKILL: {pids}")
        time.sleep(0.1)
    for point in owned_mounts(state_root):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    # A network namespace lives as long as a process or a bind mount holds it: both are gone.
    for netns in network_namespace_files(state_root):
        netns.unlink(missing_ok=True)
    for cgroup in kubepods_cgroups():
        with contextlib.suppress(OSError):
            cgroup.rmdir()
    if bridge_exists():
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    _remove_chains(state_root)
    for path in _created_host_paths(files):
        if path.exists() and not owned_mounts(path):
            shutil.rmtree(path, ignore_errors=True)
    left = leftovers(state_root, _created_host_paths(files))
    if left:
        raise RuntimeError("a real node left: " + "; ".join(left))


def _remove_chains(state_root: Path) -> None:
    """kube-proxy's own cleanup, then every chain of the kubelet's or kube-proxy's left."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        node = Settings.load(Layout(state_root).settings).node
        if node is not None:
            cleanup = [str(node.binaries.kube_proxy), "--cleanup", "--v=0"]
            subprocess.run(cleanup, capture_output=True, check=False, timeout=60)
    iptables.remove_node_chains()


def created_host_paths(state_root: Path) -> list[Path]:
    """The fixed paths this cluster's ``up`` found missing (read before the state goes)."""
    return _created_host_paths(node_files(state_root))


def leftovers(state_root: Path, host_paths: list[Path]) -> list[str]:
    """What a real node may leave, still present: empty when teardown was complete."""
    left = []
    if pids := owned_processes(state_root) + container_processes():
        left.append(f"processes {pids}")
    if mounts := owned_mounts(state_root):
        left.append(f"mounts {mounts}")
    if cgroups := kubepods_cgroups():
        left.append(f"cgroups {[str(c) for c in cgroups[-3:]]}")
    if bridge_exists():
        left.append(f"bridge {BRIDGE}")
    if netns := network_namespace_files(state_root):
        left.append(f"network namespaces {[str(n) for n in netns]}")
    veths = subprocess.run(
        ["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if veths:
        left.append(f"veths {veths}")
    if existing := [str(p) for p in host_paths if p.exists()]:
        left.append(f"paths {existing}")
    if chains := iptables.node_chains():
        left.append(f"iptables chains {sorted(chains)[:5]}")
    return left
