"""FakeRecorder, for users' unit tests."""

from __future__ import annotations

from event_recorder import EventRecorder, FakeRecorder
from tests.unit.event_recorder.support import redis


def test_records_client_go_style_strings() -> None:
    recorder = FakeRecorder()
    recorder.event(redis(), "Normal", "ScalingUp", "my-op-redis replicas set to 3")
    recorder.eventf(redis(), "Warning", "ScalingDown", "replicas set to %d", 1)

    assert recorder.events == [
        "Normal ScalingUp my-op-redis replicas set to 3",
        "Warning ScalingDown replicas set to 1",
    ]


def test_optionally_includes_the_object_and_annotations() -> None:
    recorder = FakeRecorder(include_object=True)
    recorder.annotated_eventf(redis(), {"b": "2", "a": "1"}, "Normal", "ScalingUp", "set to %d", 3)

    assert recorder.events == [
        "Normal ScalingUp set to 3 involvedObject{kind=Redis,apiVersion=myapp.tangx.in/v1}"
        " map[a:1 b:2]"
    ]


def test_refuses_what_the_real_recorder_refuses() -> None:
    recorder = FakeRecorder()
    recorder.event(redis(), "Deleting", "Deleting", "bye")
    recorder.event({"kind": "Redis"}, "Normal", "NoMetadata", "hm")

    assert recorder.events == []
    assert recorder.refused == ["Deleting Deleting bye", "Normal NoMetadata hm"]


def test_accepts_events_v1_keywords_and_can_be_cleared() -> None:
    recorder = FakeRecorder()
    recorder.event(redis(), "Normal", "ScalingUp", "m", action="Scale", related=None)
    assert recorder.events == ["Normal ScalingUp m"]

    recorder.clear()
    assert recorder.events == [] and recorder.refused == []


def test_is_an_event_recorder() -> None:
    def reconcile(recorder: EventRecorder) -> None:
        recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")

    fake = FakeRecorder()
    reconcile(fake)
    assert fake.events == ["Normal ScalingUp replicas set to 3"]
