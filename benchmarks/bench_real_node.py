"""Benchmark of the real node: warm ``up`` to a Ready real node, pod apply to Ready, memory.

Run as root with ``python benchmarks/bench_real_node.py [--runs N] [--pods N]``; it prints
figures and asserts nothing. The binaries and images must be built (``dev-cluster build``);
their cold build times are printed by that command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from devcluster.cluster import DevCluster
from devcluster.layout import Settings
from devcluster.teardown import container_processes, owned_processes


def rss_mib(pid: int) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pod(name: str, image: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    {
                        "name": "redis",
                        "image": image,
                        "command": ["redis-server", "--port", "6379", "--protected-mode", "no"],
                        "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
                    }
                ]
            },
        }
    )


def _kubectl(cluster: DevCluster, *argv: str, stdin: str | None = None) -> None:
    subprocess.run(
        [str(cluster.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", *argv],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


def _summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f}s, min {min(values):.2f}s, "
        f"max {max(values):.2f}s ({len(values)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm starts to time")
    parser.add_argument("--pods", type=int, default=5, help="pods to time, one after another")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before memory")
    args = parser.parse_args()

    ups: list[float] = []
    for run in range(args.runs):
        cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-real-node-")))
        started = time.monotonic()
        try:
            cluster.up(nodes=0, real_nodes=1, owner_pid=os.getpid())
            ups.append(time.monotonic() - started)
            if run < args.runs - 1:
                continue
            node = Settings.load(cluster.layout.settings).node
            assert node is not None
            applied: list[float] = []
            for i in range(args.pods):
                started = time.monotonic()
                _kubectl(cluster, "apply", "-f", "-", stdin=_pod(f"r{i}", node.redis_image))
                _kubectl(cluster, "wait", "--for=condition=Ready", f"pod/r{i}", "--timeout=60s")
                applied.append(time.monotonic() - started)
            print(
                f"pod apply -> Ready on the real node (kubectl apply + wait): {_summary(applied)}"
            )
            time.sleep(args.settle)
            processes = {k: v for k, v in cluster.status().processes.items() if v}
            root = cluster.layout.root
            shims = [p for p in owned_processes(root) if p not in processes.values()]
            print(f"memory (RSS) after {args.settle:.0f}s, {args.pods} Redis pods:")
            for name in ("containerd", "kubelet"):
                print(f"  {name:<28} {rss_mib(processes[name]):7.1f} MiB")
            groups = {
                f"{len(shims)} containerd shims": shims,
                "redis-server + pause (pods)": container_processes(),
            }
            for name, pids in groups.items():
                print(f"  {name:<28} {sum(rss_mib(p) for p in pids):7.1f} MiB")
        finally:
            cluster.down()
    print(f"warm 'up' to a Ready real node (no kwok node): {_summary(ups)}")


if __name__ == "__main__":
    main()
