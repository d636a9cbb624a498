"""The events.k8s.io/v1 mode: isomorphic events form a series (client-go ``tools/events``).

The first occurrence creates the Event; the second PATCHes ``series`` (count 2);
later ones are only counted in memory. A series idle for ``series_finish_interval``
is written a last time and forgotten, and every live series is rewritten each
``series_refresh_interval`` so that it outlives the Event TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from event_recorder.correlator import PeriodicJob
from event_recorder.event import (
    EventDraft,
    NameTimes,
    event_name,
    event_namespace,
    parse_time,
    rfc3339_micro,
    truncate_utf8,
)
from event_recorder.formatting import sprintf
from event_recorder.options import RecorderOptions
from event_recorder.recorder import BaseRecorder
from event_recorder.reference import ObjectReference
from event_recorder.writes import Decision, EventAPI, Verdict, Write

REPORTING_INSTANCE_MAX = 128  # API validation limit
NOTE_MAX_BYTES = 1024
"""The API's limit on a note (and on the message of any Event carrying ``eventTime``)."""

_NANOS = 1_000_000_000

# client-go's key, minus the objects' resourceVersion: it changes on every update of
# the object, and would otherwise break every series about an object being worked on.
_IsoKey = tuple[str, str, str, str, str, ObjectReference, ObjectReference | None]


def reporting_instance(component: str, host: str) -> str:
    """``<component>-<host>`` as client-go names it, within the API's 128 characters."""
    return (f"{component}-{host}" if host else component)[:REPORTING_INSTANCE_MAX]


def events_v1_event(draft: EventDraft, *, name: str, event_time_ns: int) -> dict[str, Any]:
    """The events.k8s.io/v1 Event body of a first occurrence."""
    metadata: dict[str, Any] = {"name": name, "namespace": event_namespace(draft.ref)}
    if draft.annotations:
        metadata["annotations"] = dict(draft.annotations)
    body: dict[str, Any] = {
        "apiVersion": EventAPI.EVENTS_V1.value,
        "kind": "Event",
        "metadata": metadata,
        "eventTime": rfc3339_micro(event_time_ns),
        "reportingController": draft.controller,
        "reportingInstance": draft.instance,
        "action": draft.action,
        "reason": draft.reason,
        "regarding": draft.ref.to_dict(),
        "note": truncate_utf8(draft.message, NOTE_MAX_BYTES),
        "type": draft.type,
    }
    if draft.related is not None:
        body["related"] = draft.related.to_dict()
    return body


def _with_series(make_body: Callable[[], dict[str, Any]], series: dict[str, Any]) -> dict[str, Any]:
    return {**make_body(), "series": series}


@dataclass(slots=True)
class _Series:
    """One Event of this mode and its occurrences so far."""

    namespace: str
    name: str
    make_body: Callable[[], dict[str, Any]]  # the first occurrence's Event
    event_time_ns: int
    count: int = 1
    last_observed_ns: int = 0
    written: int = 1  # the count the API server has been sent

    def write(self) -> Write:
        """The PATCH carrying the current series, noting that the server will have it.

        Its body, the first occurrence plus the series, recreates the Event after a 404.
        """
        self.written = self.count
        series = {"count": self.count, "lastObservedTime": rfc3339_micro(self.last_observed_ns)}
        make_body = partial(_with_series, self.make_body, series)
        return Write(EventAPI.EVENTS_V1, self.namespace, self.name, make_body, {"series": series})


def _iso_key(
    event_type: str,
    action: str,
    reason: str,
    controller: str,
    instance: str,
    regarding: ObjectReference,
    related: ObjectReference | None,
) -> _IsoKey:
    return (
        event_type,
        action,
        reason,
        controller,
        instance,
        regarding.without_resource_version(),
        None if related is None else related.without_resource_version(),
    )


def _key(draft: EventDraft) -> _IsoKey:
    return _iso_key(
        draft.type,
        draft.action,
        draft.reason,
        draft.controller,
        draft.instance,
        draft.ref,
        draft.related,
    )


class SeriesCorrelator:
    """Pure series bookkeeping of the events.k8s.io/v1 mode; the caller passes ``now``."""

    def __init__(self, options: RecorderOptions) -> None:
        self._finish_interval = options.series_finish_interval
        self._refresh_interval = options.series_refresh_interval
        self._finish_ns = round(options.series_finish_interval * _NANOS)
        self._name_times = NameTimes()
        self._series: dict[_IsoKey, _Series] = {}

    def observe(self, draft: EventDraft, now_ns: int) -> Decision:
        """Record one occurrence: create, start the series, or count in memory."""
        key = _key(draft)
        entry = self._series.get(key)
        if entry is None:
            name = event_name(draft.ref.name, self._name_times.next(now_ns))
            make_body = partial(events_v1_event, draft, name=name, event_time_ns=now_ns)
            entry = _Series(event_namespace(draft.ref), name, make_body, now_ns)
            self._series[key] = entry
            write = Write(EventAPI.EVENTS_V1, entry.namespace, name, make_body)
            return Decision(Verdict.CREATE, name, 1, write)
        entry.count += 1
        entry.last_observed_ns = now_ns
        if entry.count == 2:
            return Decision(Verdict.PATCH, entry.name, 2, entry.write())
        return Decision(Verdict.COUNTED, entry.name, entry.count)

    def finish(self, now_ns: int) -> list[Write]:
        """Write and forget series idle too long; forget old single events."""
        cutoff = now_ns - self._finish_ns
        writes = []
        for key, entry in list(self._series.items()):
            if entry.count > 1:
                if entry.last_observed_ns < cutoff:
                    writes.append(entry.write())
                    del self._series[key]
            elif entry.event_time_ns < cutoff:
                del self._series[key]
        return writes

    def refresh(self, now_ns: int) -> list[Write]:
        """Rewrite every live series (also keeps the Event from expiring)."""
        return [entry.write() for entry in self._series.values() if entry.count > 1]

    def periodic_jobs(self) -> tuple[PeriodicJob, ...]:
        """The two timers of client-go's events broadcaster."""
        return ((self._finish_interval, self.finish), (self._refresh_interval, self.refresh))

    def flush_all(self, now_ns: int) -> list[Write]:
        """At shutdown: the series whose latest count the API server has not seen."""
        return [entry.write() for entry in self._series.values() if entry.count > entry.written]

    def learn(
        self, events: Iterable[Mapping[str, Any]], *, component: str, host: str | None
    ) -> int:
        """Resume the series of Events this controller wrote before a restart.

        ``events`` are listed through core/v1 (the API server converts). With ``host``
        given, Events are adopted for the recorder of that host; with ``None`` each
        keeps its own reportingInstance. Returns the number of series learned.
        """
        learned: dict[_IsoKey, _Series] = {}
        for event in events:
            found = _learnable(event, component, host)
            if found is None:
                continue
            key, entry = found
            previous = learned.get(key)
            if previous is None or _latest(entry) > _latest(previous):
                learned[key] = entry
        self._series.update(learned)
        return len(learned)


def _latest(entry: _Series) -> int:
    return max(entry.event_time_ns, entry.last_observed_ns)


def _learnable(
    event: Mapping[str, Any], component: str, host: str | None
) -> tuple[_IsoKey, _Series] | None:
    """The key and state of a listed Event, if this controller wrote it in this mode."""
    metadata = event.get("metadata") or {}
    event_time = event.get("eventTime")
    if event.get("reportingComponent") != component or not event_time or not metadata.get("name"):
        return None
    series = event.get("series") or {}
    try:
        event_time_ns = parse_time(event_time)
        last_observed = series.get("lastObservedTime")
        last_observed_ns = parse_time(last_observed) if last_observed else 0
    except ValueError:
        return None
    regarding = ObjectReference.from_dict(event.get("involvedObject") or {})
    related_data = event.get("related")
    related = ObjectReference.from_dict(related_data) if related_data else None
    namespace, name = metadata.get("namespace") or "", metadata["name"]
    draft = EventDraft(
        ref=regarding,
        type=event.get("type") or "",
        reason=event.get("reason") or "",
        message=event.get("message") or "",
        controller=component,
        instance=event.get("reportingInstance") or "",
        action=event.get("action") or "",
        related=related,
    )
    make_body = partial(events_v1_event, draft, name=name, event_time_ns=event_time_ns)
    count = int(series.get("count") or 1)
    entry = _Series(namespace, name, make_body, event_time_ns, count, last_observed_ns, count)
    instance = draft.instance if host is None else reporting_instance(component, host)
    key = _iso_key(draft.type, draft.action, draft.reason, component, instance, regarding, related)
    return key, entry


class EventsV1Recorder(BaseRecorder):
    """Records events.k8s.io/v1 Events; the same calls plus ``action`` and ``related``.

    ``action`` is required by the API; when not given, the reason is used.
    ``related`` is a second object the event is about (same forms as ``obj``).
    """

    def event(
        self,
        obj: object,
        type: str,
        reason: str,
        message: str,
        *,
        action: str = "",
        related: object = None,
    ) -> None:
        """Record an event with a plain note."""
        self._record(obj, None, type, reason, message, action=action or reason, related=related)

    def eventf(
        self,
        obj: object,
        type: str,
        reason: str,
        fmt: str,
        *args: object,
        action: str = "",
        related: object = None,
    ) -> None:
        """Record an event whose note is ``fmt`` formatted Go-style with ``args``."""
        self._record(
            obj, None, type, reason, sprintf(fmt, args), action=action or reason, related=related
        )

    def annotated_eventf(
        self,
        obj: object,
        annotations: Mapping[str, str] | None,
        type: str,
        reason: str,
        fmt: str,
        *args: object,
        action: str = "",
        related: object = None,
    ) -> None:
        """Like :meth:`eventf`, with annotations on the Event object."""
        self._record(
            obj,
            annotations,
            type,
            reason,
            sprintf(fmt, args),
            action=action or reason,
            related=related,
        )
