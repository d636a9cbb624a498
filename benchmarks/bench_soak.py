"""The soak test: random operations on the operator for a fixed time, invariants after each burst.

A cluster of its own (``--nodes kwok``: the dev cluster's fake nodes), deploy/ installed, and
the operator running as its ServiceAccount (deploy/'s RBAC, all namespaces). Then, until
``--minutes`` are up, cycles of: a burst of a few operations drawn from ``--seed`` (create a
Redis with 0-5 replicas, scale it, change its image or port, delete it, delete one of its pods
by hand, kill -9 the operator and start a new one, stop the apiserver for a few seconds,
delete a namespace and make a new one); a settling period (until the cluster shows what the
soak wrote and the operator stopped writing, at most ``--settle-timeout``); a quiet window of
``--quiet`` seconds; then the checker (``soak_checker``): no two pods for one ordinal, no
orphan child, no child of a deleted Redis, status equal to what exists, children matching the
spec, deletions complete, 0 operator writes in the quiet window, no refused-write storm,
Event counts that add up, the operator still up. It prints each cycle, every violation and a
summary, and exits 1 if it found a violation.

Run with ``python benchmarks/bench_soak.py [--minutes 30] [--seed N]``; the operator's logs
and the audit log are kept in the directory it names at the end. It is a benchmark, not a
test: it takes minutes and needs the machine to itself.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import deploy_base
from admin_api import AdminApi, ApiFailure, Obj
from audit_log import AuditTail, Write, tally
from soak_checker import (
    ALIVE,
    STATE_INVARIANTS,
    Disturbances,
    EventLedger,
    Snapshot,
    Tolerated,
    Violation,
    at_rest_violations,
    node_deleted_successors,
    refused_redis,
    refused_violations,
    state_violations,
)
from soak_nodes import NODE_KINDS, Nodes
from soak_operations import (
    ApiserverOutage,
    Burst,
    CreateRedis,
    DeletePod,
    DeleteRedis,
    KillOperator,
    Limits,
    Operation,
    ReplaceNamespace,
    Respecify,
    Scale,
    initial_operations,
    next_operation,
)
from soak_world import SOAK_LABEL, RedisRecord, World

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator import api
from redis_operator.manifests import NAME, NAMESPACE
from redis_operator.messages import SOURCE_COMPONENT

USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}")
REDIS_PATH = f"/apis/{api.GROUP}/{api.VERSION}"

SETTLE_QUIET_SECONDS = 5.0
"""Settled means, among others, no operator write for this long."""
OUTAGE_GRACE_SECONDS = 15.0
"""After an apiserver outage, Event writes queued meanwhile are retried within 10 s
(docs/event-recorder.md): settling waits this long so they do not land in the quiet window."""
START_TIMEOUT_SECONDS = 60.0


class OperatorProcess:
    """``redis-operator run`` as deploy/'s ServiceAccount; a new log file per start."""

    def __init__(self, kubeconfig: Path, logs: Path) -> None:
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> bool:
        """Start it; whether it became ready (its store synced) within the bound."""
        self.starts += 1
        port = free_port()
        self._log = (self.logs / f"operator-{self.starts}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_operator.cli",
                "run",
                f"--kubeconfig={self.kubeconfig}",
                f"--metrics-address=127.0.0.1:{port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.alive:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


@dataclass
class Seen:
    """A violation as first reported, and in how many cycles it was found."""

    first: Violation
    cycle: int
    cycles: int = 1


@dataclass
class Report:
    """What the soak did and found."""

    operations: Counter[str] = field(default_factory=Counter)
    failed_operations: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    violations: dict[tuple[str, ...], Seen] = field(default_factory=dict)
    tolerated: list[tuple[int, Tolerated]] = field(default_factory=list)
    cycles: int = 0
    unsettled: list[int] = field(default_factory=list)

    def found(self, cycle: int, violations: list[Violation]) -> list[Violation]:
        """Record a cycle's violations; the new ones. A state that stays wrong is one violation
        found in several cycles; a write storm or a crash is one per cycle it happens in."""
        new = []
        for violation in violations:
            key: tuple[str, ...] = (violation.invariant, violation.subject)
            if violation.invariant not in STATE_INVARIANTS:
                key += (str(cycle),)
            if key in self.violations:
                self.violations[key].cycles += 1
            else:
                self.violations[key] = Seen(violation, cycle)
                new.append(violation)
        return new


class Soak:
    """Runs the cycles against one cluster and one operator."""

    def __init__(
        self, args: argparse.Namespace, cluster: DevCluster, nodes: Nodes, results: Path
    ) -> None:
        self.args = args
        self.cluster = cluster
        self.api = AdminApi(cluster)
        self.rng = random.Random(args.seed)
        self.limits = Limits(
            max_redis=args.max_redis, burst_ops=args.burst_ops, images=nodes.images
        )
        self.settle_timeout: float = args.settle_timeout or nodes.settle_seconds
        self.world = World()
        self.ledger = EventLedger()
        self.report = Report()
        self.tail = AuditTail(cluster.layout.audit_log, USER)
        self.everyone_tail = AuditTail(cluster.layout.audit_log, "")
        self.operator = OperatorProcess(cluster.issue_kubeconfig(USER, GROUPS), results)
        self.started = time.monotonic()
        self.outage_ended = -OUTAGE_GRACE_SECONDS

    def now(self) -> float:
        return time.monotonic() - self.started

    # -- operations ---------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        body = {"metadata": {"name": name, "labels": {SOAK_LABEL: "true"}}}
        self.api.create("/api/v1/namespaces", body)
        self.world.namespace_created(name)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:  # pods are refused until it exists
            try:
                self.api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
                return
            except ApiFailure:
                time.sleep(0.2)

    def execute(self, operation: Operation) -> bool:
        """Carry one operation out and record its effect; False if the apiserver refused it."""
        self.report.operations[type(operation).__name__] += 1
        world = self.world
        try:
            match operation:
                case CreateRedis(namespace, name, replicas, image, port):
                    body = {
                        "apiVersion": api.API_VERSION,
                        "kind": api.KIND,
                        "metadata": {"name": name},
                        "spec": {"replicas": replicas, "image": image, "port": port},
                    }
                    created = self.api.create(self._redis_path(namespace), body)
                    world.redis_created(
                        RedisRecord(
                            namespace,
                            name,
                            created["metadata"]["uid"],
                            replicas,
                            image,
                            port,
                            self.now(),
                        )
                    )
                case Scale(key, replicas):
                    self.api.merge_patch(self._redis_path(key), {"spec": {"replicas": replicas}})
                    world.scaled(key, replicas)
                case Respecify(key, image, port):
                    patch = {"spec": {"image": image, "port": port}}
                    self.api.merge_patch(self._redis_path(key), patch)
                    world.respecified(key, image, port)
                case DeleteRedis(key):
                    self.api.delete(self._redis_path(key))
                    world.redis_deleted(key, self.now())
                case DeletePod(key, pod):
                    namespace = key.split("/")[0]
                    self.api.delete(f"/api/v1/namespaces/{namespace}/pods/{pod}")
                    world.pod_deleted(key, pod)
                case KillOperator(down):
                    self.operator.kill()
                    time.sleep(down)
                    if not self.operator.start():
                        print(f"  note: the operator was not ready {START_TIMEOUT_SECONDS:.0f}s")
                case ApiserverOutage(seconds):
                    self.cluster.stop_component("kube-apiserver")
                    time.sleep(seconds)
                    self.cluster.start_component("kube-apiserver")
                    self.outage_ended = self.now()
                case ReplaceNamespace(old, new):
                    self.api.delete(f"/api/v1/namespaces/{old}")
                    world.namespace_deleted(old, self.now())
                    self.create_namespace(new)
        except ApiFailure as exc:
            self.report.failed_operations.append(f"{operation.describe()}: {exc}")
            return False
        return True

    def _redis_path(self, key_or_namespace: str) -> str:
        namespace, _, name = key_or_namespace.partition("/")
        path = f"{REDIS_PATH}/namespaces/{namespace}/{api.PLURAL}"
        return f"{path}/{name}" if name else path

    # -- looking ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What the cluster holds now; a failed read is tried again, three times in all."""
        for attempt in range(3):
            try:
                return self._snapshot()
            except (OSError, ApiFailure):
                if attempt == 2:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def _snapshot(self) -> Snapshot:
        ours = set(self.world.namespaces)

        def in_soak(items: list[Obj]) -> list[Obj]:
            return [o for o in items if o["metadata"].get("namespace") in ours]

        namespaces = self.api.items("/api/v1/namespaces", labelSelector=f"{SOAK_LABEL}=true")
        return Snapshot(
            namespaces={n["metadata"]["name"]: n for n in namespaces},
            redis=in_soak(self.api.items(f"{REDIS_PATH}/{api.PLURAL}")),
            pods=in_soak(self.api.items("/api/v1/pods")),
            services=in_soak(self.api.items("/api/v1/services")),
            events=in_soak(
                self.api.items(
                    "/api/v1/events",
                    fieldSelector=f"involvedObject.kind={api.KIND},source={SOURCE_COMPONENT}",
                )
            ),
        )

    def settle(self, writes: list[Write]) -> float | None:
        """Wait until the cluster shows what the soak wrote and the operator stopped writing;
        how long it took, or None if it did not within the bound."""
        started = last_write = time.monotonic()
        while True:
            new = self.tail.read()
            writes += new
            now = time.monotonic()
            if new:
                last_write = now
            if (
                now - last_write >= SETTLE_QUIET_SECONDS
                and self.now() - self.outage_ended >= OUTAGE_GRACE_SECONDS
                and not state_violations(self.snapshot(), self.world, self.now())
            ):
                return now - started
            if now - started >= self.settle_timeout:
                return None
            time.sleep(1)

    # -- a cycle ------------------------------------------------------------------------

    def burst(self) -> list[Operation]:
        burst = Burst()
        done = []
        for _ in range(self.rng.randint(1, self.limits.burst_ops)):
            operation = next_operation(self.rng, self.world, burst, self.limits)
            if operation is None:
                break
            self.execute(operation)
            done.append(operation)
            time.sleep(self.rng.uniform(0, 1))  # the operator reacts in between
        return done

    def cycle(self, index: int, operations: list[Operation]) -> None:
        began = self.now()
        writes = self.tail.read()
        settled = self.settle(writes)
        if settled is None:
            self.report.unsettled.append(index)
        time.sleep(self.args.quiet)
        quiet = self.tail.read()
        writes += quiet
        self.report.writes += writes
        disturbances = Disturbances(
            operator_killed=any(isinstance(o, KillOperator) for o in operations),
            apiserver_stopped=any(isinstance(o, ApiserverOutage) for o in operations),
            refused_for=refused_redis(writes),
            node_deleted_for=node_deleted_successors(self.everyone_tail.read()),
        )
        snapshot = self.snapshot()
        now = self.now()
        violations = state_violations(snapshot, self.world, now)
        violations += at_rest_violations(quiet, self.args.quiet)
        violations += refused_violations(
            writes, self.args.max_refused, self.args.max_refused_per_object
        )
        event_violations, tolerated = self.ledger.check(snapshot, self.world, disturbances, now)
        violations += event_violations
        if not self.operator.alive:
            violations.append(
                Violation(ALIVE, "operator", f"exited by itself ({self.operator.exit_code})")
            )
            self.operator.stop()
            self.operator.start()
        self.report.tolerated += [(index, t) for t in tolerated]
        new = self.report.found(index, violations)
        self.report.cycles = index
        refused = sum(1 for w in writes if w.refused)
        settle_text = "not settled" if settled is None else f"settled in {settled:.0f}s"
        print(
            f"cycle {index} at {began:.0f}s: "
            + "; ".join(o.describe() for o in operations)
            + f" | {settle_text} | {len(writes)} operator writes ({refused} refused), "
            f"{len(quiet)} in the {self.args.quiet:.0f}s quiet window | "
            f"violations {len(violations)} ({len(new)} new), tolerated {len(tolerated)}",
            flush=True,
        )
        for violation in new:
            print(f"  VIOLATION {violation}", flush=True)
        for note in tolerated:
            print(f"  tolerated {note}", flush=True)

    def run(self) -> None:
        for _ in range(self.args.namespaces):
            self.create_namespace(self.world.allocate_namespace_name())
        if not self.operator.start():
            raise SystemExit(f"the operator did not become ready; see {self.operator.logs}")
        try:
            first = initial_operations(
                self.rng, self.world, self.limits, max(1, self.args.max_redis // 2)
            )
            for operation in first:
                self.execute(operation)
            self.cycle(0, list(first))
            budget = self.args.minutes * 60
            # Each cycle takes at least the quiet window: this bounds their number too.
            for index in range(1, int(budget // self.args.quiet) + 2):
                if self.now() >= budget:
                    break
                self.cycle(index, self.burst())
        finally:
            self.operator.stop()
            self.tail.close()
            self.everyone_tail.close()


def summary(soak: Soak, results: Path) -> int:
    """Print what the soak did and found; the exit code."""
    report = soak.report
    print(f"\nsoak: seed {soak.args.seed}, {soak.now() / 60:.1f} min, {report.cycles + 1} cycles")
    print("operations: " + ", ".join(f"{k} {n}" for k, n in sorted(report.operations.items())))
    for failed in report.failed_operations:
        print(f"  refused operation: {failed}")
    print(f"operator starts: {soak.operator.starts}")
    print(f"operator writes: {len(report.writes)}: {tally(report.writes)}")
    refused = [w for w in report.writes if w.refused]
    print(f"operator writes refused: {len(refused)}: {tally(refused)}")
    if report.unsettled:
        print(f"cycles that did not settle within {soak.settle_timeout:.0f}s: {report.unsettled}")
    print(
        f"Events compared at the last check: {soak.ledger.compared} expected ScalingUp, "
        f"ScalingDown and PodRecreated occurrences; differences tolerated: "
        f"{len(report.tolerated)}"
    )
    for cycle, note in report.tolerated:
        print(f"  cycle {cycle}: {note}")
    tracebacks = sum(
        log.read_text(errors="replace").count("Traceback") for log in results.glob("*.log")
    )
    print(f"tracebacks in the operator's logs: {tracebacks}")
    print(f"violations: {len(report.violations)}")
    for seen in report.violations.values():
        print(f"  {seen.first} (cycle {seen.cycle}, found in {seen.cycles} cycles)")
    print(f"logs and the audit log: {results}")
    return 1 if report.violations else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=30.0,
        help="start no cycle after this (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, help="of the operations (default: a random one)")
    parser.add_argument(
        "--nodes",
        choices=sorted(NODE_KINDS),
        default="kwok",
        help="the kind of node (default: %(default)s)",
    )
    parser.add_argument(
        "--node-count", type=int, default=3, help="nodes in the cluster (default: %(default)s)"
    )
    parser.add_argument(
        "--namespaces", type=int, default=3, help="kept at this many (default: %(default)s)"
    )
    parser.add_argument(
        "--max-redis",
        type=int,
        default=20,
        help="Redis objects live at once (default: %(default)s)",
    )
    parser.add_argument(
        "--burst-ops", type=int, default=5, help="most operations per burst (default: %(default)s)"
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=15.0,
        help="seconds of the quiet window (default: %(default)s)",
    )
    parser.add_argument(
        "--settle-timeout", type=float, help="seconds to converge (default: the node kind's)"
    )
    parser.add_argument(
        "--max-refused",
        type=int,
        default=30,
        help="operator writes refused per cycle (default: %(default)s)",
    )
    parser.add_argument(
        "--max-refused-per-object",
        type=int,
        default=5,
        help="refusals of the same write to one object per cycle (default: %(default)s)",
    )
    args = parser.parse_args()
    for name in ("minutes", "node_count", "namespaces", "max_redis", "burst_ops", "quiet"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.settle_timeout is not None and not args.settle_timeout > 0:
        parser.error("--settle-timeout must be positive")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    return args


def main() -> None:
    args = parse_args()
    print(f"soak: seed {args.seed} (rerun with --seed {args.seed}), {args.minutes:g} min")
    nodes = NODE_KINDS[args.nodes]()
    results = Path(tempfile.mkdtemp(prefix="soak-results-"))
    cluster = nodes.start(Path(tempfile.mkdtemp(prefix="bench-soak-")), args.node_count)
    try:
        deploy_base.install(cluster)
        soak = Soak(args, cluster, nodes, results)
        try:
            soak.run()
        finally:
            shutil.copy(cluster.layout.audit_log, results / "audit.log")
    finally:
        cluster.down()
    sys.exit(summary(soak, results))


if __name__ == "__main__":
    main()
