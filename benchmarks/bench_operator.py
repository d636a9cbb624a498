"""Benchmark of the operator on the local control plane (prints figures, asserts nothing).

1. Converge N Redis objects x 3 replicas, from apply to every pod Ready: the operator's wall
   time against a baseline that creates the same pods directly through the API with the same
   client (kubernetes_asyncio) and the same write concurrency.
2. Latency from ``kubectl scale`` to the new pod existing and to the ScalingUp Event being
   visible: median and p95.
3. The operator's RSS with N Redis objects and their pods.
4. Write calls in steady state (from the apiserver's audit log) per reconcile pass.
5. Teardown (``--no-teardown`` skips it): the time from deleting the namespace of the N Redis
   (the sampled ones scaled back to 3) to its being gone, against the baseline's namespace
   (the same pods and as many Services, no operator) deleted the same way; and the operator's
   writes meanwhile by verb, resource and answer (a create refused in a terminating namespace
   is a 403).

Run with ``python benchmarks/bench_operator.py [--redis 200] [--scale-samples 20]``. It starts
a cluster of its own and removes it at the end. ``--profile FILE`` samples the operator with
py-spy (``pip install py-spy``) while it converges and writes collapsed stacks to FILE;
``--keep-audit-log FILE`` keeps the apiserver's audit log (every write, timed) for a timeline;
``--restart [TIMES]`` then stops the operator over the converged Redis and starts a new one
(TIMES times, one after the other), timing process start to ``/readyz`` and to its first full
pass (a pass per Redis), its CPU until then and its writes (with ``--profile``, py-spy samples
those starts too, into ``FILE.restart``, ``FILE.restart1``...).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import signal
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

import deploy_base
from audit_log import AuditTail, tally  # siblings: the script's directory is on sys.path
from bench_dev_cluster import rss_mib
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator import api
from redis_operator.children import desired_pod, desired_service
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


async def pod_times(core: Any, namespace: str, count: int) -> tuple[float, float]:
    """Watch the namespace's pods until ``count`` are Ready; when (monotonic) the ``count``-th
    pod was first seen, and when the last became Ready.

    A watch, read as raw JSON: polling a list of hundreds of pods (and turning each into a
    model) loaded the apiserver and this process enough to distort what it measured. The
    apiserver closes a watch that reads too slowly; it is resumed where it stopped.
    """
    seen: set[str] = set()
    created: float | None = None
    ready: set[str] = set()
    version = ""
    while True:
        response = await core.list_namespaced_pod(
            namespace, watch=True, resource_version=version, _preload_content=False
        )
        async with response:
            async for line in response.content:
                event = json.loads(line)
                if event["type"] == "ERROR":
                    raise RuntimeError(f"pod watch: {event['object'].get('message')}")
                pod = event["object"]
                meta = pod["metadata"]
                version = meta["resourceVersion"]
                seen.add(meta["name"])
                if created is None and len(seen) >= count:
                    created = time.monotonic()
                conditions = (pod.get("status") or {}).get("conditions") or []
                if (
                    event["type"] != "DELETED"
                    and not meta.get("deletionTimestamp")
                    and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                ):
                    ready.add(meta["name"])
                else:
                    ready.discard(meta["name"])
                if created is not None and len(ready) >= count:
                    return created, time.monotonic()


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


async def namespace_gone(core: Any, name: str, timeout: float = 600.0) -> float | None:
    """Wait until the namespace is gone; when (monotonic), or None if not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return time.monotonic()
            raise
        await asyncio.sleep(0.25)
    return None


async def baseline(
    admin: client.ApiClient, count: int, teardown: bool, namespace: str = "bench-baseline"
) -> tuple[float, float, float | None]:
    """The same pods, created directly: what converging costs without an operator (seconds
    until all pods exist, until all are Ready); with ``teardown``, as many Services too, and
    how long deleting their namespace takes."""
    core = client.CoreV1Api(admin)
    await create_namespace(core, namespace)
    spec = api.RedisSpec(replicas=3, port=8333, image="redis:5-alpine")
    owners = [
        api.Redis(f"r{i}", namespace, f"00000000-{i:04d}", generation=1, deleting=False, spec=spec)
        for i in range(count)
    ]
    bodies = [desired_pod(owner, ordinal) for owner in owners for ordinal in range(3)]
    services = [desired_service(owner) for owner in owners] if teardown else []
    for body in bodies + services:
        body["metadata"].pop("ownerReferences", None)  # no such owner exists here
    watch = asyncio.create_task(pod_times(core, namespace, len(bodies)))
    await asyncio.sleep(1)  # the watch is open
    started = time.monotonic()
    await bounded(
        [functools.partial(core.create_namespaced_pod, namespace, b) for b in bodies], CONCURRENCY
    )
    created, ready = await watch
    await bounded(
        [functools.partial(core.create_namespaced_service, namespace, b) for b in services],
        CONCURRENCY,
    )
    deleted = time.monotonic()
    await core.delete_namespace(namespace)
    # Until its pods are gone they hold the nodes' pod slots (and the apiserver's attention):
    # the operator's run must not start beside them.
    gone = await namespace_gone(core, namespace)
    if gone is None:
        raise RuntimeError(f"namespace {namespace} not gone within 600 s without an operator")
    return created - started, ready - started, (gone - deleted) if teardown else None


async def pods_exactly(core: Any, namespace: str, count: int, timeout: float = 120.0) -> bool:
    """Wait until the namespace holds exactly ``count`` pods, none of them terminating."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await core.list_namespaced_pod(namespace, _preload_content=False)
        items = json.loads(await response.read())["items"]
        if len(items) == count and not any(p["metadata"].get("deletionTimestamp") for p in items):
            return True
        await asyncio.sleep(1)
    return False


async def teardown(cluster: DevCluster, core: Any, count: int, samples: int, base: float) -> None:
    """Delete the operator's namespace and time it against the baseline's; the writes."""
    namespace = "bench"
    if samples:  # the sampled Redis back to 3, so the namespace holds what the baseline's did
        names = [f"redis/r{i}" for i in range(samples)]
        kubectl(cluster, "scale", *names, "--replicas=3", "-n", namespace)
    if not await pods_exactly(core, namespace, count * 3):
        print(f"teardown: skipped, the namespace did not get back to {count * 3} pods")
        return
    await asyncio.sleep(5)  # status and Event writes trail
    tail = AuditTail(cluster.layout.audit_log, USER)
    started = time.monotonic()
    await core.delete_namespace(namespace)
    gone = await namespace_gone(core, namespace)
    writes = tail.read()
    tail.close()
    if gone is None:
        print(f"teardown: namespace {namespace} still there after 600 s")
    else:
        elapsed = gone - started
        print(
            f"teardown: namespace with {count} Redis x 3 ({count * 3} pods, {count} Services) "
            f"gone in {elapsed:.1f}s with the operator, {base:.1f}s without (the baseline's "
            f"{count * 3} pods and {count} Services): {elapsed / base:.2f}x"
        )
    refused = [w for w in writes if w.refused]
    print(f"teardown: operator write calls: {len(writes)}: {tally(writes)}")
    print(f"teardown: refused: {len(refused)}: {tally(refused)}")


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


async def scale_samples(
    cluster: DevCluster, core: Any, namespace: str, samples: int
) -> tuple[list[float], list[float]]:
    """Scale ``r0``.. ``r<samples-1>`` to 4 one at a time: seconds from ``kubectl scale`` to
    the new pod existing, and to the ScalingUp Event being visible, for each."""
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
    return to_pod, to_event


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


async def scale_latency(cluster: DevCluster, admin: client.ApiClient, samples: int) -> None:
    to_pod, to_event = await scale_samples(cluster, client.CoreV1Api(admin), "bench", samples)
    print(
        f"kubectl scale -> new pod exists: median {statistics.median(to_pod) * 1000:.0f} ms, "
        f"p95 {p95(to_pod) * 1000:.0f} ms ({samples} samples; includes kubectl's own start)"
    )
    print(
        f"kubectl scale -> ScalingUp Event visible: median "
        f"{statistics.median(to_event) * 1000:.0f} ms, p95 {p95(to_event) * 1000:.0f} ms"
    )


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def compile_operator() -> None:
    """Byte-compile the operator's and the recorder's sources, as installing them does.

    pip compiles what it installs (the image ships the bytecode), but an editable install runs
    the sources in place, and with ``PYTHONDONTWRITEBYTECODE`` set (as on the benchmark's
    machine) each start compiled them again: a start users do not have.
    """
    sources = [str(REPO / "src"), str(REPO / "event-recorder" / "src")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True)


def start_operator(
    kubeconfig: Path, port: int, log: Path, profile: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """The operator's process (under ``py-spy record`` with ``profile``) and its pid."""
    command = [
        sys.executable,
        "-m",
        "redis_operator.cli",
        "run",
        f"--kubeconfig={kubeconfig}",
        "--namespace=bench",
        f"--metrics-address=127.0.0.1:{port}",
        "--log-level=warning",
    ]
    if profile:
        spy = ["py-spy", "record", "--format", "raw", "--output", profile, "--rate", "200", "--"]
        command = spy + command
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    if not profile:
        return process, process.pid
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    while not children.read_text().split():
        time.sleep(0.001)
    return process, int(children.read_text().split()[0])


def wait_ready(port: int, step: float = 0.01) -> None:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(step)


async def restart(
    cluster: DevCluster,
    operator: subprocess.Popen[bytes],
    pid: int,
    kubeconfig: Path,
    log: Path,
    count: int,
    profile: str | None,
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Stop the operator over ``count`` converged Redis and start another; time its start to
    ``/readyz`` and to a pass per Redis, and count its writes. The new process, pid, port."""
    os.kill(pid, signal.SIGTERM)  # the operator itself: under py-spy, py-spy then writes
    operator.wait(timeout=30)
    port = free_port()
    tail = AuditTail(cluster.layout.audit_log, USER)
    started = time.monotonic()
    process, pid = start_operator(kubeconfig, port, log, profile)
    wait_ready(port)
    ready = time.monotonic() - started
    while True:
        try:
            if metric(port, "redis_operator_reconcile_total") >= count:
                break
        except OSError:
            pass
        time.sleep(0.01)
    full = time.monotonic() - started
    cpu = cpu_seconds(pid)
    await asyncio.sleep(5)
    writes = tail.read()
    tail.close()
    print(
        f"restart over {count} converged Redis: /readyz {ready:.2f}s after process start, first "
        f"full pass {full:.2f}s, CPU until then {cpu:.2f}s, RSS {rss_mib(pid):.0f} MiB; "
        f"writes in the first 5 s after it: {len(writes)} {tally(writes)}"
    )
    return process, pid, port


def start_profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """Sample ``pid`` with py-spy until stopped with SIGINT (collapsed stacks, one per line)."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            out,
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(
    cluster: DevCluster,
    count: int,
    samples: int,
    profile: str | None,
    with_teardown: bool,
    restarts: int,
) -> None:
    admin = await api_client(cluster.kubeconfig)
    try:
        print(f"baseline: creating {count * 3} pods directly (concurrency {CONCURRENCY}) ...")
        _, base, base_teardown = await baseline(admin, count, with_teardown)
        print(f"baseline: {count * 3} pods Ready in {base:.1f}s")
        if base_teardown is not None:
            print(
                f"baseline: namespace with {count * 3} pods and {count} Services "
                f"deleted in {base_teardown:.1f}s"
            )

        core = client.CoreV1Api(admin)
        custom = client.CustomObjectsApi(admin)
        await create_namespace(core, "bench")
        kubeconfig = cluster.issue_kubeconfig(
            USER, ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
        )
        port = free_port()
        log = Path(tempfile.mkstemp(prefix="bench-operator-", suffix=".log")[1])
        operator, pid = start_operator(kubeconfig, port, log)
        try:
            wait_ready(port, step=0.2)
            print(f"operator: applying {count} Redis objects x 3 replicas ...")
            converging = AuditTail(cluster.layout.audit_log, USER)
            profiler = start_profiler(pid, profile) if profile else None
            cpu_before = cpu_seconds(pid)
            watch = asyncio.create_task(pod_times(core, "bench", count * 3))
            await asyncio.sleep(1)  # the watch is open
            started = time.monotonic()
            await bounded(
                [
                    functools.partial(
                        custom.create_namespaced_custom_object,
                        api.GROUP,
                        api.VERSION,
                        "bench",
                        api.PLURAL,
                        redis_body(f"r{i}", 3),
                    )
                    for i in range(count)
                ],
                CONCURRENCY,
            )
            elapsed = (await watch)[1] - started
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            print(
                f"operator: {count * 3} pods Ready in {elapsed:.1f}s "
                f"({elapsed / base:.2f}x the baseline); the operator used "
                f"{cpu_seconds(pid) - cpu_before:.1f}s of CPU meanwhile"
            )
            writes = Counter(w.kind for w in converging.read())
            converging.close()
            print(
                f"operator write calls while converging: {sum(writes.values())} "
                f"(the baseline's: {count * 3}): "
                + ", ".join(f"{k} {v}" for k, v in sorted(writes.items()))
            )
            await asyncio.sleep(10)
            print(
                f"operator RSS with {count} Redis and {count * 3} pods: "
                f"{rss_mib(pid):.0f} MiB (peak {peak_rss_mib(pid):.0f} MiB)"
            )

            at_rest = AuditTail(cluster.layout.audit_log, USER)
            passes_before = metric(port, "redis_operator_reconcile_total")
            await asyncio.sleep(30)
            idle_passes = metric(port, "redis_operator_reconcile_total") - passes_before
            # A change that needs nothing (an annotation) makes every Redis take a pass.
            kubectl(cluster, "annotate", "redis", "--all", "-n", "bench", "bench/touched=1")
            await asyncio.sleep(10)
            steady = len(at_rest.read())
            at_rest.close()
            passes = metric(port, "redis_operator_reconcile_total") - passes_before
            print(
                f"steady state: {idle_passes:.0f} passes in 30 s idle, then {passes:.0f} passes "
                f"after annotating every Redis: {steady} operator write calls "
                f"({steady / passes if passes else 0:.2f} per pass)"
            )
            for attempt in range(restarts):
                restart_profile = f"{profile}.restart{attempt or ''}" if profile else None
                operator, pid, port = await restart(
                    cluster, operator, pid, kubeconfig, log, count, restart_profile
                )
            await scale_latency(cluster, admin, samples)
            if base_teardown is not None:
                await teardown(cluster, core, count, samples, base_teardown)
        finally:
            os.kill(pid, signal.SIGTERM)  # the operator itself: under py-spy, py-spy then writes
            operator.wait(timeout=60)
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", type=int, default=200, help="Redis objects (3 pods each)")
    parser.add_argument("--scale-samples", type=int, default=20)
    parser.add_argument("--profile", help="write py-spy samples of the converging operator here")
    parser.add_argument("--keep-audit-log", help="copy the apiserver's audit log here at the end")
    parser.add_argument(
        "--teardown",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time deleting the namespaces, with the operator and without (default: on)",
    )
    parser.add_argument(
        "--restart",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="TIMES",
        help="restart the operator over the converged Redis (TIMES times, default once) and "
        "time each first full pass",
    )
    args = parser.parse_args()
    compile_operator()
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-operator-")))
    cluster.up(nodes=2, owner_pid=os.getpid())
    try:
        deploy_base.install(cluster)
        asyncio.run(
            run(
                cluster,
                args.redis,
                args.scale_samples,
                args.profile,
                args.teardown,
                args.restart,
            )
        )
        if args.keep_audit_log:
            shutil.copy(cluster.layout.audit_log, args.keep_audit_log)
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
