"""The core/v1 Event as client-go's ``tools/record`` writes it, and its building blocks."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from event_recorder.reference import ObjectReference

NORMAL = "Normal"
WARNING = "Warning"
EVENT_TYPES = frozenset((NORMAL, WARNING))

DEFAULT_NAMESPACE = "default"
ELLIPSIS = "..."

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NANOS = 1_000_000_000


class EventDraft(NamedTuple):
    """One validated call of a recorder, before correlation.

    ``controller`` and ``instance`` are who reports: for core/v1 they are
    ``source.component`` / ``source.host`` (copied to ``reportingComponent`` /
    ``reportingInstance``); for events.k8s.io/v1, ``reportingController`` /
    ``reportingInstance``.
    """

    ref: ObjectReference
    type: str
    reason: str
    message: str
    controller: str
    instance: str
    annotations: Mapping[str, str] | None = None
    action: str = ""
    related: ObjectReference | None = None


def event_namespace(ref: ObjectReference) -> str:
    """Events live in the object's namespace; cluster-scoped objects use ``default``."""
    return ref.namespace or DEFAULT_NAMESPACE


def is_dns_subdomain(name: str) -> bool:
    """Whether ``name`` is a valid object name (RFC 1123 subdomain, at most 253 chars)."""
    return len(name) <= 253 and _DNS_SUBDOMAIN.match(name) is not None


def event_name(object_name: str, now_ns: int) -> str:
    """``<object name>.<hex unix nanos>``, or a random UUID when that is not a valid name."""
    name = f"{object_name}.{now_ns:x}"
    return name if is_dns_subdomain(name) else str(uuid.uuid4())


def is_path_segment_name(name: str) -> bool:
    """Whether the API server takes ``name`` for a core/v1 Event.

    core/v1 Events are spared the DNS-subdomain rule: their names need only be a URL path
    segment (not ``.`` or ``..``, no ``/`` or ``%``), of any length.
    """
    return name not in (".", "..") and "/" not in name and "%" not in name


def combined_event_name(object_name: str, now_ns: int) -> str:
    """The name of a combined Event: ``<object name>.<hex unix nanos>`` even where that is
    not a DNS subdomain (a ``system:`` ClusterRole, a 253-character name), as client-go names
    it; a random UUID only where the API server would refuse it."""
    name = f"{object_name}.{now_ns:x}"
    return name if is_path_segment_name(name) else str(uuid.uuid4())


class NameTimes:
    """Strictly increasing nanoseconds for Event names.

    Two Events about one object recorded within one clock tick would otherwise get
    the same name, and the second create would fail with 409 (client-go relies on the
    clock alone; a coarse clock makes such ties likely).
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self, now_ns: int) -> int:
        """``now_ns``, or one more than the last value handed out if that is not later."""
        self._last = max(now_ns, self._last + 1)
        return self._last


@lru_cache(maxsize=256)
def _utc_seconds(seconds: int) -> str:
    """Formatting is the costly part of a timestamp; events come in bursts, so cache it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(ns: int) -> str:
    """A ``metav1.Time``: RFC 3339 in UTC, whole seconds."""
    return _utc_seconds(ns // _NANOS) + "Z"


def rfc3339_micro(ns: int) -> str:
    """A ``metav1.MicroTime``: RFC 3339 in UTC with six fractional digits."""
    seconds, rest = divmod(ns, _NANOS)
    return f"{_utc_seconds(seconds)}.{rest // 1000:06d}Z"


def parse_time(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 / ISO 8601 timestamp (as listed Events carry)."""
    parsed = datetime.fromisoformat(text)
    seconds = int(parsed.timestamp())
    return seconds * _NANOS + parsed.microsecond * 1000


def sendable(message: str) -> str:
    """``message`` with lone surrogates, which UTF-8 cannot encode, replaced by "?"."""
    try:
        message.encode()
    except UnicodeEncodeError:
        return message.encode("utf-8", "replace").decode()
    return message


def truncate_utf8(message: str, max_bytes: int) -> str:
    """Cut ``message`` to ``max_bytes`` of UTF-8 on a character boundary, ending in "...".

    The API server limits notes in bytes, and one CJK character takes three, so counting
    characters is not enough. Lone surrogates are replaced.
    """
    message = sendable(message)
    data = message.encode()
    if len(data) <= max_bytes:
        return message
    cut = max(max_bytes - len(ELLIPSIS), 0)
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # continuation byte: back up to a boundary
        cut -= 1
    return data[:cut].decode() + ELLIPSIS[: max_bytes - cut]  # all of it unless max_bytes < 3


def core_event(
    draft: EventDraft,
    *,
    name: str,
    message: str,
    count: int,
    first_ns: int,
    last_ns: int,
    annotations: Mapping[str, str] | None,
    combined: bool = False,
) -> dict[str, Any]:
    """The core/v1 Event body client-go's recorder would create (no ``eventTime``).

    A ``combined`` Event is built afresh by client-go's aggregator, which copies the source
    but not the reporting fields: they stay empty.
    """
    metadata: dict[str, Any] = {"name": name, "namespace": event_namespace(draft.ref)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    source = {"component": draft.controller}
    if draft.instance:
        source["host"] = draft.instance
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": draft.ref.to_dict(),
        "reason": draft.reason,
        "message": message,
        "source": source,
        "firstTimestamp": rfc3339(first_ns),
        "lastTimestamp": rfc3339(last_ns),
        "count": count,
        "type": draft.type,
        "reportingComponent": "" if combined else draft.controller,
        "reportingInstance": "" if combined else draft.instance,
    }


def core_patch(*, count: int, last_ns: int, message: str) -> dict[str, Any]:
    """The strategic-merge patch client-go sends for a repeat."""
    patch: dict[str, Any] = {"count": count, "lastTimestamp": rfc3339(last_ns)}
    if message:
        patch["message"] = message
    return patch
