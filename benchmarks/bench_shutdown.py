"""Benchmark of the operator's stop on SIGTERM (prints figures, asserts nothing).

Starts ``redis-operator run`` against a local control plane (kwok nodes), waits for
``/readyz`` (with ``--leader-elect`` also for this process to hold the Lease), lets it settle
with a converged Redis and nothing queued, sends SIGTERM, and times:

- SIGTERM -> the process has exited;
- with ``--leader-elect``, SIGTERM -> the Lease's ``holderIdentity`` is empty (polled).

Each mode runs ``--runs`` times (default 5); the median, min and max are printed.

Run with ``python benchmarks/bench_shutdown.py [--runs 5]``. It starts a cluster of its own and
removes it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import deploy_base
from bench_operator import USER, api_client, create_namespace, redis_body
from kubernetes_asyncio import client

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator import api
from redis_operator.manifests import NAMESPACE

BENCH_NAMESPACE = "bench"
LEASE = "redis-operator-leader"
SETTLE_SECONDS = 2.0  # after ready (and leading): the passes over the converged Redis are done


class Operator:
    """One ``redis-operator run`` process, its log in a temporary file."""

    def __init__(self, kubeconfig: Path, leader_elect: bool) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="bench-shutdown-", suffix=".log")[1])
        election = ["--leader-elect", f"--leader-election-namespace={BENCH_NAMESPACE}"]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_operator.cli",
                "run",
                f"--kubeconfig={kubeconfig}",
                f"--namespace={BENCH_NAMESPACE}",
                f"--metrics-address=127.0.0.1:{self.port}",
                "--log-level=info",
                *(election if leader_elect else []),
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the operator exited early:\n{self.log.read_text()[-3000:]}")

    async def ready(self) -> None:
        while True:
            self.alive()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                return
            except OSError:
                await asyncio.sleep(0.1)

    async def identity(self) -> str:
        while True:
            self.alive()
            found = re.search(r"attempting to acquire lease \S+ as (\S+)", self.log.read_text())
            if found:
                return found.group(1)
            await asyncio.sleep(0.1)


async def holder(coordination: client.CoordinationV1Api) -> str:
    lease = await coordination.read_namespaced_lease(LEASE, BENCH_NAMESPACE)
    return lease.spec.holder_identity or ""


async def wait_holder(coordination: client.CoordinationV1Api, operator: Operator) -> None:
    identity = await operator.identity()
    while True:
        operator.alive()
        try:
            if await holder(coordination) == identity:
                return
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        await asyncio.sleep(0.1)


async def released(coordination: client.CoordinationV1Api, since: float) -> float:
    """Seconds from ``since`` until the Lease has no holder."""
    while await holder(coordination):
        await asyncio.sleep(0.01)
    return time.monotonic() - since


async def one_stop(
    kubeconfig: Path, coordination: client.CoordinationV1Api, leader_elect: bool
) -> tuple[float, float | None]:
    """(SIGTERM -> exit, SIGTERM -> Lease released or None) of one fresh operator."""
    operator = Operator(kubeconfig, leader_elect)
    try:
        await operator.ready()
        if leader_elect:
            await wait_holder(coordination, operator)
        await asyncio.sleep(SETTLE_SECONDS)
        sent = time.monotonic()
        operator.proc.send_signal(signal.SIGTERM)
        release = asyncio.create_task(released(coordination, sent)) if leader_elect else None
        code = await asyncio.to_thread(operator.proc.wait, 60)
        exited = time.monotonic() - sent
        lease_free = await asyncio.wait_for(release, 30) if release is not None else None
        if code != 0:
            print(f"  exit status {code}; log: {operator.log}")
        else:
            operator.log.unlink()
        return exited, lease_free
    finally:
        if operator.proc.poll() is None:
            operator.proc.kill()
            operator.proc.wait()


def figure(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s "
        f"(min {min(values):.2f}, max {max(values):.2f}; {len(values)} runs)"
    )


async def run(cluster: DevCluster, runs: int) -> None:
    admin = await api_client(cluster.kubeconfig)
    try:
        core = client.CoreV1Api(admin)
        custom = client.CustomObjectsApi(admin)
        coordination = client.CoordinationV1Api(admin)
        await create_namespace(core, BENCH_NAMESPACE)
        kubeconfig = cluster.issue_kubeconfig(
            USER, ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
        )
        await custom.create_namespaced_custom_object(
            api.GROUP, api.VERSION, BENCH_NAMESPACE, api.PLURAL, redis_body("r0", 3)
        )
        # A first operator converges the Redis; the measured ones find nothing to do.
        await one_stop(kubeconfig, coordination, leader_elect=False)
        for leader_elect in (False, True):
            exits: list[float] = []
            releases: list[float] = []
            for _ in range(runs):
                exited, lease_free = await one_stop(kubeconfig, coordination, leader_elect)
                exits.append(exited)
                if lease_free is not None:
                    releases.append(lease_free)
            mode = "with --leader-elect" if leader_elect else "without leader election"
            print(f"{mode}: SIGTERM -> exit: {figure(exits)}")
            if releases:
                print(f"{mode}: SIGTERM -> Lease holder empty: {figure(releases)}")
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="stops measured per mode")
    args = parser.parse_args()
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-shutdown-")))
    cluster.up(nodes=1, owner_pid=os.getpid())
    try:
        deploy_base.install(cluster)
        asyncio.run(run(cluster, args.runs))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
