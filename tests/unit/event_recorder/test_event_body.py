"""The core/v1 Event body: name, namespace, involvedObject, timestamps, source, message size."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_recorder import (
    COMBINED_PREFIX,
    EventAPI,
    EventBroadcaster,
    InMemorySink,
    ObjectReference,
    RecorderOptions,
    Verb,
)
from event_recorder.event import (
    combined_event_name,
    event_name,
    is_dns_subdomain,
    is_path_segment_name,
    parse_time,
    rfc3339,
    rfc3339_micro,
    truncate_utf8,
)
from tests.unit.event_recorder.support import START_NS, BroadcasterFactory, node, redis


async def _first_body(broadcaster: EventBroadcaster, sink: InMemorySink, obj: object) -> dict:
    recorder = broadcaster.new_recorder("RedisOperator", "my-host")
    recorder.event(obj, "Normal", "ScalingUp", "redis replicas set to 3")
    await broadcaster.flush()
    (call,) = sink.writes(Verb.CREATE)
    return call.body


async def test_first_event_is_the_body_client_go_creates(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    body = await _first_body(broadcaster, sink, redis())

    assert body == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"my-op-redis.{START_NS:x}", "namespace": "default"},
        "involvedObject": {
            "kind": "Redis",
            "namespace": "default",
            "name": "my-op-redis",
            "uid": "uid-redis-1",
            "apiVersion": "myapp.tangx.in/v1",
            "resourceVersion": "101",
        },
        "reason": "ScalingUp",
        "message": "redis replicas set to 3",
        "source": {"component": "RedisOperator", "host": "my-host"},
        "firstTimestamp": "2023-11-14T22:13:20Z",
        "lastTimestamp": "2023-11-14T22:13:20Z",
        "count": 1,
        "type": "Normal",
        "reportingComponent": "RedisOperator",
        "reportingInstance": "my-host",
    }
    assert "eventTime" not in body


async def test_event_lives_in_the_objects_namespace(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    body = await _first_body(broadcaster, sink, redis(namespace="team-a"))

    assert body["metadata"]["namespace"] == "team-a"
    assert body["involvedObject"]["namespace"] == "team-a"
    assert ("team-a", body["metadata"]["name"]) in sink.events


async def test_cluster_scoped_object_event_goes_to_default_with_empty_reference_namespace(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    body = await _first_body(broadcaster, sink, node("worker-1"))

    assert body["metadata"]["namespace"] == "default"
    assert "namespace" not in body["involvedObject"]
    assert body["involvedObject"]["kind"] == "Node"
    assert body["metadata"]["name"] == f"worker-1.{START_NS:x}"


async def test_source_without_host_omits_it_like_go(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis(), "Warning", "ScalingDown", "redis replicas set to 1")
    await broadcaster.flush()

    (call,) = sink.writes()
    assert call.body["source"] == {"component": "RedisOperator"}
    assert call.body["reportingInstance"] == ""
    assert call.body["type"] == "Warning"


async def test_field_path_comes_from_an_explicit_reference(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    ref = ObjectReference(
        kind="Pod",
        api_version="v1",
        name="my-op-redis-0",
        namespace="default",
        uid="uid-pod",
        field_path="spec.containers{my-op-redis}",
    )
    body = await _first_body(broadcaster, sink, ref)

    assert body["involvedObject"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "my-op-redis-0",
        "uid": "uid-pod",
        "apiVersion": "v1",
        "fieldPath": "spec.containers{my-op-redis}",
    }


async def test_annotated_eventf_puts_annotations_on_the_event(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.annotated_eventf(
        redis(), {"example.com/by": "test"}, "Normal", "ScalingUp", "set to %d", 3
    )
    await broadcaster.flush()

    (call,) = sink.writes()
    assert call.body["metadata"]["annotations"] == {"example.com/by": "test"}
    assert call.body["message"] == "set to 3"


def test_event_name_is_object_name_dot_lowercase_hex_nanos() -> None:
    assert event_name("my-op-redis", 0x17979CFE362A0000) == "my-op-redis.17979cfe362a0000"


def test_event_name_falls_back_to_a_uuid_when_not_a_dns_subdomain() -> None:
    for bad in ("My_Redis", "x" * 250, "-leading-dash"):
        name = event_name(bad, START_NS)
        assert uuid.UUID(name).version == 4
        assert is_dns_subdomain(name)


def test_dns_subdomain_rules() -> None:
    assert is_dns_subdomain("a.b-c.0")
    assert is_dns_subdomain("a" * 253)
    assert not is_dns_subdomain("a" * 254)
    assert not is_dns_subdomain("UPPER")
    assert not is_dns_subdomain("trailing-.x")
    assert not is_dns_subdomain("")


async def _plain_and_combined(
    broadcaster: EventBroadcaster, sink: InMemorySink, obj: object
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bodies of the first Event about ``obj`` and of its combined Event (the tenth)."""
    recorder = broadcaster.new_recorder("RedisOperator", "my-host")
    for replicas in range(10):
        recorder.eventf(obj, "Normal", "ScalingUp", "replicas set to %d", replicas)
    await broadcaster.flush()
    creates = sink.writes(Verb.CREATE)
    assert len(creates) == 10
    return creates[0].body, creates[-1].body


async def test_a_combined_event_leaves_the_reporting_fields_empty_like_client_go(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    plain, combined = await _plain_and_combined(broadcaster, sink, redis())

    assert combined["message"] == COMBINED_PREFIX + "replicas set to 9"
    assert (
        combined["source"] == plain["source"] == {"component": "RedisOperator", "host": "my-host"}
    )
    assert (plain["reportingComponent"], plain["reportingInstance"]) == ("RedisOperator", "my-host")
    assert (combined["reportingComponent"], combined["reportingInstance"]) == ("", "")


@pytest.mark.parametrize("name", ["system:controller:redis", "r" * 253], ids=["system", "253"])
async def test_a_combined_event_keeps_a_name_a_plain_one_trades_for_a_uuid(
    broadcaster: EventBroadcaster, sink: InMemorySink, name: str
) -> None:
    """client-go checks the DNS-subdomain rule for a plain Event's name only."""
    role = ObjectReference(
        kind="ClusterRole", api_version="rbac.authorization.k8s.io/v1", name=name
    )
    plain, combined = await _plain_and_combined(broadcaster, sink, role)

    assert uuid.UUID(plain["metadata"]["name"]).version == 4
    assert re.fullmatch(re.escape(name) + r"\.[0-9a-f]{16}", combined["metadata"]["name"])


def test_a_combined_event_name_the_api_server_would_refuse_is_a_uuid() -> None:
    assert (
        combined_event_name("system:redis", 0x17979CFE362A0000) == "system:redis.17979cfe362a0000"
    )
    assert uuid.UUID(combined_event_name("a/b", START_NS)).version == 4
    assert uuid.UUID(combined_event_name("50%", START_NS)).version == 4


def test_path_segment_rules() -> None:
    assert is_path_segment_name("system:controller:redis." + "f" * 16)
    assert is_path_segment_name("x" * 1000)
    assert not is_path_segment_name(".")
    assert not is_path_segment_name("..")
    assert not is_path_segment_name("a/b")
    assert not is_path_segment_name("a%2Fb")


def test_timestamps_are_rfc3339_utc_whole_seconds_and_micro_time_has_six_digits() -> None:
    assert rfc3339(START_NS) == "2023-11-14T22:13:20Z"
    assert rfc3339_micro(START_NS) == "2023-11-14T22:13:20.123456Z"
    assert parse_time("2023-11-14T22:13:20Z") == START_NS - 123_456_789
    assert parse_time("2023-11-14T22:13:20.123456Z") == START_NS - 789
    assert parse_time("2023-11-14T22:13:20+00:00") == parse_time("2023-11-14T22:13:20Z")


def test_chinese_message_is_cut_on_a_character_boundary_with_an_ellipsis() -> None:
    original = "副本数设置为" * 100  # 600 characters, 1800 bytes

    cut = truncate_utf8(original, 1024)

    assert len(cut.encode()) == 1023  # 340 characters of 3 bytes, then "..."
    assert cut == original[:340] + "..."


def test_message_within_the_limit_is_untouched() -> None:
    exact = "副" * 341 + "a"  # 1024 bytes
    assert truncate_utf8(exact, 1024) == exact
    assert truncate_utf8(exact + "b", 1024) == "副" * 340 + "..."


def test_message_with_a_lone_surrogate_is_made_sendable() -> None:
    assert truncate_utf8("bad \udcff byte", 1024) == "bad ? byte"


@given(st.text(), st.integers(min_value=3, max_value=2048))
def test_truncation_never_exceeds_the_byte_limit_nor_splits_a_character(
    message: str, limit: int
) -> None:
    cut = truncate_utf8(message, limit)
    encoded = cut.encode()  # would raise if a character had been split
    assert len(encoded) <= limit
    sendable = message.encode("utf-8", "replace").decode()
    if cut != sendable:
        assert cut.endswith("...")
        assert sendable.startswith(cut[:-3])


# Two messages that differ only past their first 1,100 bytes (the API's old 1 KiB cut).
_SHARED = "副本数设置为 3 " * 60  # 1,260 bytes
LONG_A, LONG_B = _SHARED + "because of load", _SHARED + "because of a resize"


async def test_core_v1_messages_are_written_whole_like_client_go(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    message = "redis 副本数设置为 3 " * 200  # 5,400 bytes: the API takes it without eventTime
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "扩容", message)
    await broadcaster.flush()

    (call,) = sink.writes()
    assert call.body["message"] == message


async def test_messages_differing_past_a_kilobyte_are_two_events(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    recorder = broadcaster.new_recorder("RedisOperator")
    for message in (LONG_A, LONG_B, LONG_A):
        recorder.event(redis(), "Normal", "ScalingUp", message)
    await broadcaster.flush()

    assert [c.verb for c in sink.writes()] == [Verb.CREATE, Verb.CREATE, Verb.PATCH]
    stored = {event["message"]: event["count"] for event in sink.events.values()}
    assert stored == {LONG_A: 2, LONG_B: 1}


async def test_an_explicit_cut_never_merges_distinct_messages(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(max_message_bytes=1024))
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")
    for message in (LONG_A, LONG_B, LONG_A):
        recorder.event(redis(), "Normal", "ScalingUp", message)
    await broadcaster.shutdown()

    first, second, patch = sink.writes()
    assert (first.verb, second.verb, patch.verb) == (Verb.CREATE, Verb.CREATE, Verb.PATCH)
    assert first.name != second.name and patch.name == first.name
    cut = truncate_utf8(LONG_A, 1024)
    assert cut == truncate_utf8(LONG_B, 1024) and cut.endswith("...")
    assert len(cut.encode()) <= 1024
    assert [first.body["message"], second.body["message"], patch.body["message"]] == [cut] * 3
    assert sorted(event["count"] for event in sink.events.values()) == [1, 2]


async def test_an_explicit_cut_applies_to_combined_messages_too(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(max_message_bytes=64, aggregate_max_events=2))
    await broadcaster.start()
    recorder = broadcaster.new_recorder("RedisOperator")
    recorder.event(redis(), "Normal", "ScalingUp", "first")
    recorder.event(redis(), "Normal", "ScalingUp", "x" * 100)
    await broadcaster.shutdown()

    combined = sink.writes()[-1].body["message"]
    assert combined == truncate_utf8(COMBINED_PREFIX + "x" * 100, 64)
    assert len(combined.encode()) == 64


async def test_events_v1_notes_are_cut_to_the_apis_1024_bytes(
    make_broadcaster: BroadcasterFactory, sink: InMemorySink
) -> None:
    broadcaster = make_broadcaster(RecorderOptions(api=EventAPI.EVENTS_V1))
    await broadcaster.start()
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "扩容", LONG_A)
    await broadcaster.shutdown()

    (call,) = sink.writes()
    assert call.body["note"] == truncate_utf8(LONG_A, 1024)
    assert len(call.body["note"].encode()) <= 1024


async def test_a_lone_surrogate_is_made_sendable_before_correlation(
    broadcaster: EventBroadcaster, sink: InMemorySink
) -> None:
    broadcaster.new_recorder("RedisOperator").event(redis(), "Normal", "Bad", "bad \udcff byte")
    await broadcaster.flush()

    (call,) = sink.writes()
    assert call.body["message"] == "bad ? byte"
