"""client-go's event correlation, pure: aggregation, then deduplication, then spam filter.

No I/O and no clock of its own: the caller passes ``now`` in Unix nanoseconds, so the
same calls always give the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from event_recorder.event import (
    EventDraft,
    NameTimes,
    combined_event_name,
    core_event,
    core_patch,
    event_name,
    event_namespace,
    parse_time,
    truncate_utf8,
)
from event_recorder.lru import LRUCache
from event_recorder.options import RecorderOptions
from event_recorder.reference import ObjectReference
from event_recorder.writes import Decision, EventAPI, Verdict, Write

COMBINED_PREFIX = "(combined from similar events): "

PeriodicJob = tuple[float, Callable[[int], list[Write]]]
"""(interval in seconds, job called with the current time in nanoseconds)."""

_NANOS = 1_000_000_000

# Keys are tuples; client-go joins the same fields into one string.
_ObjectKey = tuple[str, str, str, str, str, str, str]
_GroupKey = tuple[_ObjectKey, str, str]
_EventKey = tuple[_ObjectKey, str, str, str, str]
_SpamKey = tuple[_ObjectKey, str]


def _object_key(controller: str, instance: str, ref: ObjectReference) -> _ObjectKey:
    return (controller, instance, ref.kind, ref.namespace, ref.name, ref.uid, ref.api_version)


class _Group:
    """Similar events (same object, type, reason) seen recently."""

    __slots__ = ("last_ns", "messages")

    def __init__(self) -> None:
        self.messages: set[str] = set()
        self.last_ns = 0


@dataclass(slots=True)
class _Observation:
    """What the deduplication stage remembers of one Event."""

    name: str
    first_ns: int
    count: int


class _TokenBucket:
    """A full-at-start token bucket refilled continuously, in integer nanoseconds.

    A token is worth ``refill_ns``; the bucket holds at most ``burst`` tokens.
    """

    __slots__ = ("last_ns", "units")

    def __init__(self, capacity: int, now_ns: int) -> None:
        self.units = capacity
        self.last_ns = now_ns

    def take(self, now_ns: int, capacity: int, refill_ns: int) -> bool:
        self.units = min(capacity, self.units + max(now_ns - self.last_ns, 0))
        self.last_ns = max(now_ns, self.last_ns)
        if self.units < refill_ns:
            return False
        self.units -= refill_ns
        return True


class Correlator:
    """Turns recorded events into core/v1 writes the way client-go's EventCorrelator does.

    1. Aggregation: events differing only in message are grouped; while a group holds
       fewer than ``aggregate_max_events`` distinct messages they pass unchanged. Any
       other message becomes ``(combined from similar events): <message>`` on one
       Event per group. client-go then drops an arbitrary message from the set; here
       the set keeps its first members, so the outcome is deterministic.
    2. Deduplication: a repeat reuses the Event's name and firstTimestamp and becomes
       a PATCH of count, lastTimestamp and message.
    3. Spam filter: a token bucket per source + object + type; without a token the
       write is skipped, but the count has advanced, so the next PATCH is right.
    """

    def __init__(self, options: RecorderOptions) -> None:
        size = options.lru_cache_size
        self._max_message_bytes = options.max_message_bytes
        self._group_limit = options.aggregate_max_events - 1
        self._group_window_ns = round(options.aggregate_interval * _NANOS)
        self._refill_ns = round(options.spam_refill_interval * _NANOS)
        self._capacity = options.spam_burst * self._refill_ns
        self._name_times = NameTimes()
        self._groups: LRUCache[_GroupKey, _Group] = LRUCache(size)
        self._seen: LRUCache[_GroupKey | _EventKey, _Observation] = LRUCache(size)
        self._buckets: LRUCache[_SpamKey, _TokenBucket] = LRUCache(size)

    def observe(self, draft: EventDraft, now_ns: int) -> Decision:
        """Correlate one event recorded at ``now_ns``."""
        ref = draft.ref
        obj = _object_key(draft.controller, draft.instance, ref)
        group_key: _GroupKey = (obj, draft.type, draft.reason)

        aggregated = self._aggregate(group_key, draft.message, now_ns)
        key: _GroupKey | _EventKey
        if aggregated:
            key = group_key
            message = self._written(COMBINED_PREFIX + draft.message)
        else:
            key = (obj, ref.field_path, draft.type, draft.reason, draft.message)
            message = self._written(draft.message)

        seen = self._seen.get(key)
        if seen is None:
            naming = combined_event_name if aggregated else event_name
            name = naming(ref.name, self._name_times.next(now_ns))
            seen = _Observation(name=name, first_ns=now_ns, count=1)
            self._seen.put(key, seen)
        else:
            seen.count += 1
        if not self._allow((obj, draft.type), now_ns):
            return Decision(Verdict.SPAM_FILTERED, seen.name, seen.count, None, aggregated)

        make_body = partial(
            core_event,
            draft,
            name=seen.name,
            message=message,
            count=seen.count,
            first_ns=seen.first_ns,
            last_ns=now_ns,
            annotations=None if aggregated else draft.annotations,
            combined=aggregated,
        )
        namespace = event_namespace(ref)
        if seen.count == 1:
            write = Write(EventAPI.CORE_V1, namespace, seen.name, make_body)
            return Decision(Verdict.CREATE, seen.name, 1, write, aggregated)
        patch = core_patch(count=seen.count, last_ns=now_ns, message=message)
        write = Write(EventAPI.CORE_V1, namespace, seen.name, make_body, patch)
        return Decision(Verdict.PATCH, seen.name, seen.count, write, aggregated)

    def _written(self, message: str) -> str:
        """The message as written: whole, or cut only where the options ask (the key never is)."""
        limit = self._max_message_bytes
        return message if limit is None else truncate_utf8(message, limit)

    def _aggregate(self, key: _GroupKey, message: str, now_ns: int) -> bool:
        group = self._groups.get(key)
        if group is None or now_ns - group.last_ns > self._group_window_ns:
            group = _Group()
            self._groups.put(key, group)
        group.last_ns = now_ns
        if message in group.messages:
            return False
        if len(group.messages) < self._group_limit:
            group.messages.add(message)
            return False
        return True

    def _allow(self, key: _SpamKey, now_ns: int) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _TokenBucket(self._capacity, now_ns)
            self._buckets.put(key, bucket)
        return bucket.take(now_ns, self._capacity, self._refill_ns)

    def learn(
        self, events: Iterable[Mapping[str, Any]], *, component: str, host: str | None
    ) -> int:
        """Seed deduplication with Events this component wrote before a restart.

        ``events`` are core/v1 Events as listed from the API. An Event is continued
        when a recorder with the same component and host records it again; with
        ``host=None`` the host stored in each Event is kept. For each key the most
        recently updated Event wins. Returns the number of Events learned.
        """
        found: dict[_GroupKey | _EventKey, tuple[int, _Observation]] = {}
        for event in events:
            learned = _learnable(event, component, host)
            if learned is None:
                continue
            key, last_ns, observation = learned
            previous = found.get(key)
            newer = previous is None or (last_ns, observation.count) > (
                previous[0],
                previous[1].count,
            )
            if newer:
                found[key] = (last_ns, observation)
        for key, (_, observation) in sorted(found.items(), key=lambda item: item[1][0]):
            self._seen.put(key, observation)
        return len(found)

    def periodic_jobs(self) -> tuple[PeriodicJob, ...]:
        """core/v1 correlation needs no timer."""
        return ()

    def flush_all(self, now_ns: int) -> list[Write]:
        """Nothing is held back in core/v1 mode: every accepted write is already queued."""
        return []


def _learnable(
    event: Mapping[str, Any], component: str, host: str | None
) -> tuple[_GroupKey | _EventKey, int, _Observation] | None:
    """The dedup key, last time and observation of a listed Event, if it is ours."""
    source = event.get("source") or {}
    metadata = event.get("metadata") or {}
    first, last = event.get("firstTimestamp"), event.get("lastTimestamp")
    if source.get("component") != component or not metadata.get("name") or not first:
        return None
    try:
        first_ns = parse_time(first)
        last_ns = parse_time(last) if last else first_ns
    except ValueError:
        return None
    ref = ObjectReference.from_dict(event.get("involvedObject") or {})
    instance = source.get("host", "") if host is None else host
    obj = _object_key(component, instance, ref)
    event_type, reason = event.get("type", ""), event.get("reason", "")
    message = event.get("message", "")
    key: _GroupKey | _EventKey
    if message.startswith(COMBINED_PREFIX):
        key = (obj, event_type, reason)
    else:
        key = (obj, ref.field_path, event_type, reason, message)
    count = int(event.get("count") or 1)
    return key, last_ns, _Observation(name=metadata["name"], first_ns=first_ns, count=count)
