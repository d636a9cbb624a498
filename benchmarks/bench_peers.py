"""Side by side on one cluster: a baseline, this operator, and a Go controller-runtime peer.

The peer (benchmarks/peers/go, built by ``go_peer``) is the same contract written the way a
kubebuilder user would: the same pod, Service and Secret bodies, status only on change, the
same Events. Each round runs one of them on a quiet cluster (the previous round's namespace is
gone), alternating baseline / ours / peer, ``--rounds`` times (3). kube-scheduler runs with a
raised client rate (``--scheduler-qps``), so the baseline is the apiserver's pace rather than
the scheduler's default 50 bindings a second.

A round of an operator, in its own namespace: start it (process start to ``/readyz``), apply
``--redis`` Redis x 3 (until all pods exist, until all are Ready, its CPU meanwhile, its writes
by kind from the audit log until they stop for ``QUIET`` seconds), its peak RSS; restart it
over the converged Redis (start to ``/readyz``, to the first full pass, i.e. as many passes as
Redis, its CPU until then, its writes, which must be none, and its peak RSS, the listings
included); ``kubectl scale`` to a new pod
(``--scale-samples``); scale back and delete the namespace (until it is gone; its writes
meanwhile). A baseline
round creates the same pods and as many Services directly and deletes its namespace.

Run with ``python benchmarks/bench_peers.py [--redis 200] [--rounds 3] [--modes
baseline,ours,peer]``; it starts a cluster of its own (enough kwok nodes for the pods) and
removes it at the end. It prints each round's figures, then a markdown table: medians with
ranges, and the ratios ours/peer and ours/baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deploy_base
import go_peer  # siblings: the script's directory is on sys.path
from audit_log import AuditTail, tally
from bench_operator import (
    CONCURRENCY,
    USER,
    api_client,
    baseline,
    bounded,
    compile_operator,
    cpu_seconds,
    create_namespace,
    kubectl,
    metric,
    namespace_gone,
    pod_times,
    pods_exactly,
    redis_body,
    scale_samples,
)
from kubernetes_asyncio import client

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator import api
from redis_operator.children import desired_pod, desired_service
from redis_operator.manifests import NAMESPACE

PEER_USER = "redis-peer"
"""The peer's identity (cluster-admin through system:masters: its RBAC is not what is measured)."""
QUIET = 5.0
"""Seconds without a write after which an operator counts as converged (status, Events)."""
PODS_PER_NODE = 500
MODES = ("baseline", "ours", "peer")

Figures = dict[str, float]


@dataclass(frozen=True)
class Operator:
    """How to run one of the two operators and read its progress."""

    name: str
    user: str
    passes_metric: str
    argv: Callable[[str, int, int], list[str]]
    """(namespace, metrics port, probe port) -> the command line."""
    probe_beside_metrics: bool
    """Ours serves /readyz beside /metrics; controller-runtime on a port of its own."""


def ours(kubeconfig: Path) -> Operator:
    """This operator, as bench_operator runs it: its ServiceAccount's identity, one namespace."""
    return Operator(
        "ours",
        USER,
        "redis_operator_reconcile_total",
        lambda namespace, port, _probe: [
            sys.executable,
            "-m",
            "redis_operator.cli",
            "run",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            f"--metrics-address=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        probe_beside_metrics=True,
    )


def peer(kubeconfig: Path, binary: Path) -> Operator:
    """The Go peer, watching one namespace, logging errors only (as ours logs warnings)."""
    return Operator(
        "peer",
        PEER_USER,
        "controller_runtime_reconcile_total",
        lambda namespace, port, probe: [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            f"--metrics-bind-address=127.0.0.1:{port}",
            f"--health-probe-bind-address=127.0.0.1:{probe}",
            "--zap-log-level=error",
        ],
        probe_beside_metrics=False,
    )


class Running:
    """A started operator process: its ports, and when it started."""

    def __init__(self, operator: Operator, namespace: str, log: Path) -> None:
        self.metrics_port = free_port()
        self.probe_port = self.metrics_port if operator.probe_beside_metrics else free_port()
        self.operator = operator
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            operator.argv(namespace, self.metrics_port, self.probe_port),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ready(self) -> float:
        """Seconds from the process' start to ``/readyz`` answering 200."""
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.operator.name} exited with {self.process.returncode}")
            try:
                url = f"http://127.0.0.1:{self.probe_port}/readyz"
                urllib.request.urlopen(url, timeout=1)
                return time.monotonic() - self.started
            except OSError:
                await asyncio.sleep(0.02)

    def passes(self) -> float:
        try:
            return metric(self.metrics_port, self.operator.passes_metric)
        except OSError:
            return 0.0

    async def full_pass(self, count: int) -> float:
        """Seconds from the process' start until it has made ``count`` passes."""
        while self.passes() < count:
            await asyncio.sleep(0.02)
        return time.monotonic() - self.started

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def peak_rss_mib(pid: int) -> float:
    """The process' peak resident set (VmHWM) so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until_quiet(tail: AuditTail, quiet: float = QUIET, limit: float = 120.0) -> Counter[str]:
    """The writes by kind until none came for ``quiet`` seconds (at most ``limit``)."""
    writes: Counter[str] = Counter()
    last = deadline = time.monotonic()
    deadline += limit
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        new = tail.read()
        if new:
            writes.update(w.kind for w in new)
            last = time.monotonic()
    return writes


def contains(live: Any, want: Any, path: str = "") -> list[str]:
    """Where ``want`` is not part of ``live``: a dict's every key, recursively; a list of the
    same length item by item, a longer live list (the apiserver adds the service account's
    volume) holding each wanted item somewhere."""
    if isinstance(want, Mapping) and isinstance(live, Mapping):
        return [p for key in want for p in contains(live.get(key), want[key], f"{path}.{key}")]
    if isinstance(want, list) and isinstance(live, list):
        if len(want) == len(live):
            pairs = enumerate(zip(live, want, strict=True))
            return [p for i, (lv, w) in pairs for p in contains(lv, w, f"{path}[{i}]")]
        return [
            f"{path}[{i}]"
            for i, w in enumerate(want)
            if not any(not contains(lv, w) for lv in live)
        ]
    return [] if live == want else [path or "."]


async def same_bodies(admin: client.ApiClient, namespace: str) -> list[str]:
    """Where ``r0``'s pod ``r0-0`` and Service differ from what children.py wants for it."""
    custom = client.CustomObjectsApi(admin)
    core = client.CoreV1Api(admin)
    redis = await custom.get_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, "r0"
    )
    view = api.Redis.from_object(redis)
    pod = json.loads(
        await (await core.read_namespaced_pod("r0-0", namespace, _preload_content=False)).read()
    )
    service = json.loads(
        await (await core.read_namespaced_service("r0", namespace, _preload_content=False)).read()
    )
    return [f"pod{p}" for p in contains(pod, desired_pod(view, 0))] + [
        f"service{p}" for p in contains(service, desired_service(view))
    ]


async def operator_round(
    cluster: DevCluster,
    admin: client.ApiClient,
    operator: Operator,
    namespace: str,
    count: int,
    samples: int,
    log: Path,
) -> tuple[Figures, Counter[str]]:
    core = client.CoreV1Api(admin)
    custom = client.CustomObjectsApi(admin)
    audit = cluster.layout.audit_log
    figures: Figures = {}
    await create_namespace(core, namespace)
    running = Running(operator, namespace, log)
    try:
        figures["start to /readyz (s)"] = await running.ready()
        cpu_before = cpu_seconds(running.pid)
        converging = AuditTail(audit, operator.user)
        watch = asyncio.create_task(pod_times(core, namespace, count * 3))
        await asyncio.sleep(1)  # the watch is open
        started = time.monotonic()
        await bounded(
            [
                functools.partial(
                    custom.create_namespaced_custom_object,
                    api.GROUP,
                    api.VERSION,
                    namespace,
                    api.PLURAL,
                    redis_body(f"r{i}", 3),
                )
                for i in range(count)
            ],
            CONCURRENCY,
        )
        created, ready = await watch
        figures["all pods created (s)"] = created - started
        figures["all pods Ready (s)"] = ready - started
        figures["CPU while converging (s)"] = cpu_seconds(running.pid) - cpu_before
        writes = await until_quiet(converging)
        converging.close()
        figures["CPU until the writes stop (s)"] = cpu_seconds(running.pid) - cpu_before
        figures["writes while converging"] = sum(writes.values())
        figures["peak RSS (MiB)"] = peak_rss_mib(running.pid)
        differences = await same_bodies(admin, namespace)
        if differences:
            print(f"{operator.name}: r0's children differ from children.py's: {differences}")
    finally:
        running.stop()

    restarting = AuditTail(audit, operator.user)
    running = Running(operator, namespace, log)
    try:
        figures["restart: start to /readyz (s)"] = await running.ready()
        figures["restart: start to first full pass (s)"] = await running.full_pass(count)
        figures["restart: CPU until the first full pass (s)"] = cpu_seconds(running.pid)
        await asyncio.sleep(QUIET)
        rewrites = restarting.read()
        restarting.close()
        figures["restart: writes"] = len(rewrites)
        figures["restart: peak RSS (MiB)"] = peak_rss_mib(running.pid)
        if rewrites:
            print(f"{operator.name}: the restart pass wrote: {tally(rewrites)}")

        to_pod, _ = await scale_samples(cluster, core, namespace, samples)
        figures["kubectl scale to new pod, median (ms)"] = statistics.median(to_pod) * 1000
        names = [f"redis/r{i}" for i in range(samples)]
        if names:
            kubectl(cluster, "scale", *names, "--replicas=3", "-n", namespace)
        if not await pods_exactly(core, namespace, count * 3):
            raise RuntimeError(f"{namespace}: did not get back to {count * 3} pods")
        await asyncio.sleep(QUIET)  # status and Event writes trail
        tearing_down = AuditTail(audit, operator.user)
        deleted = time.monotonic()
        await core.delete_namespace(namespace)
        gone = await namespace_gone(core, namespace)
        if gone is None:
            raise RuntimeError(f"{namespace}: not gone within 600 s")
        figures["namespace teardown (s)"] = gone - deleted
        meanwhile = tearing_down.read()
        tearing_down.close()
        figures["teardown: writes"] = len(meanwhile)
        if meanwhile:
            print(f"{operator.name}: writes during the teardown: {tally(meanwhile)}")
    finally:
        running.stop()
    return figures, writes


async def baseline_round(admin: client.ApiClient, namespace: str, count: int) -> Figures:
    created, ready, teardown = await baseline(admin, count, True, namespace)
    assert teardown is not None
    return {
        "all pods created (s)": created,
        "all pods Ready (s)": ready,
        "namespace teardown (s)": teardown,
    }


def cell(values: list[float], counts: bool = False) -> str:
    """``median (min-max)``; ``counts`` (of writes) as whole numbers."""
    if not values:
        return "-"
    middle = statistics.median(values)
    digits = 0 if counts or middle >= 100 else 2 if middle < 1 else 1
    median = f"{middle:,.{digits}f}"
    if len(values) == 1 or min(values) == max(values):
        return median
    return f"{median} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b or statistics.median(a) == 0 or statistics.median(b) == 0:
        return "-"
    return f"{statistics.median(a) / statistics.median(b):.2f}x"


def table(results: dict[str, list[Figures]], writes: dict[str, list[Counter[str]]]) -> str:
    """The markdown table: per figure, each mode's median (range), and the two ratios."""
    rows = list(dict.fromkeys(name for rounds in results.values() for f in rounds for name in f))
    lines = [
        "| what | baseline | ours | Go peer | ours/peer | ours/baseline |",
        "|---|---|---|---|---|---|",
    ]

    def values(mode: str, name: str) -> list[float]:
        return [f[name] for f in results.get(mode, []) if name in f]

    for name in rows:
        b, o, p = (values(m, name) for m in MODES)
        counts = name.startswith("writes") or name.endswith("writes")
        cells = " | ".join(cell(v, counts) for v in (b, o, p))
        lines.append(f"| {name} | {cells} | {ratio(o, p)} | {ratio(o, b)} |")
    kinds = sorted({k for counters in writes.values() for c in counters for k in c})
    for kind in kinds:
        o, p = ([float(c[kind]) for c in writes.get(m, [])] for m in ("ours", "peer"))
        lines.append(
            f"| writes: {kind} | - | {cell(o, True)} | {cell(p, True)} | {ratio(o, p)} | - |"
        )
    return "\n".join(lines)


async def run(cluster: DevCluster, args: argparse.Namespace, peer_binary: Path | None) -> None:
    admin = await api_client(cluster.kubeconfig)
    operators: dict[str, Operator] = {}
    ours_kc = cluster.issue_kubeconfig(
        USER, ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
    )
    operators["ours"] = ours(ours_kc)
    if peer_binary is not None:
        operators["peer"] = peer(
            cluster.issue_kubeconfig(PEER_USER, ["system:masters"]), peer_binary
        )
    log = Path(tempfile.mkstemp(prefix="bench-peers-", suffix=".log")[1])
    results: dict[str, list[Figures]] = {}
    writes: dict[str, list[Counter[str]]] = {}
    try:
        for round_ in range(1, args.rounds + 1):
            for mode in args.modes:
                namespace = f"bench-{mode}-{round_}"
                if mode == "baseline":
                    figures = await baseline_round(admin, namespace, args.redis)
                else:
                    figures, counted = await operator_round(
                        cluster,
                        admin,
                        operators[mode],
                        namespace,
                        args.redis,
                        args.scale_samples,
                        log,
                    )
                    writes.setdefault(mode, []).append(counted)
                results.setdefault(mode, []).append(figures)
                shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
                print(f"round {round_} {mode}: {shown}", flush=True)
    finally:
        await admin.close()
        print(f"operator logs: {log}")
    print()
    print(
        f"{args.redis} Redis x 3 ({args.redis * 3} pods), {args.rounds} round(s) each, "
        f"kube-scheduler at {args.scheduler_qps:g} QPS; median (min-max):"
    )
    print()
    print(table(results, writes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", type=int, default=200, help="Redis objects (3 pods each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale-samples", type=int, default=10)
    parser.add_argument(
        "--modes",
        type=lambda text: [m for m in text.split(",") if m],
        default=list(MODES),
        help="which of baseline,ours,peer to run, in this order each round (default: all)",
    )
    parser.add_argument("--scheduler-qps", type=float, default=1000.0)
    args = parser.parse_args()
    compile_operator()  # ours runs as installed: from bytecode
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    peer_binary = go_peer.build() if "peer" in args.modes else None
    nodes = max(2, math.ceil((args.redis * 3 + args.scale_samples) / PODS_PER_NODE) + 1)
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-peers-")))
    cluster.up(
        nodes=nodes,
        owner_pid=os.getpid(),
        scheduler_api_qps=args.scheduler_qps,
        scheduler_api_burst=int(args.scheduler_qps * 2),
    )
    try:
        deploy_base.install(cluster)
        asyncio.run(run(cluster, args, peer_binary))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
