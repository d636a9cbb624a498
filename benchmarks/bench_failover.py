"""Benchmark of failover on the real node: primary killed -> a new primary serving writes.

Run as root with ``python benchmarks/bench_failover.py [--runs N] [--keys N]``; it prints
figures and asserts nothing. It starts its own cluster (one real node), the operator from this
checkout (admin credentials), and a Redis in replication mode with 3 replicas. Each run writes
``--keys`` keys to the primary, each acknowledged by ``WAIT 1``, then kills the primary, by
turns deleting its pod and killing its redis-server process (the pod stays), and times until
another pod answers ``SET`` as master; it then counts the acknowledged keys found there and
waits for the Redis to settle (3 Ready pods, one primary) before the next run. Then, for
``--sync-runs`` runs, it writes ``--sync-keys`` keys to the primary, scales to 4 and times until
the new replica's link is up with every key (``DBSIZE``), from the scale and from the moment the
pod has an address (the operator's part), then scales back to 3. Every address dialled is a pod
address on the project's bridge.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import deploy_base
import redis

from devcluster.cluster import DevCluster
from devcluster.layout import Settings
from devcluster.realnode import POD_SUBNET
from devcluster.teardown import CGROUP_ROOT, kubepods_cgroups

NS = "failover"
NAME = "bench"
PORT = 6379
ROLE = "myapp.tangx.in/role"


def kubectl(cluster: DevCluster, *argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(cluster.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", *argv],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    ).stdout


def pods(cluster: DevCluster) -> dict[str, dict[str, Any]]:
    items = json.loads(kubectl(cluster, "get", "pods", "-n", NS, "-o", "json"))["items"]
    return {p["metadata"]["name"]: p for p in items}


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def client(ip: str, password: str) -> redis.Redis:
    if ipaddress.ip_address(ip) not in ipaddress.ip_network(POD_SUBNET):
        raise SystemExit(f"{ip} is not a pod address on the project's bridge")
    return redis.Redis(
        host=ip, port=PORT, password=password, socket_timeout=0.5, socket_connect_timeout=0.5
    )


def settled(
    cluster: DevCluster, timeout: float = 180, count: int = 3
) -> tuple[str, dict[str, dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = pods(cluster)
        labelled = [n for n, p in current.items() if p["metadata"]["labels"].get(ROLE) == "primary"]
        if len(current) == count and len(labelled) == 1 and all(ready(p) for p in current.values()):
            return labelled[0], current
        time.sleep(0.5)
    raise SystemExit("the Redis did not settle")


def redis_server_pid(pod: dict[str, Any]) -> int:
    marker = f"pod{pod['metadata']['uid']}"
    for cgroup in kubepods_cgroups():
        if not cgroup.is_relative_to(CGROUP_ROOT / "pids") or marker not in cgroup.parts:
            continue
        for pid in (cgroup / "cgroup.procs").read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server":
                    return int(pid)
            except OSError:
                continue
    raise SystemExit(f"no redis-server in {pod['metadata']['name']}")


def serving_master(ips: dict[str, str], password: str) -> str | None:
    for name, ip in ips.items():
        try:
            c = client(ip, password)
            if c.execute_command("ROLE")[0] in (b"master", "master") and c.set("probe", "1"):
                return name
        except redis.RedisError:
            continue
    return None


def one_run(cluster: DevCluster, password: str, keys: int, kill_process: bool, run: int) -> None:
    primary, current = settled(cluster)
    writer = client(current[primary]["status"]["podIP"], password)
    acknowledged = []
    for i in range(keys):
        key = f"run{run}:key{i}"
        writer.set(key, i)
        if writer.execute_command("WAIT", 1, 1000) >= 1:
            acknowledged.append(key)
    others = {n: p["status"]["podIP"] for n, p in current.items() if n != primary}
    started = time.monotonic()
    if kill_process:
        os.kill(redis_server_pid(current[primary]), signal.SIGKILL)
    else:
        kubectl(cluster, "delete", "pod", primary, "-n", NS, "--wait=false")
    new = None
    while new is None:
        new = serving_master(others, password)
        if new is None:
            time.sleep(0.05)
    elapsed = time.monotonic() - started
    found = client(others[new], password).exists(*acknowledged) if acknowledged else 0
    how = "process killed" if kill_process else "pod deleted"
    print(
        f"run {run}: {how}: {new} serving writes after {elapsed:.2f}s; "
        f"{len(acknowledged)} acknowledged, {len(acknowledged) - found} lost",
        flush=True,
    )
    RESULTS.append((how, elapsed, len(acknowledged) - found))


RESULTS: list[tuple[str, float, int]] = []


def sync_run(cluster: DevCluster, password: str, keys: int, run: int) -> tuple[float, float]:
    """Scale 3 -> 4 with `keys` keys on the primary: seconds until the new replica is linked
    and holds them all, from the scale and from its pod's address."""
    primary, current = settled(cluster)
    writer = client(current[primary]["status"]["podIP"], password)
    writer.flushall()
    pipe = writer.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(f"sync{run}:key{i}", i)
    pipe.execute()
    new = f"{NAME}-3"
    started = time.monotonic()
    kubectl(cluster, "scale", f"redis/{NAME}", "--replicas=4", "-n", NS)
    addressed = None
    while True:
        pod = pods(cluster).get(new)
        ip = (pod or {}).get("status", {}).get("podIP")
        if ip and addressed is None:
            addressed = time.monotonic()
        if ip:
            try:
                replica = client(ip, password)
                link = replica.info("replication").get("master_link_status")
                if link == "up" and replica.dbsize() == keys:
                    break
            except redis.RedisError:
                pass
        time.sleep(0.05)
    done = time.monotonic()
    assert addressed is not None
    print(
        f"sync run {run}: {new} in sync with {keys} keys {done - started:.2f}s after the scale, "
        f"{done - addressed:.2f}s after its pod had an address",
        flush=True,
    )
    kubectl(cluster, "scale", f"redis/{NAME}", "--replicas=3", "-n", NS)
    while new in pods(cluster):
        time.sleep(0.2)
    return done - started, done - addressed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--sync-runs", type=int, default=3)
    parser.add_argument("--sync-keys", type=int, default=10_000)
    args = parser.parse_args()
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-failover-")))
    cluster.up(nodes=1, real_nodes=1, owner_pid=os.getpid())
    log = Path(tempfile.mkstemp(prefix="bench-failover-operator-", suffix=".log")[1])
    operator = None
    try:
        node = Settings.load(cluster.layout.settings).node
        assert node is not None
        deploy_base.install(cluster)
        kubectl(cluster, "create", "namespace", NS)
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_operator.cli",
                "run",
                f"--kubeconfig={cluster.kubeconfig}",
                f"--namespace={NS}",
                "--metrics-address=0",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        body = {
            "apiVersion": "myapp.tangx.in/v1",
            "kind": "Redis",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"replicas": 3, "image": node.redis_image, "mode": "replication"},
        }
        kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(body))
        settled(cluster)
        secret = json.loads(
            kubectl(cluster, "get", "secret", f"{NAME}-auth", "-n", NS, "-o", "json")
        )
        password = base64.b64decode(secret["data"]["password"]).decode()
        for run in range(args.runs):
            one_run(cluster, password, args.keys, kill_process=run % 2 == 1, run=run)
        for how in ("pod deleted", "process killed"):
            times = [t for h, t, _ in RESULTS if h == how]
            if times:
                print(
                    f"failover, {how} -> new primary serving writes: median "
                    f"{statistics.median(times):.2f}s, min {min(times):.2f}s, "
                    f"max {max(times):.2f}s ({len(times)} runs)"
                )
        if RESULTS:
            print(f"acknowledged writes lost: {sum(lost for _, _, lost in RESULTS)}")
        syncs = [sync_run(cluster, password, args.sync_keys, run) for run in range(args.sync_runs)]
        for label, values in (("scale", [a for a, _ in syncs]), ("address", [b for _, b in syncs])):
            if values:
                print(
                    f"new replica in sync with {args.sync_keys} keys, from its {label}: "
                    + ", ".join(f"{v:.2f}s" for v in values)
                )
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
        cluster.down()
        print(f"operator log: {log}")


if __name__ == "__main__":
    main()
