"""The recorder interface handlers call, and its core/v1 implementation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from event_recorder.event import EVENT_TYPES, EventDraft, sendable
from event_recorder.formatting import sprintf
from event_recorder.reference import InvalidObjectError, ObjectReference, reference_for

logger = logging.getLogger("event_recorder")

Submit = Callable[[EventDraft], None]
"""Takes a validated event; correlates and queues it without blocking."""

Refuse = Callable[[str], None]
"""Counts an event refused before correlation, by reason."""


@runtime_checkable
class EventRecorder(Protocol):
    """Records Events about Kubernetes objects, like client-go's ``record.EventRecorder``.

    ``obj`` is a Kubernetes object as a mapping (dict, kopf ``Body``), a kubernetes
    client model, or an :class:`~event_recorder.ObjectReference`. ``type`` is
    ``Normal`` or ``Warning``. Calls return at once; they never block on, nor raise
    for, the API server.
    """

    def event(self, obj: object, type: str, reason: str, message: str) -> None:
        """Record an event with a plain message."""

    def eventf(self, obj: object, type: str, reason: str, fmt: str, *args: object) -> None:
        """Record an event whose message is ``fmt`` formatted Go-style with ``args``."""

    def annotated_eventf(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        type: str,
        reason: str,
        fmt: str,
        *args: object,
    ) -> None:
        """Like :meth:`eventf`, with annotations on the Event object."""


class BaseRecorder:
    """Validation shared by both API modes: reference, type, a sendable message."""

    def __init__(
        self,
        *,
        submit: Submit,
        refuse: Refuse,
        controller: str,
        instance: str,
    ) -> None:
        self._submit = submit
        self._refuse = refuse
        self._controller = controller
        self._instance = instance

    def _record(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        event_type: str,
        reason: str,
        message: str,
        *,
        action: str = "",
        related: object = None,
    ) -> None:
        try:
            ref = reference_for(obj)
        except InvalidObjectError as error:
            logger.error("Not recording %s event %r: %s", event_type, reason, error)
            self._refuse("invalid_object")
            return
        if event_type not in EVENT_TYPES:
            logger.error("Not recording event %r: unsupported type %r", reason, event_type)
            self._refuse("invalid_type")
            return
        self._submit(
            EventDraft(
                ref=ref,
                type=event_type,
                reason=reason,
                message=sendable(message),  # whole: correlation must tell messages apart
                controller=self._controller,
                instance=self._instance,
                annotations=dict(annotations) if annotations else None,  # the caller may reuse it
                action=action,
                related=_related_reference(related),
            )
        )


def _related_reference(related: object) -> ObjectReference | None:
    """Like client-go, an unusable ``related`` object is left out rather than fatal."""
    if related is None:
        return None
    try:
        return reference_for(related)
    except InvalidObjectError as error:
        logger.debug("Ignoring related object: %s", error)
        return None


class CoreV1Recorder(BaseRecorder):
    """Records core/v1 Events, as client-go's ``tools/record`` does."""

    def event(self, obj: object, type: str, reason: str, message: str) -> None:
        """Record an event with a plain message."""
        self._record(obj, None, type, reason, message)

    def eventf(self, obj: object, type: str, reason: str, fmt: str, *args: object) -> None:
        """Record an event whose message is ``fmt`` formatted Go-style with ``args``."""
        self._record(obj, None, type, reason, sprintf(fmt, args))

    def annotated_eventf(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        type: str,
        reason: str,
        fmt: str,
        *args: object,
    ) -> None:
        """Like :meth:`eventf`, with annotations on the Event object."""
        self._record(obj, annotations, type, reason, sprintf(fmt, args))
