"""The replication decisions: who is primary, who follows it, and when to fail over.

A plain function over plain data (the Redis' members with their role labels, what each Redis
said, the memory kept in the Redis' status, the clock), in the style of `planning`: the same
inputs give the same decision, so a restarted operator or a new leader resumes from what Redis
and the labels say. The algorithm and its reasons are in docs/replication.md#failover.

The role label is the truth of who is primary, and the decision never labels two pods
`primary`: its actions, carried out in order, remove the old label before setting the new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from redis_operator.children import PRIMARY_ROLE as PRIMARY
from redis_operator.children import REPLICA_ROLE as REPLICA
from redis_operator.messages import Event, EventKey
from redis_operator.replication.topology import RedisState, Role


@dataclass(frozen=True)
class Member:
    """A pod of the Redis as the decision sees it.

    `ip` is the pod IP (None until it has one), `role` its role label (None when unlabelled),
    `deleting` whether it is being deleted (or has finished: it will not serve again).
    """

    name: str
    ordinal: int
    ip: str | None
    role: str | None = None
    deleting: bool = False


@dataclass(frozen=True)
class Memory:
    """What the decisions remember, kept in the Redis' status (never in the operator).

    `primary`: the last primary told (status.primary), None if none was ever elected;
    `lost_since`: when the primary was first seen unavailable (status.primaryLostSince);
    `broken`: `ReplicationBroken` was told and nothing changed since.
    """

    primary: str | None = None
    lost_since: datetime | None = None
    broken: bool = False


@dataclass(frozen=True)
class Promote:
    """`REPLICAOF NO ONE` on the pod's Redis."""

    pod: str


@dataclass(frozen=True)
class ReplicaOf:
    """`REPLICAOF host port` on the pod's Redis."""

    pod: str
    host: str
    port: int


@dataclass(frozen=True)
class SetRole:
    """Set the pod's role label."""

    pod: str
    role: str


Action = Promote | ReplicaOf | SetRole


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReplicaLink:
    """A replica's link as status reports it; `lag_bytes` is None when not known."""

    pod: str
    link: LinkState
    lag_bytes: int | None


@dataclass(frozen=True)
class Decision:
    """What to do, in order, and what to tell and remember.

    `actions` are carried out in order; `memory` goes to the status once they succeeded;
    `failed_over` says to set `lastFailoverTime`; `requeue_after` asks for another look (in
    seconds) although no watch event may come; `healthy`: one serving primary and every
    replica linked to it.
    """

    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    memory: Memory = field(default_factory=Memory)
    primary: str | None = None
    links: tuple[ReplicaLink, ...] = ()
    failed_over: bool = False
    healthy: bool = False
    requeue_after: float | None = None


def _serving_primary(state: RedisState | None) -> bool:
    return state is not None and state.role is Role.MASTER


def _candidate_key(member: Member, state: RedisState) -> tuple[int, bool, int]:
    """Highest offset first; then a Redis that is already master (a promotion already carried
    out, which is how an interrupted failover resumes without a second one); then the lowest
    ordinal."""
    return (state.offset, state.role is Role.MASTER, -member.ordinal)


def _best(
    members: Sequence[Member], observed: Mapping[str, RedisState | None]
) -> tuple[Member, RedisState] | None:
    """The member to promote: reachable, live, with an IP, by `_candidate_key`."""
    ranked = [
        (m, state)
        for m in members
        if not m.deleting and m.ip is not None and (state := observed.get(m.name)) is not None
    ]
    if not ranked:
        return None
    return max(ranked, key=lambda pair: _candidate_key(*pair))


def _links(
    primary: Member | None,
    members: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    port: int,
) -> tuple[ReplicaLink, ...]:
    primary_state = None if primary is None else observed.get(primary.name)
    links = []
    for member in members:
        if primary is not None and member.name == primary.name:
            continue
        state = observed.get(member.name)
        if state is None:
            links.append(ReplicaLink(member.name, LinkState.UNKNOWN, None))
            continue
        linked = (
            primary is not None
            and primary.ip is not None
            and state.follows(primary.ip, port)
            and state.link_up
        )
        lag = (
            max(primary_state.offset - state.offset, 0)
            if linked and primary_state is not None
            else None
        )
        links.append(ReplicaLink(member.name, LinkState.UP if linked else LinkState.DOWN, lag))
    return tuple(links)


def _relabelled(members: Sequence[Member], actions: Sequence[Action]) -> list[Member]:
    """`members` with the role labels they will have once `actions` are carried out."""
    roles = {a.pod: a.role for a in actions if isinstance(a, SetRole)}
    return [replace(m, role=roles.get(m.name, m.role)) for m in members]


def _follow(
    primary: Member,
    members: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    port: int,
) -> tuple[list[Action], list[Event]]:
    """Label every other live member `replica` and point each reachable one at the primary."""
    assert primary.ip is not None
    actions: list[Action] = []
    events: list[Event] = []
    for member in members:
        if member.name == primary.name or member.deleting:
            continue
        if member.role != REPLICA:
            actions.append(SetRole(member.name, REPLICA))
        state = observed.get(member.name)
        if state is not None and member.ip is not None and not state.follows(primary.ip, port):
            actions.append(ReplicaOf(member.name, primary.ip, port))
            events.append(
                Event(EventKey.REPLICA_ATTACHED, {"pod": member.name, "primary": primary.name})
            )
    return actions, events


def decide(
    redis_name: str,
    members: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    memory: Memory,
    *,
    port: int,
    replicas: int,
    now: datetime,
    failover_after_seconds: float,
) -> Decision:
    """Decide one pass of a Redis in replication mode.

    `members`: its owned pods, any order; `observed`: each pod's Redis by pod name (None or
    absent: unreachable); `memory`: read from its status; `port`: spec.port; `replicas`:
    spec.replicas (a primary whose ordinal is going is switched over first); `now`: the clock.
    """
    members = sorted(members, key=lambda m: m.ordinal)
    live = [m for m in members if not m.deleting]
    labelled = [m for m in members if m.role == PRIMARY]
    actions: list[Action] = []
    events: list[Event] = []

    # More than one label (never by our own plans): keep the best, demote the others first.
    primary: Member | None = None
    if labelled:
        best = max(
            labelled,
            key=lambda m: (
                _serving_primary(observed.get(m.name)) and not m.deleting,
                (observed.get(m.name) or RedisState(Role.REPLICA, -1)).offset,
                -m.ordinal,
            ),
        )
        for extra in labelled:
            if extra is not best:
                actions.append(SetRole(extra.name, REPLICA))
        primary = best

    if primary is None and memory.primary is None:
        return _initial(redis_name, members, observed, actions, port=port)

    state = None if primary is None else observed.get(primary.name)
    if (
        primary is not None
        and not primary.deleting
        and primary.ip is not None
        and state is not None
        and state.role is Role.MASTER
    ):
        if primary.ordinal >= replicas:
            switched = _switchover(redis_name, primary, state, live, observed, actions, port=port)
            if switched is not None:
                return switched
        more, told = _follow(primary, _relabelled(live, actions), observed, port)
        links = _links(primary, live, observed, port)
        return Decision(
            actions=(*actions, *more),
            events=(*events, *told),
            memory=Memory(primary=primary.name),
            primary=primary.name,
            links=links,
            healthy=not more and not actions and all(lk.link is LinkState.UP for lk in links),
        )

    return _lost(
        redis_name,
        primary,
        live,
        observed,
        memory,
        actions,
        port=port,
        now=now,
        failover_after_seconds=failover_after_seconds,
    )


def _initial(
    redis_name: str,
    members: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    actions: list[Action],
    *,
    port: int,
) -> Decision:
    """No primary was ever elected: ordinal 0 is, once its Redis answers."""
    first = next((m for m in members if m.ordinal == 0 and not m.deleting), None)
    state = None if first is None else observed.get(first.name)
    if first is None or first.ip is None or state is None:
        return Decision(actions=tuple(actions), links=_links(None, members, observed, port))
    if state.role is not Role.MASTER:
        actions.append(Promote(first.name))
    actions.append(SetRole(first.name, PRIMARY))
    live = [m for m in members if not m.deleting]
    more, told = _follow(first, _relabelled(live, actions), observed, port)
    elected = Event(EventKey.PRIMARY_ELECTED, {"pod": first.name, "name": redis_name})
    return Decision(
        actions=(*actions, *more),
        events=(elected, *told),
        memory=Memory(primary=first.name),
        primary=first.name,
        links=_links(first, live, observed, port),
    )


def _switchover(
    redis_name: str,
    primary: Member,
    primary_state: RedisState,
    live: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    actions: list[Action],
    *,
    port: int,
) -> Decision | None:
    """The primary's ordinal is going: hand over to an in-sync replica among the kept ones.

    None when there is nothing to hand over to (the primary stays, and the planner must not
    delete it); a decision that waits while no kept replica has caught up.
    """
    kept = [m for m in live if m.ordinal < primary.ordinal and m.ip is not None]
    in_sync = [
        m
        for m in kept
        if (s := observed.get(m.name)) is not None
        and primary.ip is not None
        and s.follows(primary.ip, port)
        and s.link_up
        and s.offset >= primary_state.offset
    ]
    if not kept:
        return None
    if not in_sync:
        return Decision(
            actions=tuple(actions),
            memory=Memory(primary=primary.name),
            primary=primary.name,
            links=_links(primary, live, observed, port),
            requeue_after=1.0,
        )
    chosen = min(in_sync, key=lambda m: m.ordinal)
    switch = Event(
        EventKey.SWITCHOVER,
        {"primary": primary.name, "pod": chosen.name, "offset": primary_state.offset},
    )
    actions += [Promote(chosen.name), SetRole(primary.name, REPLICA), SetRole(chosen.name, PRIMARY)]
    rest = _relabelled(live, actions)
    more, _ = _follow(chosen, rest, _as_master(observed, chosen.name), port)
    return Decision(
        actions=(*actions, *more),
        events=(switch,),
        memory=Memory(primary=chosen.name),
        primary=chosen.name,
        links=_links(chosen, live, observed, port),
        failed_over=True,
    )


def _as_master(
    observed: Mapping[str, RedisState | None], pod: str
) -> Mapping[str, RedisState | None]:
    """`observed` as it will be once `pod` was promoted."""
    state = observed.get(pod)
    offset = 0 if state is None else state.offset
    return {**observed, pod: RedisState(Role.MASTER, offset)}


def _lost(
    redis_name: str,
    primary: Member | None,
    live: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    memory: Memory,
    actions: list[Action],
    *,
    port: int,
    now: datetime,
    failover_after_seconds: float,
) -> Decision:
    """The primary is gone, going, or not answering: wait out the threshold, then promote.

    A pod that is gone or being deleted lost its data with it (no persistence), so there is
    nothing to wait for; one that does not answer may come back, so it gets
    `failover_after_seconds` from the first pass that saw it so.
    """
    lost_name = memory.primary if primary is None else primary.name
    events: list[Event] = []
    lost_since = memory.lost_since
    if lost_since is None:
        lost_since = now
        seconds = round(failover_after_seconds)
        events.append(Event(EventKey.PRIMARY_LOST, {"pod": str(lost_name), "seconds": seconds}))
    gone = primary is None or primary.deleting or primary.ip is None
    remaining = (lost_since + timedelta(seconds=failover_after_seconds) - now).total_seconds()
    if not gone and remaining > 0:
        return Decision(
            actions=tuple(actions),
            events=tuple(events),
            memory=Memory(primary=memory.primary, lost_since=lost_since),
            primary=lost_name,
            links=_links(primary, live, observed, port),
            requeue_after=remaining,
        )
    # The lost primary itself only as a last resort: an interrupted failover that already
    # demoted it must not flip back to it.
    others = [m for m in live if m.name != lost_name]
    best = _best(others, observed) or _best(live, observed)
    if best is None:
        if not memory.broken:
            events.append(Event(EventKey.REPLICATION_BROKEN, {"name": redis_name}))
        return Decision(
            actions=tuple(actions),
            events=tuple(events),
            memory=Memory(primary=memory.primary, lost_since=lost_since, broken=True),
            primary=None,
            links=_links(None, live, observed, port),
            requeue_after=1.0,
        )
    chosen, state = best
    if state.role is not Role.MASTER:
        actions.append(Promote(chosen.name))
    if primary is not None:
        actions.append(SetRole(primary.name, REPLICA))
    actions.append(SetRole(chosen.name, PRIMARY))
    rest = _relabelled(live, actions)
    more, _ = _follow(chosen, rest, _as_master(observed, chosen.name), port)
    events.append(Event(EventKey.FAILOVER_COMPLETED, {"pod": chosen.name, "offset": state.offset}))
    return Decision(
        actions=(*actions, *more),
        events=tuple(events),
        memory=Memory(primary=chosen.name),
        primary=chosen.name,
        links=_links(chosen, live, observed, port),
        failed_over=True,
    )
