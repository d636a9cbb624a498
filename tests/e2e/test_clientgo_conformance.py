"""event_recorder against client-go: each scenario recorded by both, Events and writes compared.

Each scenario runs twice against the same apiserver: through client-go's stock ``tools/record``
(or ``tools/events``) in the Go program of tests/clientgo, and through event_recorder on
kubernetes_asyncio, each in a namespace of its own (cluster-scoped objects get names of their
own). Compared: the stored Events (name shape, namespace, involved object, type, reason, message,
count, source, reporting fields, annotations, series) and the API writes each side made (verb and
answer, from the audit log). Timestamps differ in absolute terms, since the runs follow each
other; each side's must lie within its own run, and an Event seen once must have its first and
last timestamp equal. Where we differ on purpose, the scenario names the difference from
``clientgo_differences.DELIBERATE_DIFFERENCES`` and the test asserts it; all else must be equal.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from devcluster.cluster import DevCluster
from tests.e2e.clientgo import (
    GO_AGENT,
    OURS_AGENT,
    Recorder,
    Run,
    Script,
    Step,
    audit_writes,
    build_program,
    run_go,
    run_ours,
)
from tests.e2e.clientgo_differences import DELIBERATE_DIFFERENCES
from tests.e2e.throttle import TooManyRequests
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

COMBINED = "(combined from similar events): "
HOSTNAME = socket.gethostname()
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HOLD_FINALIZER = "conformance.test/hold"


# Scenario building blocks. Objects are ObjectReferences in their JSON form; ``ns`` is the
# run's namespace and ``tag`` is in every name that must differ between the two runs.


def obj(
    kind: str, name: str, ns: str = "", api_version: str = "v1", **extra: str
) -> dict[str, str]:
    ref = {"kind": kind, "name": name, "apiVersion": api_version, "uid": f"uid-{name}"}
    if ns:
        ref["namespace"] = ns
    return {**ref, **extra}


def ev(
    target: dict[str, str],
    reason: str,
    message: str,
    type: str = "Normal",
    *,
    repeat: int = 1,
    recorder: int = 0,
    **extra: Any,
) -> Step:
    return {
        "op": "event",
        "object": target,
        "type": type,
        "reason": reason,
        "message": message,
        "repeat": repeat,
        "recorder": recorder,
        **extra,
    }


DRAIN: Step = {"op": "drain"}


def advance(seconds: float) -> Step:
    return {"op": "advance", "seconds": seconds}


def sleep(seconds: float) -> Step:
    return {"op": "sleep", "seconds": seconds}


def pause(label: str) -> Step:
    return {"op": "pause", "label": label}


SHUTDOWN: Step = {"op": "shutdown"}

OPERATOR = (Recorder("RedisOperator", "redis-operator-7d9f"),)
NO_HOST = (Recorder("RedisOperator"),)


@dataclass
class Outcome:
    """One side's result, normalized so that the two sides compare."""

    events: list[dict[str, Any]]
    writes: Counter[tuple[str, int]]

    def copy(self) -> Outcome:
        return Outcome(copy.deepcopy(self.events), Counter(self.writes))

    def sort(self) -> Outcome:
        self.events.sort(key=lambda e: json.dumps(e, sort_keys=True))
        return self


@dataclass
class Context:
    """What a scenario's hooks may act on: the run's namespace, the cluster."""

    namespace: str
    kubectl: Kubectl
    cluster: DevCluster
    extra: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[Context], None]
PauseHook = Callable[[Context, str], None]
Adjust = Callable[[Outcome], Outcome]
Check = Callable[[Outcome, Outcome], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[str, str], Script]
    differences: tuple[str, ...] = ()
    adjust: Adjust | None = None
    """client-go's outcome → the outcome expected of us (the stated differences applied)."""
    check: Check | None = None
    """Replaces ``ours == adjust(go)`` where client-go's own outcome is not deterministic."""
    setup: Hook | None = None
    on_pause: PauseHook | None = None
    teardown: Hook | None = None
    advanced: float = 0.0
    """Seconds the scenario moves the clock: the timestamps' window grows by this much."""


# The scenarios.


def story(ns: str, tag: str) -> Script:
    """The seed's story: scaled up, repeated, scaled down, a conflict, a pod's trouble."""
    redis = obj("Redis", "my-op-redis", ns, "myapp.tangx.in/v1", resourceVersion="417")
    pod = obj("Pod", "my-op-redis-0", ns, fieldPath="spec.containers{redis}")
    return Script(
        "record",
        OPERATOR,
        (
            ev(redis, "ScalingUp", "my-op-redis replicas set to 3"),
            ev(redis, "ScalingUp", "my-op-redis replicas set to 3"),
            ev(redis, "ScalingDown", "my-op-redis replicas set to 1"),
            ev(redis, "NameConflict", "service my-op-redis exists, not owned", "Warning"),
            ev(pod, "PingFailed", "redis did not answer PING within 1s", "Warning", repeat=3),
            ev(redis, "ScalingUp", "my-op-redis replicas set to 3"),
        ),
    )


def spam_burst(ns: str, tag: str) -> Script:
    redis = obj("Redis", "flood", ns, "myapp.tangx.in/v1")
    return Script("record", OPERATOR, (ev(redis, "PingFailed", "no PONG", "Warning", repeat=1000),))


def similar_30(ns: str, tag: str) -> Script:
    redis = obj("Redis", "similar", ns, "myapp.tangx.in/v1")
    steps = tuple(ev(redis, "ScalingUp", f"replicas set to {n}") for n in range(1, 31))
    return Script("record", OPERATOR, steps)


def objects_30x30(ns: str, tag: str) -> Script:
    steps = tuple(
        ev(obj("ConfigMap", f"cm-{o}", ns), "Changed", f"key {m} changed")
        for o in range(30)
        for m in range(30)
    )
    return Script("record", NO_HOST, steps)


def cluster_scoped(ns: str, tag: str) -> Script:
    node = obj("Node", f"node-{tag}")
    volume = obj("PersistentVolume", f"pv-{tag}")
    return Script(
        "record",
        OPERATOR,
        (
            ev(node, "NodeNotReady", "kubelet stopped posting status", "Warning", repeat=2),
            ev(volume, "Released", "claim deleted"),
            *(ev(node, "Pressure", f"memory at {n}%") for n in range(90, 101)),
        ),
    )


def names_not_dns(ns: str, tag: str) -> Script:
    """A ``system:`` ClusterRole, a 253-character name: a UUID names each Event but the
    combined one, which client-go names ``<name>.<hex>`` regardless (the core/v1 API takes it)."""
    role = obj("ClusterRole", f"system:conf-{tag}", api_version="rbac.authorization.k8s.io/v1")
    long = obj("ConfigMap", "c" * (253 - len(tag)) + tag, ns)
    steps = tuple(ev(target, "Bound", f"binding {n}") for target in (role, long) for n in range(11))
    return Script("record", OPERATOR, steps)


def empty_messages(ns: str, tag: str) -> Script:
    """Repeats of an empty message (a PATCH without ``message``), one among similar ones, and
    one combined. Nothing is repeated after a group is full: which message client-go's group
    then forgets is chance (see full-group-repeat)."""
    redis = obj("Redis", "quiet", ns, "myapp.tangx.in/v1")
    return Script(
        "record",
        NO_HOST,
        (
            ev(redis, "Synced", "", repeat=3),
            ev(redis, "Checked", ""),
            *(ev(redis, "Checked", f"check {n}") for n in range(10)),
            *(ev(redis, "Probed", f"probe {n}") for n in range(9)),
            ev(redis, "Probed", ""),
        ),
    )


def deleted_event(ns: str, tag: str) -> Script:
    redis = obj("Redis", "gone", ns, "myapp.tangx.in/v1")
    scaled = ev(redis, "ScalingUp", "replicas set to 3")
    return Script("record", OPERATOR, (scaled, scaled, DRAIN, pause("delete-events"), scaled))


def delete_events(ctx: Context, label: str) -> None:
    ctx.kubectl("delete", "events", "--all", "-n", ctx.namespace)


def long_messages(ns: str, tag: str) -> Script:
    redis = obj("Redis", "verbose", ns, "myapp.tangx.in/v1")
    shared = "副本数量调整" * 60  # 1,080 bytes of UTF-8
    first, second = shared + " for load", shared + " for a resize"
    huge = ("配置过长" * 500)[:2000]  # 6,000 bytes
    return Script(
        "record",
        OPERATOR,
        (
            ev(redis, "ConfigTooLong", first, "Warning"),
            ev(redis, "ConfigTooLong", second, "Warning"),
            ev(redis, "ConfigTooLong", first, "Warning"),
            ev(redis, "Huge", huge, "Warning", repeat=2),
        ),
    )


def spam_refill(ns: str, tag: str) -> Script:
    """25 tokens, then one back every 300 s: at 299 s none yet, at 301 s one."""
    redis = obj("Redis", "refill", ns, "myapp.tangx.in/v1")
    ping = ev(redis, "PingFailed", "no PONG", "Warning")
    return Script(
        "record",
        OPERATOR,
        ({**ping, "repeat": 30}, DRAIN, advance(299), ping, DRAIN, advance(2), ping, ping),
        fake_clock=True,
    )


def aggregation_window(ns: str, tag: str) -> Script:
    """Within 600 s of the group's last event a new message is combined; after, it is not."""
    redis = obj("Redis", "window", ns, "myapp.tangx.in/v1")
    steps = [ev(redis, "ScalingUp", f"replicas set to {n}") for n in range(1, 11)]
    steps += [DRAIN, advance(599), ev(redis, "ScalingUp", "replicas set to 11")]
    steps += [DRAIN, advance(601), ev(redis, "ScalingUp", "replicas set to 12")]
    return Script("record", OPERATOR, tuple(steps), fake_clock=True)


def group_full_repeat(ns: str, tag: str) -> Script:
    redis = obj("Redis", "grouped", ns, "myapp.tangx.in/v1")
    steps = [ev(redis, "ScalingUp", f"replicas set to {n}") for n in range(1, 11)]
    return Script("record", OPERATOR, (*steps, ev(redis, "ScalingUp", "replicas set to 1")))


def check_group_full_repeat(go: Outcome, ours: Outcome) -> None:
    """Ours: the repeat of the first message counts on its own Event. client-go: the same, or,
    when its group forgot that message, on the combined Event."""
    go, ours = strip_times(go), strip_times(ours)
    expected = go.sort()
    assert go.writes == ours.writes == Counter({("create", 201): 10, ("patch", 200): 1})
    first = next(e for e in ours.events if e["message"] == "replicas set to 1")
    combined = next(e for e in ours.events if e["message"].startswith(COMBINED))
    assert (first["count"], combined["count"], combined["message"]) == (
        2,
        1,
        COMBINED + "replicas set to 10",
    )
    if expected.events != ours.events:  # client-go forgot "replicas set to 1"
        variant = ours.copy()
        for event in variant.events:
            if event["message"] == "replicas set to 1":
                event["count"] = 1
            elif event["message"].startswith(COMBINED):
                event["count"], event["message"] = 2, COMBINED + "replicas set to 1"
        variant.sort()
        assert expected.events == variant.events


def several_recorders(ns: str, tag: str) -> Script:
    """Three recorders on one broadcaster: each source its own Events and its own spam bucket."""
    redis = obj("Redis", "shared", ns, "myapp.tangx.in/v1")
    recorders = (Recorder("RedisOperator", "pod-a"), Recorder("RedisOperator", "pod-b"))
    recorders += (Recorder("Backup"),)
    steps = tuple(
        ev(redis, "Synced", "in sync", repeat=30, recorder=r) for r in range(len(recorders))
    )
    return Script("record", recorders, steps)


def eviction(others: int) -> Callable[[str, str], Script]:
    """An Event, then ``others`` distinct keys, then the Event again: past 4,096 keys it is
    forgotten and written anew.

    The distinct keys are reasons on one object whose 25 spam tokens go first, so that the rest
    are filtered and cheap. No drain in between, whose sentinel would be a key too: sleeps let
    client-go's queue (1,000 events) catch up instead.
    """

    def build(ns: str, tag: str) -> Script:
        first = obj("Redis", "first", ns, "myapp.tangx.in/v1")
        busy = obj("Redis", "busy", ns, "myapp.tangx.in/v1")
        steps = [ev(first, "ScalingUp", "replicas set to 3")]
        for n in range(others):
            if n % 500 == 25:
                steps.append(sleep(1.0 if n == 25 else 0.2))
            steps.append(ev(busy, f"Reason{n}", "x"))
        steps += [sleep(0.2), ev(first, "ScalingUp", "replicas set to 3")]
        return Script("record", OPERATOR, tuple(steps))

    return build


def eviction_after_combined(ns: str, tag: str) -> Script:
    """As ``eviction(4085)`` with a combined Event written first: one key fewer fits client-go."""
    chatty = obj("Redis", "chatty", ns, "myapp.tangx.in/v1")
    steps = eviction(4085)(ns, tag).steps
    similar = tuple(ev(chatty, "Resized", f"size {n}") for n in range(10))
    return Script("record", OPERATOR, (steps[0], *similar, sleep(0.5), *steps[1:]))


def check_eviction_after_combined(go: Outcome, ours: Outcome) -> None:
    """client-go evicted "first" (two Events of count 1); ours kept it (one of count 2)."""
    go, ours = strip_times(go), strip_times(ours)

    def first_counts(outcome: Outcome) -> list[int]:
        return [e["count"] for e in outcome.events if e["involvedObject"]["name"] == "first"]

    assert first_counts(go) == [1, 1]
    assert first_counts(ours) == [2]
    expected = go.copy()
    kept = [e for e in expected.events if e["involvedObject"]["name"] != "first"]
    expected.events = [
        *kept,
        next(e for e in ours.events if e["involvedObject"]["name"] == "first"),
    ]
    expected.writes[("create", 201)] -= 1
    expected.writes[("patch", 200)] += 1
    assert ours.sort() == expected.sort()


def field_paths(ns: str, tag: str) -> Script:
    """fieldPath is in the dedup key but not in the group's or the spam filter's."""
    pod = obj("Pod", "web-0", ns)
    containers = [{**pod, "fieldPath": f"spec.containers{{c{n}}}"} for n in range(12)]
    steps = [ev(c, "BackOff", "back-off restarting", "Warning", repeat=2) for c in containers[:6]]
    steps += [ev(c, "Pulled", f"image {n} pulled") for n, c in enumerate(containers)]
    return Script("record", OPERATOR, tuple(steps))


def namespace_terminating(ns: str, tag: str) -> Script:
    redis = obj("Redis", "doomed", ns, "myapp.tangx.in/v1")
    return Script("record", OPERATOR, (pause("terminate"), ev(redis, "Stopped", "bye", repeat=2)))


def hold_namespace(ctx: Context) -> None:
    """A ConfigMap with a finalizer keeps the namespace Terminating once deleted."""
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hold", "namespace": ctx.namespace, "finalizers": [_HOLD_FINALIZER]},
    }
    ctx.kubectl.apply(manifest)


def terminate_namespace(ctx: Context, label: str) -> None:
    ctx.kubectl("delete", "namespace", ctx.namespace, "--wait=false")

    def refused() -> bool:
        probe = ctx.kubectl.run(
            "create", "configmap", f"probe-{uuid.uuid4().hex[:6]}", "-n", ctx.namespace, check=False
        )
        return probe.returncode != 0 and "because it is being terminated" in probe.stderr

    wait_for(refused, f"creates in {ctx.namespace} to be refused as terminating", 30)


def release_namespace(ctx: Context) -> None:
    ctx.kubectl.run(
        "patch",
        "configmap",
        "hold",
        "-n",
        ctx.namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
        check=False,
    )


def invalid_annotation(ns: str, tag: str) -> Script:
    redis = obj("Redis", "annotated", ns, "myapp.tangx.in/v1")
    bad = ev(redis, "Tagged", "with a bad key", annotations={"not a key!": "x"})
    good = ev(redis, "Tagged", "with a good key", annotations={"example.com/run": "7"})
    return Script("record", OPERATOR, (bad, bad, good, good))


def unreferenceable(ns: str, tag: str) -> Script:
    nameless = {"kind": "ConfigMap", "namespace": ns, "apiVersion": "v1"}
    kindless = {"name": "kindless", "namespace": ns, "apiVersion": "v1"}
    ok = obj("ConfigMap", "named", ns)
    return Script(
        "record", OPERATOR, tuple(ev(o, "Checked", "looked at") for o in (nameless, kindless, ok))
    )


def without_unreferenceable(outcome: Outcome) -> Outcome:
    kept = [
        e
        for e in outcome.events
        if e["involvedObject"].get("name") and e["involvedObject"].get("kind")
    ]
    assert len(outcome.events) - len(kept) == 2  # client-go wrote both
    outcome.writes[("create", 201)] -= 2
    outcome.events = kept
    return outcome


def flood(ns: str, tag: str) -> Script:
    redis = obj("Redis", "flooded", ns, "myapp.tangx.in/v1")
    return Script(
        "record",
        OPERATOR,
        (
            ev(redis, "PingFailed", "no PONG", repeat=5000),
            ev(redis, "OutOfMemory", "redis was OOM-killed", "Warning"),
        ),
    )


def check_flood(go: Outcome, ours: Outcome) -> None:
    """client-go's queue dropped the Warning; ours wrote it."""
    go, ours = strip_times(go), strip_times(ours)
    assert [e["reason"] for e in go.events] == ["PingFailed"]
    warnings = [e for e in ours.events if e["reason"] == "OutOfMemory"]
    assert [(e["type"], e["count"]) for e in warnings] == [("Warning", 1)]
    expected = go.copy()
    expected.events += warnings
    expected.writes[("create", 201)] += 1
    assert ours.sort() == expected.sort()


def shutdown_queued(ns: str, tag: str) -> Script:
    steps = tuple(ev(obj("ConfigMap", f"cm-{n}", ns), "Created", "created") for n in range(200))
    return Script("record", NO_HOST, (*steps, SHUTDOWN))


def check_shutdown(go: Outcome, ours: Outcome) -> None:
    """Ours writes all 200 queued Events at shutdown; client-go abandons most."""
    go, ours = strip_times(go), strip_times(ours)
    assert ours.writes == Counter({("create", 201): 200})
    assert len(ours.events) == 200
    assert go.writes[("create", 201)] == len(go.events) < 200
    assert all(e in ours.events for e in go.events)


def throttled(ns: str, tag: str) -> Script:
    """An admission webhook answers 429 for a while (no Retry-After: a webhook sets no header)."""
    redis = obj("Redis", "throttled", ns, "myapp.tangx.in/v1")
    other = obj("Redis", "other", ns, "myapp.tangx.in/v1")
    scaled = ev(redis, "ScalingUp", "replicas set to 3")
    steps = (scaled, DRAIN, pause("throttle"), scaled, ev(other, "Created", "created"))
    return Script("record", OPERATOR, (*steps, pause("release"), DRAIN), sleep_seconds=2.0)


THROTTLE_SECONDS = 3.0


def throttle_webhook(ctx: Context) -> None:
    webhook = TooManyRequests(ctx.namespace)
    ctx.extra["webhook"] = webhook
    webhook.start(ctx.kubectl)


def toggle_throttle(ctx: Context, label: str) -> None:
    webhook: TooManyRequests = ctx.extra["webhook"]
    if label == "throttle":
        webhook.refusing = True
    else:
        time.sleep(THROTTLE_SECONDS)
        webhook.refusing = False


def stop_throttle_webhook(ctx: Context) -> None:
    ctx.extra["webhook"].stop(ctx.kubectl)


def check_throttled(go: Outcome, ours: Outcome) -> None:
    """client-go gives up on a 429 without Retry-After; ours retries until it gets through."""
    go, ours = strip_times(go), strip_times(ours)
    assert go.writes == Counter({("create", 201): 1, ("patch", 429): 1, ("create", 429): 1})
    assert [(e["involvedObject"]["name"], e["count"]) for e in go.events] == [("throttled", 1)]
    refused = ours.writes[("patch", 429)] + ours.writes[("create", 429)]
    assert refused >= 2
    assert Counter({k: n for k, n in ours.writes.items() if k[1] != 429}) == Counter(
        {("create", 201): 2, ("patch", 200): 1}
    )
    counts = sorted((e["involvedObject"]["name"], e["count"]) for e in ours.events)
    assert counts == [("other", 1), ("throttled", 2)]
    (first,) = go.events
    assert {k: v for k, v in first.items() if k != "count"} == {
        k: v
        for k, v in next(
            e for e in ours.events if e["involvedObject"]["name"] == "throttled"
        ).items()
        if k != "count"
    }


def outage(ns: str, tag: str) -> Script:
    """The apiserver stops while events come in; client-go retries one at a time."""
    up = obj("Redis", "before", ns, "myapp.tangx.in/v1")
    steps: list[Step] = [ev(up, "ScalingUp", "replicas set to 3"), DRAIN, pause("stop-apiserver")]
    steps += [ev(obj("Redis", f"down-{n}", ns, "myapp.tangx.in/v1"), "Lost", "?") for n in range(2)]
    grouped = obj("Redis", "grouped", ns, "myapp.tangx.in/v1")
    steps += [ev(grouped, "ScalingUp", f"replicas set to {n}") for n in range(12)]
    steps += [pause("start-apiserver"), DRAIN]
    return Script("record", OPERATOR, tuple(steps), sleep_seconds=2.0)


OUTAGE_SECONDS = 3.0


#: Restarted after the outage: while the new apiserver's authorizer warms up it refuses their
#: lists and watches (403), and their informers' backoff then kept kube-controller-manager's
#: ServiceAccount controller away for over a minute, so the next test's namespace had no
#: default ServiceAccount (pods are refused without one). This cluster is shared.
CONTROLLERS = ("kube-controller-manager", "kube-scheduler")


def apiserver_outage(ctx: Context, label: str) -> None:
    if label == "stop-apiserver":
        ctx.cluster.stop_component("kube-apiserver")
    else:
        time.sleep(OUTAGE_SECONDS)
        ctx.cluster.start_component("kube-apiserver")
        for component in CONTROLLERS:
            ctx.cluster.stop_component(component)
            ctx.cluster.start_component(component)


def check_outage(go: Outcome, ours: Outcome) -> None:
    """Same Events and writes; client-go stamps the combined Event after the outage."""

    def lag(outcome: Outcome) -> float:
        grouped = [e for e in outcome.events if e["involvedObject"]["name"] == "grouped"]
        combined = next(e for e in grouped if e["message"].startswith(COMBINED))
        single = min(e["_first"] for e in grouped if e is not combined)
        return float(combined["_first"] - single)

    assert lag(go) >= OUTAGE_SECONDS - 1
    assert lag(ours) <= 1
    assert strip_times(ours).sort() == strip_times(go).sort()


# events.k8s.io/v1 through tools/events. Its recorder hands each event to a goroutine of its
# own, so events recorded together reach its sink in any order: the first occurrence is drained
# before its repeats.


def ev_series(ns: str, tag: str) -> Script:
    redis = obj("Redis", "series", ns, "myapp.tangx.in/v1")
    scaled = ev(redis, "ScalingUp", "replicas set to 3", action="Scale")
    return Script("events", OPERATOR, (scaled, DRAIN, {**scaled, "repeat": 4}))


def series_count(count: int, patches: int = 1) -> Adjust:
    def adjust(outcome: Outcome) -> Outcome:
        for event in outcome.events:
            if event["series"] is not None:
                assert event["series"] == 2, event  # client-go wrote the second occurrence only
                event["series"] = count
        outcome.writes[("patch", 200)] += patches
        return outcome

    return adjust


def ev_notes(ns: str, tag: str) -> Script:
    """The note is not part of a series' key: the first note stays."""
    redis = obj("Redis", "notes", ns, "myapp.tangx.in/v1")
    first = ev(redis, "Scaled", "replicas set to 0")
    steps = tuple(ev(redis, "Scaled", f"replicas set to {n}") for n in range(1, 30))
    return Script("events", OPERATOR, (first, DRAIN, *steps))


def ev_recorders(ns: str, tag: str) -> Script:
    """Two controllers on one broadcaster, each its own series; a burst of 1,000 on one."""
    redis = obj("Redis", "watched", ns, "myapp.tangx.in/v1")
    recorders = (Recorder("RedisOperator"), Recorder("Backup"))
    first = [ev(redis, "Synced", "in sync", recorder=r) for r in range(2)]
    repeats = [ev(redis, "Synced", "in sync", recorder=0, repeat=1000)]
    repeats.append(ev(redis, "Synced", "in sync", recorder=1, repeat=2))
    return Script("events", recorders, (*first, DRAIN, *repeats))


def check_ev_recorders(go: Outcome, ours: Outcome) -> None:
    """Both: two series; client-go's stop at 2, ours are written with their counts at shutdown."""
    go, ours = strip_times(go), strip_times(ours)
    series = {e["reportingController"]: e["series"] for e in go.events}
    assert series == {"RedisOperator": 2, "Backup": 2}
    expected = go.copy()
    for event in expected.events:
        event["series"] = {"RedisOperator": 1001, "Backup": 3}[event["reportingController"]]
    expected.writes[("patch", 200)] += 2
    assert ours.sort() == expected.sort()


def ev_long_note(ns: str, tag: str) -> Script:
    redis = obj("Redis", "verbose", ns, "myapp.tangx.in/v1")
    return Script("events", OPERATOR, (ev(redis, "ConfigTooLong", "配置过长" * 100, "Warning"),))


def check_long_note(go: Outcome, ours: Outcome) -> None:
    """client-go's 1,200-byte note is refused; ours is cut to 1,024 bytes."""
    go, ours = strip_times(go), strip_times(ours)
    assert go.events == [] and go.writes == Counter({("create", 422): 1})
    (event,) = ours.events
    assert len(event["note"].encode()) <= 1024 and event["note"].endswith("...")
    assert ("配置过长" * 100).startswith(event["note"].removesuffix("..."))
    assert ours.writes == Counter({("create", 201): 1})


def ev_resource_version(ns: str, tag: str) -> Script:
    before = obj("Redis", "updated", ns, "myapp.tangx.in/v1", resourceVersion="100")
    after = {**before, "resourceVersion": "101"}
    return Script(
        "events",
        OPERATOR,
        (
            ev(before, "ScalingUp", "replicas set to 3"),
            DRAIN,
            ev(after, "ScalingUp", "replicas set to 3"),
        ),
    )


def check_resource_version(go: Outcome, ours: Outcome) -> None:
    """client-go: two Events (the key holds the resourceVersion); ours: one series of 2."""
    go, ours = strip_times(go), strip_times(ours)
    assert [e["series"] for e in go.events] == [None, None]
    assert go.writes == Counter({("create", 201): 2})
    (event,) = ours.events
    assert event["series"] == 2 and event["regarding"]["resourceVersion"] == "100"
    assert ours.writes == Counter({("create", 201): 1, ("patch", 200): 1})
    assert {k: v for k, v in event.items() if k != "series"} == {
        k: v for k, v in go.events[0].items() if k != "series"
    } or {k: v for k, v in event.items() if k != "series"} == {
        k: v for k, v in go.events[1].items() if k != "series"
    }


def ev_cluster_scoped(ns: str, tag: str) -> Script:
    node = obj("Node", f"node-{tag}")
    pod = obj("Pod", f"pod-{tag}", ns)
    return Script(
        "events",
        OPERATOR,
        (
            ev(node, "Placed", "pod placed", related=pod, action="Schedule"),
            ev(pod, "Started", "", "Warning", action="Start"),
        ),
    )


SCENARIOS = (
    Scenario("story", story),
    Scenario("spam-burst-1000", spam_burst),
    Scenario("similar-30", similar_30),
    Scenario("objects-30x30", objects_30x30),
    Scenario("cluster-scoped", cluster_scoped),
    Scenario("names-not-dns", names_not_dns),
    Scenario("empty-messages", empty_messages),
    Scenario("patch-404", deleted_event, on_pause=delete_events),
    Scenario("long-messages", long_messages),
    Scenario("spam-refill-300s", spam_refill, advanced=301),
    Scenario("aggregation-window-600s", aggregation_window, advanced=1200),
    Scenario(
        "full-group-repeat",
        group_full_repeat,
        ("deterministic-aggregation",),
        check=check_group_full_repeat,
    ),
    Scenario("several-recorders", several_recorders),
    Scenario("field-paths", field_paths),
    Scenario("cache-4096-kept", eviction(4095)),
    Scenario("cache-4096-evicted", eviction(4096)),
    Scenario(
        "cache-after-combined",
        eviction_after_combined,
        ("combined-cached-once",),
        check=check_eviction_after_combined,
    ),
    Scenario(
        "namespace-terminating-403",
        namespace_terminating,
        setup=hold_namespace,
        on_pause=terminate_namespace,
        teardown=release_namespace,
    ),
    Scenario("invalid-422", invalid_annotation),
    Scenario(
        "throttled-429",
        throttled,
        ("retry-bare-429",),
        check=check_throttled,
        setup=throttle_webhook,
        on_pause=toggle_throttle,
        teardown=stop_throttle_webhook,
    ),
    Scenario(
        "unreferenceable",
        unreferenceable,
        ("refuse-unreferenceable",),
        adjust=without_unreferenceable,
    ),
    Scenario("flood-5000", flood, ("queue-after-correlation",), check=check_flood),
    Scenario("shutdown-queued", shutdown_queued, ("graceful-shutdown",), check=check_shutdown),
    Scenario(
        "events-series",
        ev_series,
        ("events-v1-series-at-shutdown",),
        adjust=series_count(5),
    ),
    Scenario("events-notes", ev_notes, ("events-v1-series-at-shutdown",), adjust=series_count(30)),
    Scenario(
        "events-recorders",
        ev_recorders,
        ("events-v1-series-at-shutdown",),
        check=check_ev_recorders,
    ),
    Scenario("events-long-note", ev_long_note, ("events-v1-note-cut",), check=check_long_note),
    Scenario(
        "events-resource-version",
        ev_resource_version,
        ("events-v1-series-ignores-resource-version",),
        check=check_resource_version,
    ),
    Scenario("events-cluster-scoped", ev_cluster_scoped),
    # Last: the restart leaves the controller-manager a while to catch up.
    Scenario(
        "apiserver-outage",
        outage,
        ("combined-timestamps",),
        check=check_outage,
        on_pause=apiserver_outage,
    ),
)


# Normalizing what the apiserver stored.


def _time_s(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text).timestamp()


def _name_shape(name: str, object_name: str) -> str:
    if object_name and re.fullmatch(re.escape(object_name) + r"\.[0-9a-f]+", name):
        return "<object>.<hex>"
    if _UUID.match(name):
        return "<uuid>"
    return name


def _sub(value: Any, namespace: str, tag: str) -> Any:
    if isinstance(value, str):
        return value.replace(namespace, "<ns>").replace(tag, "<tag>")
    if isinstance(value, dict):
        return {k: _sub(v, namespace, tag) for k, v in value.items()}
    return value


def normalize_core(event: dict[str, Any], namespace: str, tag: str) -> dict[str, Any]:
    involved = event.get("involvedObject") or {}
    first, last = _time_s(event.get("firstTimestamp")), _time_s(event.get("lastTimestamp"))
    return _sub(
        {
            "name": _name_shape(event["metadata"]["name"], involved.get("name", "")),
            "namespace": event["metadata"]["namespace"],
            "annotations": event["metadata"].get("annotations") or {},
            "involvedObject": involved,
            "type": event.get("type", ""),
            "reason": event.get("reason", ""),
            "message": event.get("message", ""),
            "count": event.get("count"),
            "source": event.get("source") or {},
            "reportingComponent": event.get("reportingComponent") or "",
            "reportingInstance": event.get("reportingInstance") or "",
            "eventTime": event.get("eventTime"),
            "_first": first,
            "_last": last,
        },
        namespace,
        tag,
    )


def normalize_events_v1(event: dict[str, Any], namespace: str, tag: str) -> dict[str, Any]:
    regarding = event.get("regarding") or {}
    series = event.get("series")
    return _sub(
        {
            "name": _name_shape(event["metadata"]["name"], regarding.get("name", "")),
            "namespace": event["metadata"]["namespace"],
            "regarding": regarding,
            "related": event.get("related"),
            "type": event.get("type", ""),
            "reason": event.get("reason", ""),
            "action": event.get("action", ""),
            "note": event.get("note", ""),
            "reportingController": event.get("reportingController", ""),
            "reportingInstance": event.get("reportingInstance", "").replace(HOSTNAME, "<host>"),
            "series": None if series is None else series["count"],
            "_first": _time_s(event.get("eventTime")),
            "_last": _time_s((series or {}).get("lastObservedTime"))
            or _time_s(event.get("eventTime")),
        },
        namespace,
        tag,
    )


def strip_times(outcome: Outcome) -> Outcome:
    stripped = outcome.copy()
    for event in stripped.events:
        event.pop("_first", None)
        event.pop("_last", None)
    return stripped


def check_times(outcome: Outcome, run: Run, advanced: float) -> None:
    """Each timestamp within the run (plus the clock's advance); seen once: first == last."""
    low, high = math.floor(run.started) - 1, math.ceil(run.ended) + advanced + 1
    for event in outcome.events:
        first, last = event["_first"], event["_last"]
        assert first is not None and last is not None, event
        assert low <= first <= last <= high, (event, run)
        if event.get("count") == 1:
            assert first == last, event


# The test.


@pytest.fixture(scope="session")
def clientgo_program() -> Path:
    return build_program()


def _listed(kubectl: Kubectl, mode: str, namespace: str, tag: str) -> list[dict[str, Any]]:
    resource = "events" if mode == "record" else "events.v1.events.k8s.io"
    items: list[dict[str, Any]] = kubectl.json("get", resource, "-n", namespace)["items"]
    cluster_scoped = kubectl.json("get", resource, "-n", "default")["items"]
    key = "involvedObject" if mode == "record" else "regarding"
    items += [e for e in cluster_scoped if tag in (e.get(key) or {}).get("name", "")]
    return items


async def _run_side(
    side: str,
    scenario: Scenario,
    kubectl: Kubectl,
    cluster: DevCluster,
    program: Path,
    api: client.ApiClient,
) -> tuple[Outcome, Run]:
    tag = f"{side}{uuid.uuid4().hex[:6]}"
    namespace = f"cf-{tag}"
    kubectl("create", "namespace", namespace)  # Events need no ServiceAccount: no wait for it
    ctx = Context(namespace, kubectl, cluster)
    script = scenario.build(namespace, tag)
    audit = cluster.layout.audit_log
    since = audit.stat().st_size

    def on_pause(label: str) -> None:
        assert scenario.on_pause is not None, f"unexpected pause {label!r}"
        scenario.on_pause(ctx, label)

    if scenario.setup is not None:
        scenario.setup(ctx)
    try:
        run = Run(started=time.time(), ended=0.0)
        if side == "go":
            await asyncio.to_thread(run_go, program, cluster.kubeconfig, script, on_pause)
        else:
            await run_ours(api, script, on_pause)
        run.ended = time.time()
        run.writes = audit_writes(audit, since, GO_AGENT if side == "go" else OURS_AGENT)
        normalize = normalize_core if script.mode == "record" else normalize_events_v1
        events = [
            normalize(e, namespace, tag) for e in _listed(kubectl, script.mode, namespace, tag)
        ]
    finally:
        if scenario.teardown is not None:
            scenario.teardown(ctx)
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    outcome = Outcome(events, run.tally()).sort()
    print(f"{side}: {len(events)} Events; writes {dict(sorted(outcome.writes.items()))}")
    return outcome, run


def test_differences_are_known() -> None:
    named = {d for scenario in SCENARIOS for d in scenario.differences}
    assert named == set(DELIBERATE_DIFFERENCES)
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_conformance(
    scenario: Scenario,
    kubectl: Kubectl,
    cluster: DevCluster,
    clientgo_program: Path,
    api: client.ApiClient,
) -> None:
    go, go_run = await _run_side("go", scenario, kubectl, cluster, clientgo_program, api)
    ours, ours_run = await _run_side("py", scenario, kubectl, cluster, clientgo_program, api)
    check_times(go, go_run, scenario.advanced)
    check_times(ours, ours_run, scenario.advanced)
    if scenario.check is not None:
        scenario.check(go, ours)
        return
    expected = strip_times(go)
    if scenario.adjust is not None:
        expected = scenario.adjust(expected)
    assert strip_times(ours).sort() == expected.sort()
