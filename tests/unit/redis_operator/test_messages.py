"""The Events catalog: the seed's Chinese strings exactly, every key in both languages."""

from __future__ import annotations

import pytest

from redis_operator.messages import (
    MAX_ERROR_LENGTH,
    ChildKind,
    Event,
    EventKey,
    Language,
    RenderedEvent,
    render,
)

ARGS: dict[str, str | int] = {
    "name": "my-op-redis",
    "replicas": 3,
    "pods": 2,
    "kind": ChildKind.POD,
    "child": "my-op-redis-1",
    "pod": "my-op-redis-1",
    "phase": "Failed",
    "error": "pods is forbidden: exceeded quota",
    "children": "pod/my-op-redis-1, service/my-op-redis",
    "primary": "my-op-redis-0",
    "offset": 18230,
    "seconds": 10,
    "secret": "my-redis-password",
    "key": "password",
    "label": "myapp.tangx.in/redis-auth",
}


def test_seed_strings_in_chinese() -> None:
    assert render(EventKey.SCALING_UP, "zh", name="redis", replicas=3) == (
        "Normal",
        "扩容",
        "redis 副本数设置为 3",
    )
    assert render(EventKey.SCALING_DOWN, "zh", name="redis", replicas=1) == (
        "Warning",
        "缩容",
        "redis 副本数设置为 1",
    )
    assert render(EventKey.DELETING, "zh", name="redis", pods=2) == ("Normal", "删除", "删除 redis")


def test_spec_strings_in_english() -> None:
    en = Language.EN
    assert render(EventKey.SCALING_UP, en, name="r", replicas=3) == (
        "Normal",
        "ScalingUp",
        "r replicas set to 3",
    )
    assert render(EventKey.SCALING_DOWN, en, name="r", replicas=1) == (
        "Warning",
        "ScalingDown",
        "r replicas set to 1",
    )
    assert render(EventKey.SUCCESSFUL_CREATE, en, kind="pod", child="r-0") == (
        "Normal",
        "SuccessfulCreate",
        "Created pod: r-0",
    )
    assert render(EventKey.SUCCESSFUL_DELETE, en, kind="pod", child="r-0") == (
        "Normal",
        "SuccessfulDelete",
        "Deleted pod: r-0",
    )
    assert render(EventKey.POD_RECREATED, en, pod="r-0") == (
        "Warning",
        "PodRecreated",
        "Pod r-0 was deleted; recreated it",
    )
    assert render(EventKey.DELETING, en, name="r", pods=2) == (
        "Normal",
        "Deleting",
        "Deleting r and its 2 pods",
    )
    assert render(EventKey.FAILED_CREATE, en, kind="service", child="r", error="boom") == (
        "Warning",
        "FailedCreate",
        "Error creating service r: boom",
    )


@pytest.mark.parametrize("key", list(EventKey))
@pytest.mark.parametrize("language", list(Language))
def test_every_key_renders_in_every_language(key: EventKey, language: Language) -> None:
    rendered = render(key, language, **ARGS)
    assert isinstance(rendered, RenderedEvent)
    assert rendered.type in ("Normal", "Warning")
    assert rendered.reason and rendered.message
    assert "{" not in rendered.message
    if language is Language.EN:
        assert rendered.reason == key.value


def test_reasons_are_distinct_within_a_language() -> None:
    for language in Language:
        reasons = [render(key, language, **ARGS).reason for key in EventKey]
        assert len(set(reasons)) == len(reasons)


def test_types_do_not_depend_on_language() -> None:
    for key in EventKey:
        assert render(key, "en", **ARGS).type == render(key, "zh", **ARGS).type


def test_kind_is_translated() -> None:
    assert render(EventKey.SUCCESSFUL_CREATE, "zh", kind="pod", child="r-0").message == (
        "已创建 Pod: r-0"
    )
    assert render(EventKey.SUCCESSFUL_DELETE, "zh", kind="service", child="r").message == (
        "已删除 Service: r"
    )


def test_errors_are_kept_short() -> None:
    message = render(
        EventKey.FAILED_DELETE, "en", kind="pod", child="r-0", error="x\n" * 1000
    ).message
    assert len(message) < len("Error deleting pod r-0: ") + MAX_ERROR_LENGTH + 1
    assert message.endswith("…") and "\n" not in message


def test_missing_argument_and_unknown_language_fail_loudly() -> None:
    with pytest.raises(KeyError):
        render(EventKey.SCALING_UP, "en", name="r")
    with pytest.raises(ValueError):
        render(EventKey.SCALING_UP, "fr", name="r", replicas=1)


def test_event_is_language_neutral() -> None:
    event = Event(EventKey.SCALING_UP, {"name": "redis", "replicas": 3})
    assert event.render("zh").message == "redis 副本数设置为 3"
    assert event.render("en").message == "redis replicas set to 3"


def test_events_are_hashable_values() -> None:
    a = Event(EventKey.POD_RECREATED, {"pod": "r-0"})
    assert a == Event(EventKey.POD_RECREATED, {"pod": "r-0"})
    assert len({a, Event(EventKey.POD_RECREATED, {"pod": "r-0"})}) == 1
