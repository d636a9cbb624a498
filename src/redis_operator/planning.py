"""The reconcile planner: from a Redis and its observed children, what to do and what to tell.

Pure and level-triggered: the same observation gives the same plan, and an observation that
needs nothing gives an empty plan with `status=None`, so a steady state writes nothing. The
Redis comes typed (`api.Redis`, parsed once per pass), its status included. Events fire once
per change because the facts they report are remembered in the Redis' own status:
`observedGeneration` with `targetReplicas` for spec changes, the `Ready` condition for name
conflicts. The controller writes the plan's status only after its actions succeeded, so a crash
mid-pass repeats the pass's events (the recorder then counts them up on one Event).

A pass whose actions failed writes the failure (`status_after`) but loses nothing the next
pass needs to tell a pod deleted by someone else from one not created yet: a missing pod is
reported as deleted only if the spec change was acknowledged and its name was not known to be
taken by a foreign object. So a failed pass keeps `observedGeneration` and `targetReplicas` as
they were (the change is retried and announced again), and keeps the old `Ready` condition when
the plan's would forget a conflict (the name is free, but our pod under it was not created
yet): until a pass that acts succeeds, the conflicts known only grow.

The only memory outside the cluster is `deleted_by_us`, the pods the controller itself deleted
(like the ReplicaSet controller's expectations): without it, a pod deleted for a scale-down or
a replacement would be reported as deleted by someone else once it is gone.

When a pass wants another look it says why (`Requeue`); how soon is the controller's setting.

Deletion is the garbage collector's: every child has a controller owner reference, so a Redis
being deleted gets an empty plan, and the planner only says what to tell about it
(`deletion_event`) and which objects of an earlier version must lose their finalizer
(`without_legacy_finalizer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from redis_operator.api import LEGACY_FINALIZER, Auth, ChildKind, Mode, Redis, is_being_deleted
from redis_operator.auth import password_digest
from redis_operator.children import (
    AUTH_SECRET_LABEL,
    PRIMARY_ROLE,
    ROLE_LABEL,
    auth_secret,
    auth_secret_name,
    desired_pod,
    desired_role_services,
    desired_service,
    is_finished,
    is_owned_by,
    is_ready,
    ordinal_of,
    password_changed,
    pod_matches_spec,
    pod_name,
    role_service_names,
    selector_string,
    service_patch,
)
from redis_operator.messages import SECRET_KIND, Event, EventKey, Language

READY = "Ready"
REPLICA_FAILURE = "ReplicaFailure"
AUTH = "AuthSecret"
"""The condition saying whether the password's Secret is there and holds its key."""
SECRET_FOUND = "SecretFound"
SECRET_NOT_FOUND = "SecretNotFound"
KEY_NOT_FOUND = "KeyNotFound"

# Reasons of the Ready condition, most important first.
NAME_CONFLICT = "NameConflict"
SCALING_UP = "ScalingUp"
SCALING_DOWN = "ScalingDown"
UPDATING = "Updating"
PROGRESSING = "Progressing"
PODS_NOT_READY = "PodsNotReady"
ALL_REPLICAS_READY = "AllReplicasReady"

CONFLICT_MESSAGE_PREFIX = "Names taken by objects this Redis does not control: "

_MAX_CONDITION_MESSAGE = 1024

_PLANNED_STATUS = frozenset(
    {"replicas", "readyReplicas", "selector", "observedGeneration", "targetReplicas", "conditions"}
)
"""The status fields the planner computes; it keeps the others as it found them."""

ORPHAN_FINALIZER = "orphan"
"""The garbage collector's finalizer on an object deleted with propagation `Orphan`."""


class Requeue(Enum):
    """Why a pass wants another look although it may get no watch event to queue one."""

    WAIT = "wait"
    """Waiting for a pod or the Service to go away, or for a replacement to become Ready."""

    CONFLICT = "conflict"
    """A child's name is taken by an object whose events we may not see."""


@dataclass(frozen=True)
class ChildRef:
    """A child to delete, by name and uid.

    The controller should delete with `preconditions.uid`, so that it never deletes an object
    someone created under the same name since the observation.
    """

    name: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ChildRef:
        meta: Mapping[str, Any] = obj.get("metadata") or {}
        return cls(name=str(meta.get("name", "")), uid=str(meta.get("uid", "")))


@dataclass(frozen=True)
class Plan:
    """What one reconcile pass should do and tell.

    Actions: `create_pods` (full bodies, lowest ordinal first); `delete_pods` (scale-down and
    stray owned pods, highest ordinal first); `replace_pods` (delete now, recreated under the
    same name by a later pass once gone); `create_service` (full body); `patch_service` (a JSON
    merge patch for the owned Service); `create_services`, `patch_services` (by name) and
    `delete_services`: the role Services of replication mode; `create_auth_secret` (the
    generated password's Secret, whose body, with its random password, the controller builds;
    it stamps the pods it creates in that pass with the new Secret's digest). `status` is the
    new status, None when unchanged; `events` are recorded on the Redis; `requeue` asks for
    another pass, and says why, when something is awaited that may produce no watch event.
    """

    create_pods: tuple[dict[str, Any], ...] = ()
    delete_pods: tuple[ChildRef, ...] = ()
    replace_pods: tuple[ChildRef, ...] = ()
    create_service: dict[str, Any] | None = None
    patch_service: dict[str, Any] | None = None
    create_services: tuple[dict[str, Any], ...] = ()
    patch_services: tuple[tuple[str, dict[str, Any]], ...] = ()
    delete_services: tuple[ChildRef, ...] = ()
    create_auth_secret: bool = False
    status: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    requeue: Requeue | None = None

    @property
    def has_actions(self) -> bool:
        """Whether the plan changes any child."""
        return bool(
            self.create_pods
            or self.delete_pods
            or self.replace_pods
            or self.create_service is not None
            or self.patch_service is not None
            or self.create_services
            or self.patch_services
            or self.delete_services
            or self.create_auth_secret
        )

    @property
    def is_empty(self) -> bool:
        """Whether the pass writes nothing at all: no child, no status, no Event."""
        return not self.has_actions and self.status is None and not self.events


@dataclass(frozen=True)
class Failure:
    """A failed action of a pass: reason is the EventKey's value, e.g. `FailedCreate`."""

    reason: str
    message: str


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serializes."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _find_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), None)


def _condition(
    old: Mapping[str, Any] | None,
    type_: str,
    *,
    true: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """A metav1.Condition; lastTransitionTime moves only when status does."""
    status = "True" if true else "False"
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        transition = str(old["lastTransitionTime"])
    else:
        transition = timestamp(now)
    return {
        "type": type_,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message[:_MAX_CONDITION_MESSAGE],
    }


def _known_conflicts(ready: Mapping[str, Any] | None) -> frozenset[str]:
    """The conflicts already told, as recorded in the Ready condition by an earlier pass.

    Only a conflict that is new warns: one that goes away, or stays, does not warn again.
    """
    if ready is None or ready.get("reason") != NAME_CONFLICT:
        return frozenset()
    message = str(ready.get("message", ""))
    if not message.startswith(CONFLICT_MESSAGE_PREFIX):
        return frozenset()
    return frozenset(message.removeprefix(CONFLICT_MESSAGE_PREFIX).split(", "))


def _scaling_event(redis: Redis, status: Mapping[str, Any]) -> Event | None:
    """ScalingUp/ScalingDown when a spec change not yet acted on moved replicas."""
    if status.get("observedGeneration") == redis.generation:
        return None
    before = int(status.get("targetReplicas", 0))
    args: dict[str, str | int] = {"name": redis.name, "replicas": redis.spec.replicas}
    if redis.spec.replicas > before:
        return Event(EventKey.SCALING_UP, args)
    if redis.spec.replicas < before:
        return Event(EventKey.SCALING_DOWN, args)
    return None


def _keeps_primary(redis: Redis, pod: Mapping[str, Any]) -> bool:
    """Replication mode: a scale-down never deletes the pod labelled primary while any
    replica stays; the replication step hands over first (`Switchover`), which moves the label,
    and the next pass deletes it as a replica."""
    role = ((pod.get("metadata") or {}).get("labels") or {}).get(ROLE_LABEL)
    return redis.spec.mode is Mode.REPLICATION and role == PRIMARY_ROLE and redis.spec.replicas > 0


def _replacement(active: Mapping[int, Mapping[str, Any]], stale: Sequence[int]) -> int | None:
    """The stale pod to replace now, if any: one at a time, without losing a Ready pod early.

    A Ready pod goes only when every other pod is Ready. A pod that is not Ready serves
    nobody, so it goes first and needs no wait: otherwise pods that all failed to start (a
    typo in the image) would wait for each other forever. Highest ordinal first, like a
    StatefulSet rollout.
    """
    candidate = min(stale, key=lambda o: (is_ready(active[o]), -o))
    if not is_ready(active[candidate]):
        return candidate
    others_ready = all(is_ready(pod) for o, pod in active.items() if o != candidate)
    return candidate if others_ready else None


@dataclass
class _PodWork:
    """What the pass found to do about the pods, and what it learned on the way."""

    creates: list[int] = field(default_factory=list)
    deletes: list[ChildRef] = field(default_factory=list)
    replaces: list[ChildRef] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    active: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    stale: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    waiting: bool = False


def _pod_work(
    redis: Redis,
    pods: Sequence[Mapping[str, Any]],
    deleted_by_us: frozenset[str],
    acknowledged: bool,
    known_conflicts: frozenset[str],
    auth_digest: str | None = None,
) -> _PodWork:
    """Create missing ordinals, delete the excess, replace finished and stale pods (image,
    port, resources, nodeSelector or tolerations changed: `children.pod_matches_spec`).

    A missing pod is reported as deleted by someone else only if the spec has not changed,
    we did not delete it, and its name was not taken by a foreign pod (then ours never was).
    """
    work = _PodWork()
    owned = [pod for pod in pods if is_owned_by(pod, redis.uid)]
    by_ordinal: dict[int, Mapping[str, Any]] = {}
    strays: list[ChildRef] = []
    for pod in pods:
        ordinal = ordinal_of(_name(pod), redis.name)
        if ordinal is not None:
            by_ordinal[ordinal] = pod
        elif is_owned_by(pod, redis.uid) and not is_being_deleted(pod):
            strays.append(ChildRef.of(pod))

    for ordinal in range(redis.spec.replicas):
        name = pod_name(redis.name, ordinal)
        child = by_ordinal.get(ordinal)
        if child is None:
            work.creates.append(ordinal)
            conflicted = f"{ChildKind.POD}/{name}" in known_conflicts
            if acknowledged and name not in deleted_by_us and not conflicted:
                work.events.append(Event(EventKey.POD_RECREATED, {"pod": name}))
        elif not is_owned_by(child, redis.uid):
            work.conflicts.append(f"{ChildKind.POD}/{name}")
        elif is_being_deleted(child):
            work.waiting = True
        elif is_finished(child):
            work.replaces.append(ChildRef.of(child))
            phase = str((child.get("status") or {}).get("phase"))
            work.events.append(Event(EventKey.POD_FINISHED, {"pod": name, "phase": phase}))
        else:
            work.active[ordinal] = child

    for ordinal in sorted(by_ordinal, reverse=True):
        pod = by_ordinal[ordinal]
        if (
            ordinal >= redis.spec.replicas
            and is_owned_by(pod, redis.uid)
            and not is_being_deleted(pod)
        ):
            if _keeps_primary(redis, pod):
                work.waiting = True  # the replication step switches over, then it goes
                continue
            work.deletes.append(ChildRef.of(pod))
    work.deletes += sorted(strays, key=lambda ref: ref.name)

    work.stale = [
        o for o, pod in work.active.items() if not pod_matches_spec(pod, redis, auth_digest)
    ]
    rekeyed = [
        o
        for o in work.stale
        if redis.spec.mode is Mode.REPLICATION and password_changed(work.active[o], auth_digest)
    ]
    if rekeyed:
        # A replica with the new password cannot authenticate to a primary with the old one
        # (nor the reverse): all at once, or the rollout would wait for a link that never
        # comes (docs/replication.md#changing-the-password).
        work.waiting = True
        if not (work.creates or work.replaces or any(is_being_deleted(p) for p in owned)):
            work.events.append(Event(EventKey.PASSWORD_CHANGED, {"name": redis.name}))
            work.replaces += [ChildRef.of(work.active[o]) for o in sorted(rekeyed, reverse=True)]
        work.stale = [o for o in work.stale if o not in rekeyed]
    if work.stale:
        work.waiting = True
        busy = work.creates or work.replaces or any(is_being_deleted(pod) for pod in owned)
        busy = busy or bool(rekeyed)
        ordinal = None if busy else _replacement(work.active, work.stale)
        if ordinal is not None:
            work.replaces.append(ChildRef.of(work.active[ordinal]))
            work.events.append(Event(EventKey.POD_REPLACED, {"pod": pod_name(redis.name, ordinal)}))
    work.waiting = work.waiting or bool(work.replaces)
    return work


def plan(
    redis: Redis,
    pods: Sequence[Mapping[str, Any]],
    service: Mapping[str, Any] | None,
    deleted_by_us: frozenset[str] = frozenset(),
    *,
    now: datetime,
    auth_secret: Mapping[str, Any] | None = None,
    role_services: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Plan one reconcile pass of a Redis that is not being deleted.

    `pods`: the pods of the Redis' namespace named like its children or labelled with its
    instance; `service`: the Service named like the Redis, if any; `now`: for condition times;
    `auth_secret`: the Secret holding the password (`<name>-auth` or the user's) as watched,
    if any; `role_services`: the Services named `<name>-primary` and `<name>-replicas` found,
    by name.
    A Redis being deleted gets an empty plan: the garbage collector deletes its children, and
    nothing is recreated for it.
    """
    if redis.deleting:
        return Plan()
    current = redis.status
    acknowledged = current.get("observedGeneration") == redis.generation
    old_ready = _find_condition(current, READY)
    known_conflicts = _known_conflicts(old_ready)
    scaling = _scaling_event(redis, current)
    password = _password_check(redis, auth_secret)
    work = _pod_work(redis, pods, deleted_by_us, acknowledged, known_conflicts, password.digest)
    events = ([] if scaling is None else [scaling]) + work.events

    create_service: dict[str, Any] | None = None
    patch_service: dict[str, Any] | None = None
    if service is None:
        create_service = desired_service(redis)
    elif not is_owned_by(service, redis.uid):
        work.conflicts.append(f"{ChildKind.SERVICE}/{redis.name}")
    elif is_being_deleted(service):
        work.waiting = True
    else:
        patch_service = service_patch(service, redis)
    service_pending = service is None or patch_service is not None or is_being_deleted(service)
    roles = _role_service_work(redis, role_services or {}, work)
    service_pending = service_pending or roles.pending
    if password.conflict:
        work.conflicts.append(f"{SECRET_KIND}/{auth_secret_name(redis.name)}")
    old_auth = _find_condition(current, AUTH)
    if password.problem is not None and (old_auth or {}).get("reason") != password.problem.reason:
        events.append(password.problem.event)

    conflict_message = CONFLICT_MESSAGE_PREFIX + ", ".join(work.conflicts)
    new_conflicts = [c for c in work.conflicts if c not in known_conflicts]
    if new_conflicts:
        children = ", ".join(new_conflicts)
        events.append(Event(EventKey.NAME_CONFLICT, {"name": redis.name, "children": children}))

    live = [
        pod
        for pod in pods
        if is_owned_by(pod, redis.uid) and not is_being_deleted(pod) and not is_finished(pod)
    ]
    ready_count = sum(1 for pod in live if is_ready(pod))
    desired = redis.spec.replicas
    if work.conflicts:
        reason, message = NAME_CONFLICT, conflict_message
    else:
        message = f"{ready_count}/{desired} replicas ready"
        if len(work.active) < desired:
            reason = SCALING_UP
        elif work.deletes:
            reason = SCALING_DOWN
        elif work.stale:
            reason = UPDATING
        elif service_pending:
            reason = PROGRESSING
        elif ready_count < desired:
            reason = PODS_NOT_READY
        else:
            reason = ALL_REPLICAS_READY
    conditions = [
        _condition(
            old_ready,
            READY,
            true=reason == ALL_REPLICAS_READY,
            reason=reason,
            message=message,
            generation=redis.generation,
            now=now,
        )
    ]

    has_actions = bool(work.creates or work.deletes or work.replaces) or (
        create_service is not None
        or patch_service is not None
        or password.create
        or roles.has_actions
    )
    # A failure reported by an earlier pass stands until a pass that acts succeeds (see
    # `status_after`); a pass with nothing to do has nothing left failing.
    old_failure = _find_condition(current, REPLICA_FAILURE)
    if old_failure is not None and has_actions:
        conditions.append(dict(old_failure))
    if password.problem is not None or old_auth is not None:
        problem = password.problem
        conditions.append(
            _condition(
                old_auth,
                AUTH,
                true=problem is None,
                reason=SECRET_FOUND if problem is None else problem.reason,
                message=_auth_message(redis) if problem is None else problem.message,
                generation=redis.generation,
                now=now,
            )
        )
    # What the replication step writes (controller/replicator.py) stays as it is.
    conditions += [
        dict(c)
        for c in current.get("conditions") or []
        if c.get("type") not in (READY, REPLICA_FAILURE, AUTH)
    ]
    kept = {k: v for k, v in current.items() if k not in _PLANNED_STATUS}
    status = kept | {
        "replicas": len(live),
        "readyReplicas": ready_count,
        "selector": selector_string(redis.name),
        "observedGeneration": redis.generation,
        "targetReplicas": desired,
        "conditions": conditions,
    }
    if work.waiting:
        requeue: Requeue | None = Requeue.WAIT
    elif work.conflicts:
        requeue = Requeue.CONFLICT
    else:
        requeue = None
    return Plan(
        create_pods=tuple(desired_pod(redis, ordinal, password.digest) for ordinal in work.creates),
        delete_pods=tuple(work.deletes),
        replace_pods=tuple(work.replaces),
        create_service=create_service,
        patch_service=patch_service,
        create_services=roles.creates,
        patch_services=roles.patches,
        delete_services=roles.deletes,
        create_auth_secret=password.create,
        status=None if status == dict(current) else status,
        events=tuple(events),
        requeue=requeue,
    )


@dataclass(frozen=True)
class _Password:
    """What the pass found of the password's Secret: its digest (None: not known), whether to
    create `<name>-auth`, whether that name is someone else's, what is wrong with it."""

    digest: str | None = None
    create: bool = False
    conflict: bool = False
    problem: _AuthProblem | None = None


@dataclass(frozen=True)
class _AuthProblem:
    reason: str
    event: Event

    @property
    def message(self) -> str:
        return self.event.render(Language.EN).message


def _password_check(redis: Redis, secret: Mapping[str, Any] | None) -> _Password:
    """The password's Secret as watched: created when generated and missing; a user's Secret
    that is missing (or lacks the label the operator watches by) or lacks its key is told,
    naming the Secret and the key (never a value), and nothing else changes."""
    ref = auth_secret(redis)
    if ref is None:
        return _Password()
    name, key = ref
    generated = redis.spec.auth == Auth()
    if secret is None:
        if generated:
            return _Password(create=True)
        event = Event(EventKey.AUTH_SECRET_MISSING, {"secret": name, "label": AUTH_SECRET_LABEL})
        return _Password(problem=_AuthProblem(SECRET_NOT_FOUND, event))
    if generated and not is_owned_by(secret, redis.uid):
        return _Password(conflict=True)
    digest = password_digest(secret, key)
    if digest is None:
        event = Event(EventKey.AUTH_KEY_MISSING, {"secret": name, "key": key})
        return _Password(problem=_AuthProblem(KEY_NOT_FOUND, event))
    return _Password(digest=digest)


def _auth_message(redis: Redis) -> str:
    ref = auth_secret(redis)
    return "" if ref is None else f"Secret {ref[0]} holds the key {ref[1]!r}"


@dataclass(frozen=True)
class _RoleServices:
    creates: tuple[dict[str, Any], ...] = ()
    patches: tuple[tuple[str, dict[str, Any]], ...] = ()
    deletes: tuple[ChildRef, ...] = ()
    pending: bool = False

    @property
    def has_actions(self) -> bool:
        return bool(self.creates or self.patches or self.deletes)


def _role_service_work(
    redis: Redis, found: Mapping[str, Mapping[str, Any]], work: _PodWork
) -> _RoleServices:
    """Create or patch `<name>-primary` and `<name>-replicas` in replication mode; delete owned
    ones otherwise. A name taken by someone else's Service is a conflict, like any child."""
    creates: list[dict[str, Any]] = []
    patches: list[tuple[str, dict[str, Any]]] = []
    pending = False
    desired = {body["metadata"]["name"]: body for body in desired_role_services(redis)}
    for name, body in desired.items():
        have = found.get(name)
        if have is None:
            creates.append(body)
        elif not is_owned_by(have, redis.uid):
            work.conflicts.append(f"{ChildKind.SERVICE}/{name}")
        elif is_being_deleted(have):
            work.waiting = pending = True
        elif (patch := service_patch(have, redis, body)) is not None:
            patches.append((name, patch))
    deletes = tuple(
        ChildRef.of(have)
        for name in role_service_names(redis.name)
        if name not in desired
        and (have := found.get(name)) is not None
        and is_owned_by(have, redis.uid)
        and not is_being_deleted(have)
    )
    pending = pending or bool(creates or patches)
    return _RoleServices(tuple(creates), tuple(patches), deletes, pending)


def with_failure(
    status: Mapping[str, Any], reason: str, message: str, *, generation: int, now: datetime
) -> dict[str, Any]:
    """`status` with a `ReplicaFailure` condition saying what failed (Deployment's convention)."""
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    old = _find_condition(status, REPLICA_FAILURE)
    failure = _condition(
        old,
        REPLICA_FAILURE,
        true=True,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    kept = [dict(c) for c in conditions if c.get("type") != REPLICA_FAILURE]
    return dict(status) | {"conditions": [*kept, failure]}


def _unacknowledged(status: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """`status` keeping the memory of `current` that a failed pass must not overwrite.

    `observedGeneration` and `targetReplicas` stay, so the next pass retries the spec change
    and announces it again. The old Ready condition stays if the new one would forget a known
    conflict: that name is free now, but our pod under it was not created yet.
    """
    for key in ("observedGeneration", "targetReplicas"):
        if key in current:
            status[key] = current[key]
        else:
            status.pop(key, None)
    old_ready = _find_condition(current, READY)
    forgotten = _known_conflicts(old_ready) - _known_conflicts(_find_condition(status, READY))
    if old_ready is not None and forgotten:
        status["conditions"] = [
            dict(old_ready) if c.get("type") == READY else c for c in status["conditions"]
        ]
    return status


def status_after(
    redis: Redis, plan: Plan, *, failure: Failure | None = None, now: datetime
) -> dict[str, Any] | None:
    """The status to write once the plan's actions were carried out, or None if unchanged.

    Without a failure: the plan's status, with any earlier `ReplicaFailure` cleared. With one:
    the failure as a condition, and nothing the next pass judges by is lost (see the module
    docstring): observedGeneration and targetReplicas stay as they were, and so does the old
    Ready condition if the plan's would forget a conflict, so the next pass retries and
    announces the change again rather than taking the missing pods for pods deleted by someone
    else.
    """
    current: dict[str, Any] = dict(redis.status)
    status = dict(plan.status) if plan.status is not None else dict(current)
    if failure is None:
        if "conditions" in status:
            status["conditions"] = [
                c for c in status["conditions"] if c.get("type") != REPLICA_FAILURE
            ]
    else:
        status = with_failure(
            status, failure.reason, failure.message, generation=redis.generation, now=now
        )
        status = _unacknowledged(status, current)
    return None if status == current else status


def without_legacy_finalizer(finalizers: Sequence[str]) -> list[str] | None:
    """The finalizers a Redis keeps once released from `LEGACY_FINALIZER`, or None when it
    does not carry it (nothing to write).

    Live or being deleted alike: the garbage collector deletes the children, and nothing but
    the operator would ever remove it. Other finalizers (someone else's) stay.
    """
    if LEGACY_FINALIZER not in finalizers:
        return None
    return [f for f in finalizers if f != LEGACY_FINALIZER]


def deletion_event(
    redis: Redis, finalizers: Sequence[str], pods: Sequence[Mapping[str, Any]]
) -> Event | None:
    """The `Deleting` Event of a Redis seen being deleted, with the pods that go with it: the
    more of what its last status counted and of the owned pods here (terminating or not).
    The garbage collector may have removed pods before the watch shows the deletion, but it
    cannot lower the status (nothing writes it while the Redis is being deleted); the pods
    here count those a last pass created after its status. None when it orphans them instead
    (`kubectl delete --cascade=orphan`): they stay, and nothing is to tell."""
    if ORPHAN_FINALIZER in finalizers:
        return None
    owned = sum(1 for pod in pods if is_owned_by(pod, redis.uid))
    counted = int(redis.status.get("replicas", 0))
    return Event(EventKey.DELETING, {"name": redis.name, "pods": max(owned, counted)})
