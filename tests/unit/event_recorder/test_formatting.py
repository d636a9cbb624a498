"""Go-style formatting of eventf messages; bad input is rendered, never raised."""

from __future__ import annotations

import pytest

from event_recorder.formatting import sprintf


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("redis replicas set to %d", (3,), "redis replicas set to 3"),
        ("%s/%s", ("default", "my-op-redis"), "default/my-op-redis"),
        ("%v %v %v %v", (1, "a", None, True), "1 a <nil> true"),
        ("%q", ("副本",), '"副本"'),
        ("%t", (False,), "false"),
        ("%5.2f|%-4d|%04d", (3.14159, 7, 42), " 3.14|7   |0042"),
        ("%x %X %o %b %c", (255, 255, 8, 5, 0x4E2D), "ff FF 10 101 中"),
        ("%T", (1.5,), "float"),
        ("100%% done", (), "100% done"),
        ("no verbs", (), "no verbs"),
    ],
)
def test_go_verbs(fmt: str, args: tuple[object, ...], expected: str) -> None:
    assert sprintf(fmt, args) == expected


def test_missing_argument_is_marked_like_go() -> None:
    assert sprintf("%d of %d", (1,)) == "1 of %!d(MISSING)"


def test_extra_arguments_are_marked_like_go() -> None:
    assert sprintf("set to %d", (3, "x")) == "set to 3%!(EXTRA str=x)"


def test_wrong_argument_type_is_marked_like_go() -> None:
    assert sprintf("%d replicas", ("three",)) == "%!d(str=three) replicas"
    assert sprintf("%d", (True,)) == "%!d(bool=true)"
    assert sprintf("%f", ("x",)) == "%!f(str=x)"
    assert sprintf("%y", (1,)) == "%!y(int=1)"
