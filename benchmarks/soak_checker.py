"""The soak's invariants: what must hold once the operator had a quiet period after a burst.

Pure functions over a snapshot of the cluster (plain object dicts), the soak's record and the
operator's writes from the audit log; each returns the violations it finds, each naming the
invariant, the object and what is wrong.

Events are counted per Redis (by uid), type, reason and message, summing ``count``: the
recorder's documented merges (docs/event-recorder.md) are then accounted for. A repeat of a
message counts up on one Event (deduplication), and an operator restart continues it or starts
a second Event with the same message: both add up the same. Aggregation ("combined from
similar events") needs 10 distinct messages of one reason on one Redis within 10 minutes; with
at most 5 replicas a reason has at most 5 messages here, so a combined Event means the
checker's premise broke and is reported. What may legitimately differ, and only in the cycle
where it arises:

- more than expected: a pass that failed or was cut short repeats its Events (planning.py:
  "a crash mid-pass repeats the pass's events"), so an operator kill, an apiserver outage, or
  a refused write of that Redis in the cycle explains it;
- fewer than expected: a kill -9 loses the Events still queued, a write refused right after an
  apiserver restart (its RBAC cache still empty) is given up, and the spam filter (25 writes per
  Redis and Event type, then one per 5 minutes) skips writes. The spam filter can only have
  skipped one if the Events of that type on that Redis already add up to 25 or more.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit_log import Write
from soak_world import CHECKED_REASONS, EventCount, RedisRecord, World

from redis_operator.api import Redis, RedisSpec, is_being_deleted
from redis_operator.children import (
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    controller_reference,
    is_finished,
    is_owned_by,
    is_ready,
    ordinal_of,
    pod_matches_spec,
    pod_name,
    redis_name_of,
)
from redis_operator.messages import SOURCE_COMPONENT
from redis_operator.settings import EVENT_OPTIONS

Obj = Mapping[str, Any]

DUPLICATE = "no two pods for one ordinal"
ORPHAN = "no orphan child"
OWNED_BY_DELETED = "no child of a deleted Redis"
STATUS = "status equals what exists"
CONVERGED = "children match the spec"
DELETION = "deletion completes"
AT_REST = "0 operator writes at rest"
REFUSED = "no refused-write storm"
EVENTS = "Event counts add up"
ALIVE = "the operator stays up"
STATE_INVARIANTS = frozenset({DUPLICATE, ORPHAN, OWNED_BY_DELETED, STATUS, CONVERGED, DELETION})
"""The invariants about objects, which a settled cluster meets (the others are about writes)."""

COMBINED_PREFIX = "(combined from similar events): "
EVENT_TTL_MARGIN = 50 * 60.0
"""Events expire after the apiserver's --event-ttl (1 h): a Redis older than this is left out
of the Event count."""


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


@dataclass(frozen=True)
class Snapshot:
    """What the cluster holds in the soak's namespaces."""

    namespaces: Mapping[str, Obj]
    """The soak's namespaces that exist, by name."""
    redis: Sequence[Obj]
    pods: Sequence[Obj]
    services: Sequence[Obj]
    events: Sequence[Obj]
    """Events the operator recorded about Redis objects."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _namespace(obj: Obj) -> str:
    return str(_meta(obj).get("namespace", ""))


def _uid(obj: Obj) -> str:
    return str(_meta(obj).get("uid", ""))


# -- the cluster's state ------------------------------------------------------------------


def state_violations(snapshot: Snapshot, world: World, now: float) -> list[Violation]:
    """Everything about the objects themselves; empty once the operator has converged."""
    found: list[Violation] = []
    found += _namespace_violations(snapshot, world, now)
    existing = {_uid(r): r for r in snapshot.redis}
    for record in world.redis.values():
        namespace = world.namespaces[record.namespace]
        if namespace.deleted_at is not None:
            continue  # the namespace's own deletion is checked
        redis = existing.get(record.uid)
        if record.deleted_at is not None:
            if redis is not None:
                finalizers = _meta(redis).get("finalizers") or []
                found.append(
                    Violation(
                        DELETION,
                        f"redis {record.key}",
                        f"still there {now - record.deleted_at:.0f}s after its deletion "
                        f"(finalizers {finalizers})",
                    )
                )
            continue
        if redis is None:
            found.append(Violation(CONVERGED, f"redis {record.key}", "gone; nobody deleted it"))
            continue
        pods = [p for p in snapshot.pods if _namespace(p) == record.namespace]
        services = [s for s in snapshot.services if _namespace(s) == record.namespace]
        found += _redis_violations(record, redis, pods, services)
    found += _child_violations(snapshot, world, existing)
    return found


def _namespace_violations(snapshot: Snapshot, world: World, now: float) -> list[Violation]:
    found = []
    for record in world.namespaces.values():
        exists = record.name in snapshot.namespaces
        if record.deleted_at is not None and exists:
            phase = (snapshot.namespaces[record.name].get("status") or {}).get("phase")
            left = sorted(_name(r) for r in snapshot.redis if _namespace(r) == record.name)
            found.append(
                Violation(
                    DELETION,
                    f"namespace {record.name}",
                    f"still there ({phase}) {now - record.deleted_at:.0f}s after its deletion; "
                    f"Redis left: {left or 'none'}",
                )
            )
        elif record.deleted_at is None and not exists:
            found.append(
                Violation(CONVERGED, f"namespace {record.name}", "gone; nobody deleted it")
            )
    return found


def _redis_violations(
    record: RedisRecord, redis: Obj, pods: Sequence[Obj], services: Sequence[Obj]
) -> list[Violation]:
    subject = f"redis {record.key}"
    found = []
    spec = RedisSpec.from_object(redis)
    want = RedisSpec(replicas=record.replicas, port=record.port, image=record.image)
    if spec != want:
        found.append(Violation(CONVERGED, subject, f"spec is {spec}, the soak wrote {want}"))
    owned = [p for p in pods if is_owned_by(p, record.uid)]
    live = [p for p in owned if not is_being_deleted(p) and not is_finished(p)]
    ready = [p for p in live if is_ready(p)]
    status: Mapping[str, Any] = redis.get("status") or {}
    generation = _meta(redis).get("generation")
    for field_name, value in (("replicas", len(live)), ("readyReplicas", len(ready))):
        if status.get(field_name, 0) != value:
            found.append(
                Violation(
                    STATUS, subject, f"status.{field_name} {status.get(field_name)}, {value} exist"
                )
            )
    if status.get("observedGeneration") != generation:
        found.append(
            Violation(
                STATUS,
                subject,
                f"status.observedGeneration {status.get('observedGeneration')}, "
                f"generation {generation}",
            )
        )
    found += _duplicates(record, pods)
    names = {_name(p) for p in live}
    wanted = {pod_name(record.name, i) for i in range(record.replicas)}
    problems = []
    if names != wanted:
        problems.append(
            f"pods {sorted(names)}, want {sorted(wanted)}"
            + (f" ({len(owned) - len(live)} terminating or finished)" if owned != live else "")
        )
    wanted_redis = dataclasses.replace(Redis.from_object(redis), spec=want)
    stale = sorted(_name(p) for p in live if not pod_matches_spec(p, wanted_redis))
    if stale:
        problems.append(f"pods not matching the spec: {stale}")
    not_ready = sorted(names - {_name(p) for p in ready})
    if not_ready:
        problems.append(f"pods not Ready: {not_ready}")
    service = next((s for s in services if _name(s) == record.name), None)
    if service is None or not is_owned_by(service, record.uid):
        problems.append("no Service owned by it")
    else:
        ports = [p.get("port") for p in (service.get("spec") or {}).get("ports") or []]
        if ports != [record.port]:
            problems.append(f"Service ports {ports}, want [{record.port}]")
    found += [Violation(CONVERGED, subject, p) for p in problems]
    return found


def _duplicates(record: RedisRecord, pods: Sequence[Obj]) -> list[Violation]:
    """Pods of this Redis (owned, or labelled as its instance) claiming the same ordinal, by
    name or by hostname (the pod's DNS identity)."""
    claims: dict[int, list[str]] = {}
    for pod in pods:
        labels = _meta(pod).get("labels") or {}
        mine = is_owned_by(pod, record.uid) or (
            labels.get(INSTANCE_LABEL) == record.name and labels.get(MANAGED_BY_LABEL) == MANAGED_BY
        )
        if not mine:
            continue
        hostname = str((pod.get("spec") or {}).get("hostname") or "")
        ordinals = {ordinal_of(_name(pod), record.name), ordinal_of(hostname, record.name)}
        for ordinal in ordinals - {None}:
            assert ordinal is not None
            claims.setdefault(ordinal, []).append(_name(pod))
    return [
        Violation(DUPLICATE, f"redis {record.key}", f"ordinal {o}: pods {sorted(set(names))}")
        for o, names in sorted(claims.items())
        if len(set(names)) > 1
    ]


def _child_violations(
    snapshot: Snapshot, world: World, existing: Mapping[str, Obj]
) -> list[Violation]:
    """Children whose Redis is gone: the operator (or the garbage collector) must remove them."""
    deleted = {r.uid: r for r in world.redis.values() if r.deleted_at is not None}
    live_namespaces = set(world.live_namespaces())
    found = []
    for kind, children in (("pod", snapshot.pods), ("service", snapshot.services)):
        for child in children:
            if _namespace(child) not in live_namespaces:
                continue
            labels = _meta(child).get("labels") or {}
            ref = controller_reference(child)
            if ref is None and labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
                continue
            subject = f"{kind} {_namespace(child)}/{_name(child)}"
            owner = "" if ref is None else str(ref.get("uid", ""))
            if owner in existing:
                continue  # a Redis still being deleted is a deletion that did not complete
            if owner in deleted:
                found.append(
                    Violation(
                        OWNED_BY_DELETED,
                        subject,
                        f"its Redis {deleted[owner].name} was deleted",
                    )
                )
            else:
                found.append(
                    Violation(
                        ORPHAN,
                        subject,
                        "no controller reference" if ref is None else f"owner {owner} is gone",
                    )
                )
    return found


# -- the operator's writes ------------------------------------------------------------------


def at_rest_violations(writes: Sequence[Write], seconds: float) -> list[Violation]:
    if not writes:
        return []
    sample = ", ".join(f"{w.kind} {w.namespace}/{w.name} ({w.code})" for w in writes[:5])
    return [
        Violation(
            AT_REST,
            "operator",
            f"{len(writes)} writes in the {seconds:.0f}s quiet window: {sample}",
        )
    ]


def refused_violations(
    writes: Sequence[Write], max_total: int, max_per_object: int
) -> list[Violation]:
    """Refused writes in one cycle: too many in all, or one object's write refused again and
    again (an operator that does not take no for an answer)."""
    refused = [w for w in writes if w.refused]
    found = []
    if len(refused) > max_total:
        causes = Counter(f"{w.kind} {w.why}" for w in refused)
        found.append(
            Violation(
                REFUSED,
                "operator",
                f"{len(refused)} refused writes in one cycle (bound {max_total}): "
                + ", ".join(f"{k} x{n}" for k, n in causes.most_common()),
            )
        )
    per_object = Counter((w.kind, w.namespace, w.name, w.why) for w in refused)
    for (kind, namespace, name, why), count in sorted(per_object.items()):
        if count > max_per_object:
            found.append(
                Violation(
                    REFUSED,
                    f"{kind} {namespace}/{name}",
                    f"refused {count} times ({why}; bound {max_per_object})",
                )
            )
    return found


KWOK_AGENT = "kwok/"
"""The start of the simulated nodes' User-Agent."""


def node_deleted_successors(writes: Iterable[Write]) -> frozenset[str]:
    """The Redis whose pod a simulated node deleted right after it was created.

    kwok finishes a graceful pod deletion with a delete by name, without a uid precondition,
    and sometimes sends it twice: the second one can land after the operator has already
    created the pod's successor under the same name, and deletes that. The operator then
    rightly records a PodRecreated nobody in the soak asked for. Found from everyone's writes
    in the audit log: a kwok delete (200) of a pod created since anyone else last deleted it
    (by name, or all of its namespace's).
    """
    fresh: set[tuple[str, str]] = set()
    hit: set[str] = set()
    pods = (w for w in writes if w.resource == "pods" and not w.refused)
    for write in sorted(pods, key=lambda w: w.time):
        pod = (write.namespace, write.name)
        by_node = write.agent.startswith(KWOK_AGENT)
        if write.verb == "create":
            fresh.add(pod)
        elif write.verb == "delete" and by_node and pod in fresh:
            key = redis_of_write(write)
            if key is not None:
                hit.add(key)
            fresh.discard(pod)
        elif write.verb == "delete":
            fresh.discard(pod)
        elif write.verb == "deletecollection":  # the namespace controller's
            fresh = {p for p in fresh if p[0] != write.namespace}
    return frozenset(hit)


def redis_of_write(write: Write) -> str | None:
    """The Redis (``namespace/name``) a write of the operator was about, if any."""
    resource = write.resource.split("/")[0]
    if resource == "redis" or resource == "services":
        name: str | None = write.name
    elif resource == "pods":
        name = redis_name_of(write.name)
    elif resource == "events":
        name = write.name.rpartition(".")[0] or None  # <object name>.<hex time>
    else:
        name = None
    return f"{write.namespace}/{name}" if name else None


# -- the Events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disturbances:
    """What in a cycle may explain an Event count that differs from the soak's."""

    operator_killed: bool = False
    apiserver_stopped: bool = False
    refused_for: frozenset[str] = frozenset()
    """Redis (``namespace/name``) with a refused operator write in the cycle."""
    node_deleted_for: frozenset[str] = frozenset()
    """Redis whose new pod a simulated node deleted by name (:func:`node_deleted_successors`)."""

    def repeats(self, key: str) -> str | None:
        """Why Events of this Redis may have been recorded twice."""
        if key in self.node_deleted_for:
            return "kwok deleted the pod's successor by name: a real deletion, a real recreate"
        if self.operator_killed:
            return "operator killed mid-pass"
        if self.apiserver_stopped:
            return "apiserver outage failed a pass"
        if key in self.refused_for:
            return "a refused write failed a pass"
        return None

    def losses(self) -> str | None:
        """Why Events may have been lost."""
        if self.operator_killed:
            return "operator killed with Events queued"
        if self.apiserver_stopped:
            return "Event write refused or dropped around the apiserver outage"
        return None


@dataclass(frozen=True)
class Tolerated:
    """A difference the recorder's documented behaviour explains."""

    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass
class EventLedger:
    """Compares Event counts with the soak's expectations, cycle after cycle.

    A difference explained in the cycle where it arises is accepted from then on (so it is
    reported once); one that changes later is judged again.
    """

    accepted: dict[EventCount, int] = field(default_factory=dict)
    compared: int = 0
    """Occurrences expected at the last check (over all Redis checked), to show what it saw."""

    def check(
        self, snapshot: Snapshot, world: World, disturbances: Disturbances, now: float
    ) -> tuple[list[Violation], list[Tolerated]]:
        checked = {
            r.uid: r
            for r in world.redis.values()
            if world.namespaces[r.namespace].deleted_at is None
            and now - r.created_at < EVENT_TTL_MARGIN
        }
        observed: Counter[EventCount] = Counter()
        by_type: Counter[tuple[str, str]] = Counter()
        violations: list[Violation] = []
        for event in snapshot.events:
            involved = event.get("involvedObject") or {}
            uid = str(involved.get("uid", ""))
            if uid not in checked or (event.get("source") or {}).get("component") != (
                SOURCE_COMPONENT
            ):
                continue
            count = int(event.get("count") or 1)
            type_, reason = str(event.get("type", "")), str(event.get("reason", ""))
            message = str(event.get("message", ""))
            by_type[(uid, type_)] += count
            if message.startswith(COMBINED_PREFIX):
                violations.append(
                    Violation(
                        EVENTS,
                        f"redis {checked[uid].key}",
                        f"a combined Event ({reason}, x{count}): {message}",
                    )
                )
            elif reason in CHECKED_REASONS:
                observed[(uid, type_, reason, message)] += count
        expected = {k: n for k, n in world.expected.items() if k[0] in checked}
        self.compared = sum(expected.values())
        tolerated: list[Tolerated] = []
        for key in sorted(set(expected) | set(observed)):
            uid, type_, reason, message = key
            difference = observed[key] - expected.get(key, 0)
            if difference == 0:
                self.accepted.pop(key, None)
                continue
            if self.accepted.get(key) == difference:
                continue
            self.accepted[key] = difference
            record = checked[uid]
            detail = (
                f"{reason} {message!r}: {observed[key]} recorded, {expected.get(key, 0)} expected"
            )
            if difference > 0:
                cause = disturbances.repeats(record.key)
            else:
                cause = disturbances.losses()
                if cause is None and by_type[(uid, type_)] >= EVENT_OPTIONS.spam_burst:
                    cause = f"spam filter ({by_type[(uid, type_)]} {type_} Events on it)"
            subject = f"redis {record.key}"
            if cause is None:
                violations.append(Violation(EVENTS, subject, detail))
            else:
                tolerated.append(Tolerated(subject, f"{detail} ({cause})"))
        return violations, tolerated


def refused_redis(writes: Iterable[Write]) -> frozenset[str]:
    """The Redis with a refused operator write among ``writes``."""
    return frozenset(
        key for key in (redis_of_write(w) for w in writes if w.refused) if key is not None
    )
