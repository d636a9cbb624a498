"""What the correlators decide: which API write (if any) one recorded event turns into."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple


class EventAPI(StrEnum):
    """The API an Event is written through; the value is its apiVersion."""

    CORE_V1 = "v1"
    EVENTS_V1 = "events.k8s.io/v1"


class Verb(StrEnum):
    """The two API verbs the recorder uses."""

    CREATE = "create"
    PATCH = "patch"


WriteKey = tuple[EventAPI, str, str]


class Write(NamedTuple):
    """One API write for one Event.

    :attr:`body` is the whole Event; it is POSTed for a create, and also when a PATCH
    answers 404 (the Event expired or was deleted), so the Event is recreated under
    the same name with the same count, as client-go does. It is built on demand, by
    the writer rather than the caller: most writes are PATCHes that never need it.
    """

    api: EventAPI
    namespace: str
    name: str
    make_body: Callable[[], dict[str, Any]]
    patch: dict[str, Any] | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The whole Event (a new dict on each access)."""
        return self.make_body()

    @property
    def verb(self) -> Verb:
        """PATCH when a strategic-merge patch is carried, else CREATE."""
        return Verb.CREATE if self.patch is None else Verb.PATCH

    @property
    def key(self) -> WriteKey:
        """Writes sharing a key target the same Event and must stay in order."""
        return (self.api, self.namespace, self.name)


class Verdict(StrEnum):
    """What happens to one recorded event after correlation."""

    CREATE = "create"
    PATCH = "patch"
    SPAM_FILTERED = "spam_filtered"
    COUNTED = "counted"  # events.k8s.io/v1: counted in memory, flushed later


class Decision(NamedTuple):
    """The outcome of correlating one event.

    ``name`` and ``occurrences`` say which Event the call counts towards and its
    count after it, whether or not anything is sent; ``write`` is set only when the API
    server must be written now (the body is not even built otherwise).
    """

    verdict: Verdict
    name: str
    occurrences: int
    write: Write | None = None
    aggregated: bool = False
