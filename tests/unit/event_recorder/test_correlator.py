"""Correlation rules, on the pure Correlator: aggregation, deduplication, spam filter."""

from __future__ import annotations

from event_recorder import (
    COMBINED_PREFIX,
    Correlator,
    Decision,
    EventDraft,
    ObjectReference,
    RecorderOptions,
    Verdict,
    Write,
    reference_for,
)
from event_recorder.event import rfc3339
from tests.unit.event_recorder.support import NANOS, START_NS, redis


def draft(
    message: str = "replicas set to 3",
    *,
    reason: str = "ScalingUp",
    type: str = "Normal",
    obj: object = None,
) -> EventDraft:
    return EventDraft(
        ref=reference_for(redis() if obj is None else obj),
        type=type,
        reason=reason,
        message=message,
        controller="RedisOperator",
        instance="my-host",
    )


def sent(decision: Decision) -> Write:
    """The write of a decision that must reach the API server."""
    assert decision.write is not None
    return decision.write


class Timeline:
    """A correlator fed on a fake clock."""

    def __init__(self, options: RecorderOptions | None = None) -> None:
        self.correlator = Correlator(options or RecorderOptions())
        self.now = START_NS

    def at(self, seconds_later: float, event: EventDraft) -> Decision:
        self.now += round(seconds_later * NANOS)
        return self.correlator.observe(event, self.now)


# Deduplication


def test_repeat_becomes_a_patch_of_count_last_timestamp_and_message() -> None:
    timeline = Timeline()
    first = timeline.at(0, draft())
    second = timeline.at(5, draft())
    third = timeline.at(60, draft())

    assert first.verdict is Verdict.CREATE
    assert sent(first).patch is None
    assert second.verdict is Verdict.PATCH
    assert second.name == first.name
    assert sent(second).patch == {
        "count": 2,
        "lastTimestamp": rfc3339(START_NS + 5 * NANOS),
        "message": "replicas set to 3",
    }
    assert sent(third).patch is not None
    assert sent(third).patch["count"] == 3
    # The full body, used if the PATCH meets a 404, keeps the first timestamp.
    assert sent(third).body["firstTimestamp"] == rfc3339(START_NS)
    assert sent(third).body["lastTimestamp"] == rfc3339(START_NS + 65 * NANOS)
    assert sent(third).body["count"] == 3


def test_dedup_key_includes_message_reason_type_and_field_path_but_not_resource_version() -> None:
    timeline = Timeline()
    base = timeline.at(0, draft())
    names = {
        timeline.at(1, draft("other message")).name,
        timeline.at(1, draft(reason="ScalingDown")).name,
        timeline.at(1, draft(type="Warning")).name,
        timeline.at(
            1,
            draft(
                obj=ObjectReference(
                    kind="Redis",
                    api_version="myapp.tangx.in/v1",
                    name="my-op-redis",
                    namespace="default",
                    uid="uid-redis-1",
                    field_path="spec.replicas",
                )
            ),
        ).name,
    }
    assert base.name not in names
    assert len(names) == 4

    repeat = timeline.at(1, draft(obj=redis(resource_version="999")))
    assert repeat.name == base.name
    assert repeat.verdict is Verdict.PATCH


def test_dedup_cache_is_bounded_lru() -> None:
    timeline = Timeline(RecorderOptions(lru_cache_size=2))
    first = timeline.at(0, draft(obj=redis("a")))
    timeline.at(1, draft(obj=redis("b")))
    timeline.at(1, draft(obj=redis("c")))  # evicts "a"

    again = timeline.at(1, draft(obj=redis("a")))
    assert again.verdict is Verdict.CREATE
    assert again.name != first.name


# Aggregation


def test_tenth_distinct_message_within_600s_is_combined_and_later_ones_count_on_it() -> None:
    timeline = Timeline()
    firsts = [timeline.at(1, draft(f"replicas set to {i}")) for i in range(9)]
    tenth = timeline.at(1, draft("replicas set to 9"))
    eleventh = timeline.at(1, draft("replicas set to 10"))

    assert all(d.verdict is Verdict.CREATE and not d.aggregated for d in firsts)
    assert tenth.aggregated
    assert tenth.verdict is Verdict.CREATE
    assert sent(tenth).body["message"] == COMBINED_PREFIX + "replicas set to 9"
    assert tenth.name not in {d.name for d in firsts}
    assert eleventh.aggregated
    assert eleventh.verdict is Verdict.PATCH
    assert eleventh.name == tenth.name
    assert sent(eleventh).patch == {
        "count": 2,
        "lastTimestamp": rfc3339(timeline.now),
        "message": COMBINED_PREFIX + "replicas set to 10",
    }


def test_first_nine_messages_keep_their_own_events_after_aggregation_starts() -> None:
    timeline = Timeline()
    first = timeline.at(0, draft("replicas set to 0"))
    for i in range(1, 12):
        timeline.at(1, draft(f"replicas set to {i}"))

    repeat = timeline.at(1, draft("replicas set to 0"))
    again_tenth = timeline.at(1, draft("replicas set to 9"))

    assert not repeat.aggregated
    assert repeat.name == first.name
    assert sent(repeat).body["count"] == 2
    assert again_tenth.aggregated  # deterministic: the set keeps its first nine


def test_group_is_still_alive_at_exactly_600s_and_each_event_extends_it() -> None:
    timeline = Timeline()
    for i in range(9):
        timeline.at(500, draft(f"m{i}"))  # 4000 s in all, never 600 s idle

    assert timeline.at(600, draft("m9")).aggregated


def test_group_resets_after_more_than_600s_idle() -> None:
    timeline = Timeline()
    for i in range(9):
        timeline.at(0, draft(f"m{i}"))

    after_idle = timeline.at(600.001, draft("m9"))

    assert not after_idle.aggregated
    assert after_idle.verdict is Verdict.CREATE
    assert sent(after_idle).body["message"] == "m9"


def test_groups_are_per_object_type_and_reason() -> None:
    timeline = Timeline()
    for i in range(9):
        timeline.at(0, draft(f"m{i}"))
    assert not timeline.at(0, draft("m9", reason="ScalingDown")).aggregated
    assert not timeline.at(0, draft("m9", type="Warning")).aggregated
    assert not timeline.at(0, draft("m9", obj=redis("other"))).aggregated
    assert timeline.at(0, draft("m9")).aggregated


def test_aggregation_threshold_is_an_option() -> None:
    timeline = Timeline(RecorderOptions(aggregate_max_events=3))
    assert not timeline.at(0, draft("a")).aggregated
    assert not timeline.at(0, draft("b")).aggregated
    assert timeline.at(0, draft("c")).aggregated


def test_aggregation_is_deterministic() -> None:
    def run() -> list[tuple[object, ...]]:
        timeline = Timeline()
        return [
            (d.verdict, d.name, d.occurrences, d.aggregated, d.write and d.write.body)
            for d in (timeline.at(7, draft(f"m{i % 13}")) for i in range(60))
        ]

    assert run() == run()


# Spam filter


def test_burst_of_25_then_one_write_per_300s_carrying_the_true_count() -> None:
    timeline = Timeline()
    decisions = [timeline.at(0.1, draft()) for _ in range(30)]

    assert len([d for d in decisions if d.write is not None]) == 25
    assert [d.verdict for d in decisions[25:]] == [Verdict.SPAM_FILTERED] * 5
    assert decisions[-1].occurrences == 30

    assert timeline.at(290, draft()).verdict is Verdict.SPAM_FILTERED  # 293 s: not a token yet
    refilled = timeline.at(10, draft())
    assert refilled.verdict is Verdict.PATCH
    assert sent(refilled).patch is not None
    assert sent(refilled).patch["count"] == 32
    assert timeline.at(1, draft()).verdict is Verdict.SPAM_FILTERED


def test_spam_key_ignores_reason_but_separates_type_and_object() -> None:
    timeline = Timeline()
    for i in range(25):
        timeline.at(0, draft(reason=f"Reason{i}"))

    assert timeline.at(0, draft(reason="Another")).verdict is Verdict.SPAM_FILTERED
    assert timeline.at(0, draft(type="Warning")).verdict is Verdict.CREATE
    assert timeline.at(0, draft(obj=redis("other"))).verdict is Verdict.CREATE


def test_spam_filter_constants_are_options() -> None:
    timeline = Timeline(RecorderOptions(spam_burst=2, spam_refill_interval=10))
    assert [timeline.at(0, draft()).verdict for _ in range(3)] == [
        Verdict.CREATE,
        Verdict.PATCH,
        Verdict.SPAM_FILTERED,
    ]
    assert timeline.at(10, draft()).verdict is Verdict.PATCH


def test_distinct_events_in_one_clock_tick_get_distinct_names() -> None:
    timeline = Timeline()
    names = [timeline.at(0, draft(f"m{i}")).name for i in range(3)]

    assert names == [f"my-op-redis.{START_NS + i:x}" for i in range(3)]
