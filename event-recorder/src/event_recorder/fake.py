"""FakeRecorder: an EventRecorder for unit tests, like client-go's ``record.FakeRecorder``."""

from __future__ import annotations

from collections.abc import Mapping

from event_recorder.event import EVENT_TYPES
from event_recorder.formatting import sprintf
from event_recorder.reference import InvalidObjectError, reference_for


class FakeRecorder:
    """Keeps each event as a string instead of writing it.

    ``recorder.event(redis, "Normal", "ScalingUp", "replicas set to 3")`` appends
    ``"Normal ScalingUp replicas set to 3"`` to :attr:`events`. With
    ``include_object=True`` the string ends with
    `` involvedObject{kind=Redis,apiVersion=myapp.tangx.in/v1}``; annotations are
    appended as `` map[key:value]``, both as client-go formats them.

    Like the real recorder, it refuses an event type other than Normal or Warning or an
    object it cannot reference: such calls land in :attr:`refused` instead. It also
    takes the events.k8s.io/v1 ``action``/``related`` keywords, which it ignores.
    """

    def __init__(self, *, include_object: bool = False) -> None:
        self.include_object = include_object
        self.events: list[str] = []
        self.refused: list[str] = []

    def event(self, obj: object, type: str, reason: str, message: str, **_v1: object) -> None:
        """Record an event with a plain message."""
        self._write(obj, None, type, reason, message)

    def eventf(
        self, obj: object, type: str, reason: str, fmt: str, *args: object, **_v1: object
    ) -> None:
        """Record an event whose message is ``fmt`` formatted Go-style with ``args``."""
        self._write(obj, None, type, reason, sprintf(fmt, args))

    def annotated_eventf(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        type: str,
        reason: str,
        fmt: str,
        *args: object,
        **_v1: object,
    ) -> None:
        """Like :meth:`eventf`, with annotations."""
        self._write(obj, annotations, type, reason, sprintf(fmt, args))

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self.events.clear()
        self.refused.clear()

    def _write(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        event_type: str,
        reason: str,
        message: str,
    ) -> None:
        text = f"{event_type} {reason} {message}"
        try:
            ref = reference_for(obj)
        except InvalidObjectError:
            self.refused.append(text)
            return
        if event_type not in EVENT_TYPES:
            self.refused.append(text)
            return
        if self.include_object:
            text += f" involvedObject{{kind={ref.kind},apiVersion={ref.api_version}}}"
        if annotations:
            pairs = " ".join(f"{key}:{annotations[key]}" for key in sorted(annotations))
            text += f" map[{pairs}]"
        self.events.append(text)
