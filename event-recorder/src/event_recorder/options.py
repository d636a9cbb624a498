"""Every tunable of the recorder, with client-go's defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields

from event_recorder.writes import EventAPI


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderOptions:
    """Options of an :class:`~event_recorder.EventBroadcaster`.

    The defaults are client-go's (``tools/record``, ``tools/events``,
    ``apimachinery/pkg/watch``); the ones marked "ours" have no client-go equivalent.
    Durations are in seconds.
    """

    api: EventAPI = EventAPI.CORE_V1
    """core/v1 Events (``tools/record``) or events.k8s.io/v1 series (``tools/events``)."""

    lru_cache_size: int = 4096
    """Entries kept by each correlation stage (aggregation, deduplication, spam filter)."""

    aggregate_max_events: int = 10
    """The n-th distinct message of a group within the window is combined."""

    aggregate_interval: float = 600.0
    """A group of similar events is forgotten after this long without one."""

    spam_burst: int = 25
    """Token bucket size per source + object + type."""

    spam_refill_interval: float = 300.0
    """One token comes back every this many seconds (client-go's qps of 1/300)."""

    queue_size: int = 1000
    """Writes waiting or in flight; a write beyond this is dropped and counted."""

    max_tries: int = 12
    """Attempts per write when the API server cannot be reached."""

    retry_interval: float = 10.0
    """Sleep between attempts; the first sleep is random in [0, retry_interval)."""

    max_message_bytes: int | None = None
    """core/v1: cut written messages to this many bytes of UTF-8, "..." included (ours).

    None (the default) writes them whole, as client-go does: the API takes a core/v1 message
    of any length. Correlation always sees the whole message, so two messages that differ
    only past the cut stay two Events. events.k8s.io/v1 notes are always cut to 1024 bytes,
    the API's limit there.
    """

    write_concurrency: int = 4
    """API calls in flight at once across different Events (ours; client-go uses 1)."""

    request_timeout: float = 30.0
    """One API call taking longer counts as a transport error and is retried (ours)."""

    shutdown_timeout: float = 5.0
    """Default deadline for draining the queue in ``shutdown()`` (ours)."""

    series_finish_interval: float = 360.0
    """events.k8s.io/v1: a series idle this long is written a last time and forgotten."""

    series_refresh_interval: float = 1800.0
    """events.k8s.io/v1: every live series is rewritten this often, so it does not expire."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{field.name} must be positive, got {value!r}")
