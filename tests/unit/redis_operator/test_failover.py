"""The replication decisions: election, attachment, failover, switchover, and their invariants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from redis_operator.messages import EventKey
from redis_operator.replication.failover import (
    PRIMARY,
    REPLICA,
    Action,
    Decision,
    LinkState,
    Member,
    Memory,
    Promote,
    ReplicaLink,
    ReplicaOf,
    SetRole,
    decide,
)
from redis_operator.replication.topology import RedisState, Role

NAME = "r"
PORT = 6379
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AFTER = 10.0


def ip(ordinal: int) -> str:
    return f"10.244.77.{10 + ordinal}"


def member(ordinal: int, role: str | None = None, **changes: object) -> Member:
    return replace(Member(f"{NAME}-{ordinal}", ordinal, ip(ordinal), role), **changes)  # type: ignore[arg-type]


def master(offset: int = 0) -> RedisState:
    return RedisState(Role.MASTER, offset)


def follower(of: int, offset: int = 0, *, up: bool = True) -> RedisState:
    return RedisState(Role.REPLICA, offset, ip(of), PORT, link_up=up)


def run(
    members: Sequence[Member],
    observed: Mapping[str, RedisState | None],
    memory: Memory | None = None,
    *,
    now: datetime = NOW,
    replicas: int | None = None,
) -> Decision:
    return decide(
        NAME,
        members,
        observed,
        memory or Memory(),
        port=PORT,
        replicas=len(members) if replicas is None else replicas,
        now=now,
        failover_after_seconds=AFTER,
    )


def keys(decision: Decision) -> list[EventKey]:
    return [event.key for event in decision.events]


HEALTHY_MEMBERS = [member(0, PRIMARY), member(1, REPLICA), member(2, REPLICA)]
HEALTHY = {"r-0": master(100), "r-1": follower(0, 100), "r-2": follower(0, 90)}


def test_ordinal_0_is_elected_first_and_the_others_follow_it() -> None:
    decision = run([member(0), member(1), member(2)], {f"r-{o}": master() for o in range(3)})
    assert decision.actions == (
        SetRole("r-0", PRIMARY),
        SetRole("r-1", REPLICA),
        ReplicaOf("r-1", ip(0), PORT),
        SetRole("r-2", REPLICA),
        ReplicaOf("r-2", ip(0), PORT),
    )
    assert keys(decision) == [
        EventKey.PRIMARY_ELECTED,
        EventKey.REPLICA_ATTACHED,
        EventKey.REPLICA_ATTACHED,
    ]
    assert decision.events[0].args == {"pod": "r-0", "name": NAME}
    assert decision.memory == Memory(primary="r-0") and decision.primary == "r-0"


def test_the_first_election_waits_for_ordinal_0() -> None:
    decision = run([member(0), member(1)], {"r-0": None, "r-1": master()})
    assert decision.actions == () and decision.events == ()
    assert decision.memory == Memory() and decision.primary is None


def test_a_healthy_set_needs_nothing_and_reports_links_and_lag() -> None:
    decision = run(HEALTHY_MEMBERS, HEALTHY, Memory(primary="r-0"))
    assert decision.actions == () and decision.events == ()
    assert decision.healthy and decision.requeue_after is None
    assert decision.links == (
        ReplicaLink("r-1", LinkState.UP, 0),
        ReplicaLink("r-2", LinkState.UP, 10),
    )


def test_a_replica_that_lost_its_link_is_reported_not_repointed() -> None:
    observed = {**HEALTHY, "r-2": follower(0, 50, up=False), "r-1": None}
    decision = run(HEALTHY_MEMBERS, observed, Memory(primary="r-0"))
    assert decision.actions == () and not decision.healthy
    assert [link.link for link in decision.links] == [LinkState.UNKNOWN, LinkState.DOWN]


def test_a_new_replica_attaches_to_the_current_primary() -> None:
    members = [member(0, REPLICA), member(1, PRIMARY), member(2)]
    observed = {"r-0": follower(1, 7), "r-1": master(7), "r-2": master(0)}
    decision = run(members, observed, Memory(primary="r-1"))
    assert decision.actions == (SetRole("r-2", REPLICA), ReplicaOf("r-2", ip(1), PORT))
    assert decision.events[0].args == {"pod": "r-2", "primary": "r-1"}


def test_an_unreachable_primary_is_lost_then_failed_over_after_the_threshold() -> None:
    observed = {**HEALTHY, "r-0": None, "r-1": follower(0, 100, up=False)}
    first = run(HEALTHY_MEMBERS, observed, Memory(primary="r-0"))
    assert first.actions == () and keys(first) == [EventKey.PRIMARY_LOST]
    assert first.events[0].args == {"pod": "r-0", "seconds": 10}
    assert first.memory == Memory(primary="r-0", lost_since=NOW)
    assert first.requeue_after == AFTER

    later = run(HEALTHY_MEMBERS, observed, first.memory, now=NOW + timedelta(seconds=4))
    assert later.actions == () and later.events == () and later.requeue_after == 6
    assert later.memory == first.memory

    due = run(HEALTHY_MEMBERS, observed, first.memory, now=NOW + timedelta(seconds=10))
    assert due.actions == (
        Promote("r-1"),
        SetRole("r-0", REPLICA),
        SetRole("r-1", PRIMARY),
        ReplicaOf("r-2", ip(1), PORT),
    )
    assert keys(due) == [EventKey.FAILOVER_COMPLETED]
    assert due.events[0].args == {"pod": "r-1", "offset": 100}
    assert due.events[0].render("en").message == "Promoted r-1 at offset 100"
    assert due.failed_over and due.memory == Memory(primary="r-1")


def test_a_primary_that_returns_in_time_is_kept() -> None:
    decision = run(HEALTHY_MEMBERS, HEALTHY, Memory(primary="r-0", lost_since=NOW))
    assert decision.actions == () and decision.events == ()
    assert decision.memory == Memory(primary="r-0")


def test_a_deleted_primary_is_failed_over_at_once() -> None:
    members = [member(1, REPLICA), member(2, REPLICA)]
    observed = {"r-1": follower(0, 80, up=False), "r-2": follower(0, 95, up=False)}
    decision = run(members, observed, Memory(primary="r-0"), replicas=3)
    assert keys(decision) == [EventKey.PRIMARY_LOST, EventKey.FAILOVER_COMPLETED]
    assert decision.actions == (
        Promote("r-2"),
        SetRole("r-2", PRIMARY),
        ReplicaOf("r-1", ip(2), PORT),
    )


def test_a_primary_being_deleted_loses_its_label_before_the_new_one_gets_it() -> None:
    members = [member(0, PRIMARY, deleting=True), member(1, REPLICA)]
    observed = {"r-0": master(50), "r-1": follower(0, 50)}
    decision = run(members, observed, Memory(primary="r-0"))
    assert decision.actions == (Promote("r-1"), SetRole("r-0", REPLICA), SetRole("r-1", PRIMARY))


def test_no_candidate_is_told_once() -> None:
    members = [member(0, PRIMARY), member(1, REPLICA)]
    observed: dict[str, RedisState | None] = {"r-0": None, "r-1": None}
    memory = Memory(primary="r-0", lost_since=NOW - timedelta(seconds=30))
    first = run(members, observed, memory)
    assert first.actions == () and keys(first) == [EventKey.REPLICATION_BROKEN]
    again = run(members, observed, first.memory)
    assert again.events == () and again.memory == first.memory and again.requeue_after


def test_the_old_primary_returns_as_a_replica() -> None:
    members = [member(0, REPLICA), member(1, PRIMARY), member(2, REPLICA)]
    observed = {"r-0": master(120), "r-1": master(100), "r-2": follower(1, 100)}
    decision = run(members, observed, Memory(primary="r-1"))
    assert decision.actions == (ReplicaOf("r-0", ip(1), PORT),)
    assert keys(decision) == [EventKey.REPLICA_ATTACHED]


def test_a_failover_interrupted_after_the_promotion_resumes_without_a_second_one() -> None:
    # r-1 was promoted, then the operator died before moving the label.
    observed = {"r-0": None, "r-1": master(100), "r-2": follower(0, 100, up=False)}
    memory = Memory(primary="r-0", lost_since=NOW - timedelta(seconds=20))
    decision = run(HEALTHY_MEMBERS, observed, memory)
    assert Promote("r-1") not in decision.actions
    assert not any(isinstance(a, Promote) for a in decision.actions)
    assert decision.actions[:2] == (SetRole("r-0", REPLICA), SetRole("r-1", PRIMARY))


def test_a_failover_interrupted_between_the_labels_resumes_on_the_promoted_pod() -> None:
    members = [member(0, REPLICA), member(1, REPLICA), member(2, REPLICA)]
    observed = {"r-0": master(130), "r-1": master(100), "r-2": follower(0, 100, up=False)}
    decision = run(members, observed, Memory(primary="r-0", lost_since=NOW))
    assert decision.actions[0] == SetRole("r-1", PRIMARY)
    assert not any(isinstance(a, Promote) for a in decision.actions)


def test_a_labelled_primary_that_reports_replica_is_lost() -> None:
    # Its container restarted in place: Redis starts as a replica, empty (docs/replication.md).
    observed = {**HEALTHY, "r-0": RedisState(Role.REPLICA, 0, "127.0.0.1", 1)}
    decision = run(HEALTHY_MEMBERS, observed, Memory(primary="r-0"))
    assert decision.actions == () and keys(decision) == [EventKey.PRIMARY_LOST]
    due = run(HEALTHY_MEMBERS, observed, decision.memory, now=NOW + timedelta(seconds=10))
    assert due.actions[:3] == (Promote("r-1"), SetRole("r-0", REPLICA), SetRole("r-1", PRIMARY))
    assert ReplicaOf("r-0", ip(1), PORT) in due.actions


def test_two_labels_keep_the_serving_one_and_demote_the_other_first() -> None:
    members = [member(0, PRIMARY), member(1, PRIMARY)]
    observed = {"r-0": follower(1, 5), "r-1": master(9)}
    decision = run(members, observed, Memory(primary="r-1"))
    assert decision.actions == (SetRole("r-0", REPLICA),)


def test_scale_down_switches_over_to_an_in_sync_replica_first() -> None:
    members = [member(0, REPLICA), member(1, REPLICA), member(2, PRIMARY)]
    observed = {"r-0": follower(2, 40), "r-1": follower(2, 50), "r-2": master(50)}
    decision = run(members, observed, Memory(primary="r-2"), replicas=2)
    assert decision.actions == (
        Promote("r-1"),
        SetRole("r-2", REPLICA),
        SetRole("r-1", PRIMARY),
        ReplicaOf("r-0", ip(1), PORT),
        ReplicaOf("r-2", ip(1), PORT),
    )
    assert keys(decision) == [EventKey.SWITCHOVER]
    assert decision.events[0].args == {"primary": "r-2", "pod": "r-1", "offset": 50}


def test_scale_down_waits_for_a_replica_to_catch_up() -> None:
    members = [member(0, REPLICA), member(1, PRIMARY)]
    observed = {"r-0": follower(1, 40), "r-1": master(50)}
    decision = run(members, observed, Memory(primary="r-1"), replicas=1)
    assert decision.actions == () and decision.events == ()
    assert decision.primary == "r-1" and decision.requeue_after


def test_the_same_observation_gives_the_same_decision() -> None:
    observed = {**HEALTHY, "r-0": None}
    memory = Memory(primary="r-0", lost_since=NOW - timedelta(seconds=11))
    assert run(HEALTHY_MEMBERS, observed, memory) == run(HEALTHY_MEMBERS, observed, memory)


# Properties over arbitrary observations.

ORDINALS = st.integers(min_value=0, max_value=4)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Member], dict[str, RedisState | None], Memory]:
    ordinals = sorted(draw(st.sets(ORDINALS, min_size=1, max_size=5)))
    members = []
    observed: dict[str, RedisState | None] = {}
    for ordinal in ordinals:
        role = draw(st.sampled_from([None, REPLICA, PRIMARY]))
        m = member(
            ordinal,
            role,
            deleting=ordinal % 2 == 1 and draw(st.booleans()),
            ip=draw(st.sampled_from([ip(ordinal), ip(ordinal), None])),
        )
        members.append(m)
        offset = draw(st.integers(min_value=0, max_value=50))
        if m.ip is None or draw(st.integers(0, 4)) == 0:
            observed[m.name] = None
        elif draw(st.booleans()):
            observed[m.name] = master(offset)
        else:
            observed[m.name] = follower(draw(ORDINALS), offset, up=draw(st.booleans()))
    if sum(m.role == PRIMARY for m in members) > 1 and draw(st.booleans()):
        members = [replace(m, role=REPLICA) if m.role == PRIMARY else m for m in members]
        members[0] = replace(members[0], role=PRIMARY)
    primary = draw(st.sampled_from([None, *(f"{NAME}-{o}" for o in range(5))]))
    lost_since = draw(st.sampled_from([None, NOW, NOW - timedelta(seconds=60)]))
    memory = Memory(primary=primary, lost_since=None if primary is None else lost_since)
    return members, observed, memory


def _primaries(members: Sequence[Member]) -> int:
    return sum(m.role == PRIMARY for m in members)


def _apply(members: list[Member], observed: dict[str, RedisState | None], action: Action) -> None:
    """Carry out one action on the simulated world (a successful command)."""
    if isinstance(action, SetRole):
        index = next(i for i, m in enumerate(members) if m.name == action.pod)
        members[index] = replace(members[index], role=action.role)
        return
    state = observed[action.pod]
    offset = 0 if state is None else state.offset
    if isinstance(action, Promote):
        observed[action.pod] = master(offset)
    else:
        observed[action.pod] = RedisState(Role.REPLICA, offset, action.host, action.port, True)


REPLICAS = st.integers(min_value=1, max_value=5)


@settings(max_examples=400)
@given(worlds(), REPLICAS)
def test_never_two_primaries_labelled(
    world: tuple[list[Member], dict[str, RedisState | None], Memory], replicas: int
) -> None:
    members, observed, memory = world
    decision = run(members, observed, memory, replicas=replicas)
    before = _primaries(members)
    for action in decision.actions:
        _apply(members, observed, action)
        assert _primaries(members) <= max(before, 1)
    assert _primaries(members) <= 1


@settings(max_examples=400)
@given(worlds(), REPLICAS)
def test_the_promoted_pod_has_the_highest_offset_among_reachable_candidates(
    world: tuple[list[Member], dict[str, RedisState | None], Memory], replicas: int
) -> None:
    members, observed, memory = world
    decision = run(members, observed, memory, replicas=replicas)
    if EventKey.FAILOVER_COMPLETED not in keys(decision) or _primaries(members) > 1:
        return  # (several labels: the one kept is the lost one; the others are candidates)
    promoted = next(a.pod for a in decision.actions if a == SetRole(a.pod, PRIMARY))
    lost = next((m.name for m in members if m.role == PRIMARY), memory.primary)
    reachable = {
        m.name: state.offset
        for m in members
        if not m.deleting and m.ip and (state := observed[m.name])
    }
    # The lost primary itself is a candidate only when nobody else answers.
    offsets = {name: o for name, o in reachable.items() if name != lost} or reachable
    assert promoted in offsets
    assert offsets[promoted] == max(offsets.values())


@settings(max_examples=400)
@given(worlds(), REPLICAS)
def test_a_restart_decides_the_same_and_a_decision_carried_out_is_not_repeated(
    world: tuple[list[Member], dict[str, RedisState | None], Memory], replicas: int
) -> None:
    members, observed, memory = world
    decision = run(members, observed, memory, replicas=replicas)
    assert run(list(members), dict(observed), memory, replicas=replicas) == decision
    for action in decision.actions:
        _apply(members, observed, action)
    again = run(members, observed, decision.memory, replicas=replicas)
    assert EventKey.FAILOVER_COMPLETED not in keys(again)
    primary = next((m for m in members if m.role == PRIMARY), None)
    if primary is not None and primary.ordinal >= replicas:
        return  # a primary on an ordinal that is going is handed over next: a switchover
    assert not any(isinstance(a, Promote) for a in again.actions)
    assert EventKey.SWITCHOVER not in keys(again)
    assert not any(isinstance(a, SetRole) and a.role == PRIMARY for a in again.actions)
