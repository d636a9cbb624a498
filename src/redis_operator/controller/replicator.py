"""The replication step of a pass: observe each pod's Redis, decide, carry the decision out.

For a Redis in replication mode the reconciler runs this after the planner's part of the pass.
What each Redis says comes from `INFO replication` (by pod IP); the decision is
`replication.failover.decide`'s; the role labels are merge-patched on the pods; the memory the
decisions need (the primary, the failover clock) and what users ask first (primary, links, lag,
last failover, the `ReplicationHealthy` condition) go to the Redis' status. Actions are carried
out in the decision's order and the step stops at the first that fails (so an old primary's
label is always gone before a new one is set); the next step decides again from what Redis
and the labels then say.

The password comes from its Secret as the store holds it (the Secret informer keeps it current)
and is used as a `Password`, which never shows itself; without it (the Secret not seen, or
without its key) the step does nothing, since every Redis would look unreachable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis_operator.api import ChildKind, Redis, is_being_deleted
from redis_operator.auth import Password, password_from_secret
from redis_operator.children import (
    ROLE_LABEL,
    auth_secret,
    is_finished,
    is_owned_by,
    ordinal_of,
)
from redis_operator.controller.store import Obj
from redis_operator.kube.client import KubeApi
from redis_operator.kube.errors import KubeError, error_text
from redis_operator.messages import Event
from redis_operator.metrics import ReplicaSample
from redis_operator.planning import timestamp
from redis_operator.replication.commands import (
    Endpoint,
    RedisUnavailable,
    ReplicationCommands,
    observe,
)
from redis_operator.replication.failover import (
    Decision,
    LinkState,
    Member,
    Memory,
    Promote,
    ReplicaOf,
    SetRole,
    decide,
)
from redis_operator.settings import ReplicationSettings

log = logging.getLogger(__name__)

HEALTHY = "ReplicationHealthy"
BROKEN = "ReplicationBroken"


@dataclass(frozen=True)
class StepResult:
    """What a step did: its Events, the status to write (None: unchanged), when to look again;
    `observed`: the primary and replicas it saw (for the metrics), None when it decided
    nothing."""

    events: tuple[Event, ...] = ()
    status: dict[str, Any] | None = None
    requeue_after: float | None = None
    acted: bool = False
    observed: tuple[str | None, tuple[ReplicaSample, ...]] | None = None


def members(redis: Redis, pods: Sequence[Mapping[str, Any]]) -> list[Member]:
    """The Redis' owned pods as the decisions see them."""
    found = []
    for pod in pods:
        meta: Mapping[str, Any] = pod.get("metadata") or {}
        ordinal = ordinal_of(str(meta.get("name", "")), redis.name)
        if ordinal is None or not is_owned_by(pod, redis.uid):
            continue
        ip = (pod.get("status") or {}).get("podIP") or None
        found.append(
            Member(
                name=str(meta["name"]),
                ordinal=ordinal,
                ip=str(ip) if ip else None,
                role=(meta.get("labels") or {}).get(ROLE_LABEL),
                deleting=is_being_deleted(pod) or is_finished(pod),
            )
        )
    return found


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def memory(status: Mapping[str, Any]) -> Memory:
    """What the decisions remember, as the status holds it."""
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    healthy = next((c for c in conditions if c.get("type") == HEALTHY), None)
    return Memory(
        primary=status.get("primary") or None,
        lost_since=_parse_time(status.get("primaryLostSince")),
        broken=healthy is not None and healthy.get("reason") == BROKEN,
    )


def _health(decision: Decision, mem: Memory) -> tuple[bool, str, str]:
    if decision.healthy:
        return True, "AllReplicasLinked", f"{decision.primary} is primary; every replica linked"
    if decision.memory.broken:
        return False, BROKEN, "no primary, and no replica answers to promote"
    if decision.memory.lost_since is not None:
        return False, "PrimaryLost", f"primary {mem.primary} does not answer"
    if decision.primary is None:
        return False, "NoPrimary", "waiting for the first primary to answer"
    down = [lk.pod for lk in decision.links if lk.link is not LinkState.UP]
    return False, "ReplicasNotLinked", "not linked: " + (", ".join(down) or "-")


def replication_status(
    current: Mapping[str, Any], decision: Decision, *, generation: int, now: datetime
) -> dict[str, Any]:
    """`current` with the step's fields: primary, failover clock and time, links, condition."""
    status = {k: v for k, v in current.items() if k not in ("primaryLostSince",)}
    if decision.primary is not None:
        status["primary"] = decision.primary
    else:
        status.pop("primary", None)
    if decision.memory.lost_since is not None:
        status["primaryLostSince"] = timestamp(decision.memory.lost_since)
    if decision.failed_over:
        status["lastFailoverTime"] = timestamp(now)
    status["replication"] = [
        {"pod": lk.pod, "link": lk.link.value}
        | ({} if lk.lag_bytes is None else {"lagBytes": lk.lag_bytes})
        for lk in decision.links
    ]
    true, reason, message = _health(decision, memory(current))
    conditions: list[Mapping[str, Any]] = list(current.get("conditions") or [])
    old = next((c for c in conditions if c.get("type") == HEALTHY), None)
    state = "True" if true else "False"
    transition = (
        old["lastTransitionTime"]
        if old is not None and old.get("status") == state and old.get("lastTransitionTime")
        else timestamp(now)
    )
    condition = {
        "type": HEALTHY,
        "status": state,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }
    status["conditions"] = [dict(c) for c in conditions if c.get("type") != HEALTHY] + [condition]
    return status


def _password(redis: Redis, secret: Obj | None) -> tuple[bool, Password | None]:
    """(known, password): the Redis' password, or known=False when its Secret is not seen or
    holds no usable password (the planner tells the user which)."""
    ref = auth_secret(redis)
    if ref is None:
        return True, None
    if secret is None:
        return False, None
    try:
        return True, password_from_secret(secret, ref[1])
    except ValueError as exc:  # names the Secret and the key, never the value
        log.warning("%s/%s: %s", redis.namespace, redis.name, exc)
        return False, None


class Replicator:
    """Runs the replication step against the API and the Redis servers."""

    def __init__(
        self, kube: KubeApi, commands: ReplicationCommands, settings: ReplicationSettings
    ) -> None:
        self.kube = kube
        self.commands = commands
        self.settings = settings

    async def step(
        self, redis: Redis, pods: Sequence[Obj], secret: Obj | None, *, now: datetime
    ) -> StepResult:
        """One replication step for a Redis in replication mode that is not being deleted;
        `secret`: the Secret holding its password, as watched (None when not seen)."""
        known, password = _password(redis, secret)
        if not known:
            return StepResult(requeue_after=self.settings.check_seconds)
        found = members(redis, pods)
        port = redis.spec.port
        endpoints = {m.name: Endpoint(m.ip, port) for m in found if m.ip and not m.deleting}
        observed = await observe(self.commands, endpoints, password)
        decision = decide(
            redis.name,
            found,
            observed,
            memory(redis.status),
            port=port,
            replicas=redis.spec.replicas,
            now=now,
            failover_after_seconds=self.settings.failover_after_seconds,
        )
        done = await self._carry_out(redis, decision, endpoints, password)
        if not done:
            # Stopped part-way: nothing is remembered, the next step decides again.
            return StepResult(events=(), requeue_after=1.0, acted=True)
        status = replication_status(redis.status, decision, generation=redis.generation, now=now)
        requeue = self.settings.check_seconds
        if decision.requeue_after is not None:
            requeue = min(requeue, decision.requeue_after)
        samples = tuple(
            ReplicaSample(lk.pod, lk.link is LinkState.UP, lk.lag_bytes) for lk in decision.links
        )
        return StepResult(
            events=decision.events,
            status=None if status == dict(redis.status) else status,
            requeue_after=requeue,
            acted=bool(decision.actions),
            observed=(decision.primary, samples),
        )

    async def _carry_out(
        self,
        redis: Redis,
        decision: Decision,
        endpoints: Mapping[str, Endpoint],
        password: Password | None,
    ) -> bool:
        """Every action in order; False at the first that fails (the rest is not tried)."""
        for action in decision.actions:
            try:
                if isinstance(action, SetRole):
                    labels = {"metadata": {"labels": {ROLE_LABEL: action.role}}}
                    await self.kube.patch(ChildKind.POD, redis.namespace, action.pod, labels)
                elif isinstance(action, Promote):
                    await self.commands.promote(endpoints[action.pod], password)
                elif isinstance(action, ReplicaOf):
                    primary = Endpoint(action.host, action.port)
                    await self.commands.replicate_from(endpoints[action.pod], password, primary)
            except (KubeError, RedisUnavailable, KeyError) as exc:
                text = error_text(exc) if isinstance(exc, KubeError) else str(exc)
                log.warning("%s/%s: %s failed: %s", redis.namespace, redis.name, action, text)
                return False
            log.info("%s/%s: %s", redis.namespace, redis.name, action)
        return True
