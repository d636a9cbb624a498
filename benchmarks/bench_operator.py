"""Benchmark of the operator on the local control plane (prints figures, asserts nothing).

1. Converge N Redis objects x 3 replicas, from apply to every pod Ready: the operator's wall
   time against a baseline that creates the same pods directly through the API with the same
   client (kubernetes_asyncio) and the same write concurrency.
2. Latency from ``kubectl scale`` to the new pod existing and to the ScalingUp Event being
   visible: median and p95.
3. The operator's RSS with N Redis objects and their pods.
4. Write calls in steady state (from the apiserver's audit log) per reconcile pass.

Run with ``python benchmarks/bench_operator.py [--redis 200] [--scale-samples 20]``. It starts
a cluster of its own and removes it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench_dev_cluster import rss_mib  # the sibling script (its directory is on sys.path)
from kubernetes_asyncio import client, config

from redis_operator import api
from redis_operator.children import desired_pod
from redis_operator.devcluster.cluster import DevCluster
from redis_operator.devcluster.layout import free_port
from redis_operator.manifests import NAME, NAMESPACE

REPO = Path(__file__).resolve().parents[1]
USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
CONCURRENCY = 16  # the operator's default --max-concurrent-writes


def kubectl(cluster: DevCluster, *args: str) -> str:
    return subprocess.run(
        [str(cluster.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


async def api_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


async def bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def ready_pods(core: Any, namespace: str) -> int:
    pods = await core.list_namespaced_pod(namespace)
    return sum(
        1
        for p in pods.items
        if not p.metadata.deletion_timestamp
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    )


async def wait_ready(core: Any, namespace: str, count: int, started: float) -> float:
    while await ready_pods(core, namespace) < count:
        await asyncio.sleep(0.25)
    return time.monotonic() - started


def redis_body(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "image": "redis:5-alpine", "port": 8333},
    }


async def create_namespace(core: Any, name: str) -> None:
    await core.create_namespace({"metadata": {"name": name}})
    while True:
        accounts = await core.list_namespaced_service_account(name)
        if any(a.metadata.name == "default" for a in accounts.items):
            return
        await asyncio.sleep(0.2)


async def baseline(admin: client.ApiClient, count: int) -> float:
    """The same pods, created directly: what converging costs without an operator."""
    core = client.CoreV1Api(admin)
    namespace = "bench-baseline"
    await create_namespace(core, namespace)
    owners = [
        {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "metadata": {"name": f"r{i}", "namespace": namespace, "uid": f"00000000-{i:04d}"},
            "spec": {"replicas": 3, "image": "redis:5-alpine", "port": 8333},
        }
        for i in range(count)
    ]
    bodies = [desired_pod(owner, ordinal) for owner in owners for ordinal in range(3)]
    for body in bodies:
        body["metadata"].pop("ownerReferences", None)  # no such owner exists here
    started = time.monotonic()
    await bounded(
        [lambda b=b: core.create_namespaced_pod(namespace, b) for b in bodies], CONCURRENCY
    )
    elapsed = await wait_ready(core, namespace, len(bodies), started)
    await core.delete_namespace(namespace)
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def writes_by_kind(audit_log: Path, since: int) -> Counter[str]:
    """The operator's write calls after byte offset ``since``, by verb and resource."""
    with audit_log.open("rb") as log:
        log.seek(since)
        lines = log.read().splitlines()
    found: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("stage") == "ResponseComplete" and entry["user"]["username"] == USER:
            ref = entry["objectRef"]
            resource = "/".join(filter(None, (ref["resource"], ref.get("subresource"))))
            found[f"{entry['verb']} {resource}"] += 1
    return found


def operator_writes(audit_log: Path, since: int) -> int:
    return sum(writes_by_kind(audit_log, since).values())


async def scale_latency(cluster: DevCluster, admin: client.ApiClient, samples: int) -> None:
    core = client.CoreV1Api(admin)
    namespace = "bench"
    to_pod, to_event = [], []
    for i in range(samples):
        name = f"r{i}"
        started = time.monotonic()
        kubectl(cluster, "scale", f"redis/{name}", "--replicas=4", "-n", namespace)
        pod_seen = event_seen = None
        while pod_seen is None or event_seen is None:
            now = time.monotonic() - started
            if pod_seen is None:
                pods = await core.list_namespaced_pod(
                    namespace, field_selector=f"metadata.name={name}-3"
                )
                if pods.items:
                    pod_seen = now
            if event_seen is None:
                events = await core.list_namespaced_event(
                    namespace,
                    field_selector=f"involvedObject.name={name},reason=ScalingUp",
                )
                if any("set to 4" in e.message for e in events.items):
                    event_seen = now
            await asyncio.sleep(0.01)
        to_pod.append(pod_seen)
        to_event.append(event_seen)

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]

    print(
        f"kubectl scale -> new pod exists: median {statistics.median(to_pod) * 1000:.0f} ms, "
        f"p95 {p95(to_pod) * 1000:.0f} ms ({samples} samples; includes kubectl's own start)"
    )
    print(
        f"kubectl scale -> ScalingUp Event visible: median "
        f"{statistics.median(to_event) * 1000:.0f} ms, p95 {p95(to_event) * 1000:.0f} ms"
    )


async def run(cluster: DevCluster, count: int, samples: int) -> None:
    admin = await api_client(cluster.kubeconfig)
    try:
        print(f"baseline: creating {count * 3} pods directly (concurrency {CONCURRENCY}) ...")
        base = await baseline(admin, count)
        print(f"baseline: {count * 3} pods Ready in {base:.1f}s")

        core = client.CoreV1Api(admin)
        custom = client.CustomObjectsApi(admin)
        await create_namespace(core, "bench")
        kubeconfig = cluster.issue_kubeconfig(
            USER, ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
        )
        port = free_port()
        log = Path(tempfile.mkstemp(prefix="bench-operator-", suffix=".log")[1])
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_operator.cli",
                "run",
                f"--kubeconfig={kubeconfig}",
                "--namespace=bench",
                f"--metrics-address=127.0.0.1:{port}",
                "--log-level=warning",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    break
                except OSError:
                    await asyncio.sleep(0.2)
            print(f"operator: applying {count} Redis objects x 3 replicas ...")
            converge_from = cluster.layout.audit_log.stat().st_size
            cpu_before = cpu_seconds(operator.pid)
            started = time.monotonic()
            await bounded(
                [
                    lambda i=i: custom.create_namespaced_custom_object(
                        api.GROUP, api.VERSION, "bench", api.PLURAL, redis_body(f"r{i}", 3)
                    )
                    for i in range(count)
                ],
                CONCURRENCY,
            )
            elapsed = await wait_ready(core, "bench", count * 3, started)
            print(
                f"operator: {count * 3} pods Ready in {elapsed:.1f}s "
                f"({elapsed / base:.2f}x the baseline); the operator used "
                f"{cpu_seconds(operator.pid) - cpu_before:.1f}s of CPU meanwhile"
            )
            writes = writes_by_kind(cluster.layout.audit_log, converge_from)
            print(
                f"operator write calls while converging: {sum(writes.values())} "
                f"(the baseline's: {count * 3}): "
                + ", ".join(f"{k} {v}" for k, v in sorted(writes.items()))
            )
            await asyncio.sleep(10)
            print(
                f"operator RSS with {count} Redis and {count * 3} pods: "
                f"{rss_mib(operator.pid):.0f} MiB"
            )

            since = cluster.layout.audit_log.stat().st_size
            passes_before = metric(port, "redis_operator_reconcile_total")
            await asyncio.sleep(30)
            idle_passes = metric(port, "redis_operator_reconcile_total") - passes_before
            # A change that needs nothing (an annotation) makes every Redis take a pass.
            kubectl(cluster, "annotate", "redis", "--all", "-n", "bench", "bench/touched=1")
            await asyncio.sleep(10)
            writes = operator_writes(cluster.layout.audit_log, since)
            passes = metric(port, "redis_operator_reconcile_total") - passes_before
            print(
                f"steady state: {idle_passes:.0f} passes in 30 s idle, then {passes:.0f} passes "
                f"after annotating every Redis: {writes} operator write calls "
                f"({writes / passes if passes else 0:.2f} per pass)"
            )
            await scale_latency(cluster, admin, samples)
        finally:
            operator.terminate()
            operator.wait(timeout=30)
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", type=int, default=200, help="Redis objects (3 pods each)")
    parser.add_argument("--scale-samples", type=int, default=20)
    args = parser.parse_args()
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-operator-")))
    cluster.up(nodes=2, owner_pid=os.getpid())
    try:
        deploy = REPO / "deploy"
        for manifest in ("namespace.yaml", "crd.yaml", "rbac.yaml"):
            kubectl(cluster, "apply", "-f", str(deploy / manifest))
        kubectl(cluster, "wait", "--for=condition=Established", f"crd/{api.CRD_NAME}")
        asyncio.run(run(cluster, args.redis, args.scale_samples))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
