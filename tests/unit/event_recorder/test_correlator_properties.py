"""Property-based tests: for any calls and clock steps, the writes follow client-go's rules."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from event_recorder import (
    COMBINED_PREFIX,
    Correlator,
    EventDraft,
    RecorderOptions,
    SeriesCorrelator,
    Verdict,
    reference_for,
)
from event_recorder.event import rfc3339
from tests.unit.event_recorder.support import NANOS, START_NS, node, redis

OBJECTS = [
    reference_for(redis("a")),
    reference_for(redis("b", namespace="ns")),
    reference_for(node()),
]
STEPS = [0, 1, 30, 299, 300, 301, 599, 600, 601, 1800]  # seconds, boundaries included
MESSAGES = [f"replicas set to {i}" for i in range(13)]


def calls_of(
    objects: int, types: list[str], reasons: list[str], steps: list[int]
) -> st.SearchStrategy:
    return st.tuples(
        st.sampled_from(range(objects)),
        st.sampled_from(types),
        st.sampled_from(reasons),
        st.sampled_from(MESSAGES),
        st.sampled_from(steps),
    )


# Wide: every object, type and reason, any step. Dense: one group in quick succession,
# which is where the aggregation threshold and the spam burst are reached.
call = calls_of(len(OBJECTS), ["Normal", "Warning"], ["ScalingUp", "ScalingDown"], STEPS)
dense_call = calls_of(1, ["Normal"], ["ScalingUp"], [0, 0, 0, 1, 1, 2, 300, 600, 601])
call_lists = st.one_of(
    st.lists(call, max_size=200), st.lists(dense_call, min_size=40, max_size=200)
)

SETTINGS = settings(max_examples=150, deadline=None)


def draft(obj: int, event_type: str, reason: str, message: str) -> EventDraft:
    return EventDraft(
        ref=OBJECTS[obj],
        type=event_type,
        reason=reason,
        message=message,
        controller="RedisOperator",
        instance="h",
    )


@SETTINGS
@given(call_lists)
def test_core_writes_follow_the_rules(calls: list[tuple[int, str, str, str, int]]) -> None:
    correlator = Correlator(RecorderOptions())
    now = START_NS
    calls_per_event: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    server: dict[str, int] = {}  # Event name -> count the API server holds
    expected_on_server: dict[str, int] = {}
    sends_per_bucket: dict[tuple[int, str], list[int]] = defaultdict(list)
    group_messages: dict[tuple[int, str, str], set[str]] = {}
    group_last: dict[tuple[int, str, str], int] = {}

    for obj, event_type, reason, message, step in calls:
        now += step * NANOS
        decision = correlator.observe(draft(obj, event_type, reason, message), now)
        name, write = decision.name, decision.write

        # Each decision's count is the number of calls that Event stands for.
        calls_per_event[name] += 1
        assert decision.occurrences == calls_per_event[name]
        if decision.verdict is Verdict.SPAM_FILTERED:
            assert write is None
        else:
            assert write is not None and write.name == name
            body = write.body
            assert body["count"] == decision.occurrences
            assert body["lastTimestamp"] == rfc3339(now)
            assert body["firstTimestamp"] == first_seen.setdefault(name, rfc3339(now))
            if decision.occurrences == 1:
                assert decision.verdict is Verdict.CREATE and write.patch is None
            else:
                assert decision.verdict is Verdict.PATCH
                assert write.patch == {
                    "count": body["count"],
                    "lastTimestamp": body["lastTimestamp"],
                    "message": body["message"],
                }
            expected = COMBINED_PREFIX + message if decision.aggregated else message
            assert body["message"] == expected
        first_seen.setdefault(name, rfc3339(now))

        # Aggregation: at most nine distinct messages pass per group and window.
        group = (obj, event_type, reason)
        if now - group_last.get(group, -(10**30)) > 600 * NANOS:
            group_messages[group] = set()
        group_last[group] = now
        passed = group_messages[group]
        if decision.aggregated:
            assert message not in passed and len(passed) == 9
        else:
            passed.add(message)
            assert len(passed) <= 9

        # Spam filter: burst 25, then one token per 300 s, per object and type.
        if write is not None:
            bucket = sends_per_bucket[(obj, event_type)]
            bucket.append(now)
            assert len(bucket) <= 25 + (now - bucket[0]) // (300 * NANOS)
            # The API server ends up with the true count (PATCH, or create after 404).
            server[name] = write.body["count"]
            expected_on_server[name] = calls_per_event[name]

    assert server == expected_on_server


@SETTINGS
@given(call_lists)
def test_correlation_is_deterministic(calls: list[tuple[int, str, str, str, int]]) -> None:
    def run() -> list[tuple[object, ...]]:
        correlator = Correlator(RecorderOptions())
        now = START_NS
        out = []
        for obj, event_type, reason, message, step in calls:
            now += step * NANOS
            d = correlator.observe(draft(obj, event_type, reason, message), now)
            write = d.write and (d.write.body, d.write.patch)
            out.append((d.verdict, d.aggregated, d.name, d.occurrences, write))
        return out

    assert run() == run()


operation = st.one_of(
    st.tuples(st.just("call"), st.one_of(call, dense_call)),
    st.tuples(st.just("finish"), st.sampled_from(STEPS)),
    st.tuples(st.just("refresh"), st.sampled_from(STEPS)),
)


@SETTINGS
@given(st.lists(operation, max_size=150))
def test_series_counts_always_match_the_calls(operations: list[tuple[str, object]]) -> None:
    correlator = SeriesCorrelator(RecorderOptions())
    now = START_NS
    calls_per_event: Counter[str] = Counter()
    last_sent: dict[str, int] = {}

    def sent(name: str, count: int) -> None:
        assert count == calls_per_event[name]  # a write never lags behind nor runs ahead
        last_sent[name] = count

    for kind, payload in operations:
        if kind == "call":
            obj, event_type, reason, message, step = payload  # type: ignore[misc]
            now += step * NANOS
            decision = correlator.observe(draft(obj, event_type, reason, message), now)
            calls_per_event[decision.name] += 1
            assert decision.occurrences == calls_per_event[decision.name]
            expected = {1: Verdict.CREATE, 2: Verdict.PATCH}.get(
                decision.occurrences, Verdict.COUNTED
            )
            assert decision.verdict is expected
            if decision.write is not None:
                series = decision.write.body.get("series") or {"count": 1}
                sent(decision.name, series["count"])
        else:
            now += int(payload) * NANOS  # type: ignore[call-overload]
            job = correlator.finish if kind == "finish" else correlator.refresh
            for write in job(now):
                sent(write.name, write.body["series"]["count"])

    for write in correlator.flush_all(now):
        sent(write.name, write.body["series"]["count"])
    assert last_sent == dict(calls_per_event)
