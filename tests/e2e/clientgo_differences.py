"""Where event_recorder differs from client-go on purpose: the one list the conformance suite
asserts and docs/event-recorder.md's "Differences from client-go" table mirrors (a unit test
checks that both name the same keys).

Everything not listed here must be equal between the two, Event for Event and write for write.
"""

from __future__ import annotations

DELIBERATE_DIFFERENCES: dict[str, str] = {
    "combined-timestamps": (
        "the combined Event is stamped with the time of the call; client-go stamps it when "
        "its goroutine gets to it (seconds later when writes are retrying)"
    ),
    "combined-cached-once": (
        "a combined Event takes one entry of the 4,096-key dedup cache; client-go files each "
        "one it writes a second time, under its full message (it updates the cache from the "
        "Event the server returns), so its cache forgets older Events one combined write sooner"
    ),
    "deterministic-aggregation": (
        "a full group keeps its first nine messages, so a repeat of one of them stays its own "
        "Event; client-go forgets an arbitrary one and may count the repeat as combined"
    ),
    "queue-after-correlation": (
        "the queue bounds writes after correlation: a Warning after 5,000 identical Events is "
        "written; client-go's 1,000-slot queue of unfiltered events drops it"
    ),
    "graceful-shutdown": (
        "shutdown() writes what is queued within its deadline; client-go's Shutdown() "
        "abandons the queue"
    ),
    "retry-bare-429": (
        "a 429 is retried on the transport schedule, with or without Retry-After; client-go's "
        "REST client retries only a 429 that carries Retry-After (the apiserver's flow control "
        "sends one), and its recorder gives up on a bare one (an admission webhook's)"
    ),
    "refuse-unreferenceable": (
        "an object without a name or kind is refused (logged, counted); client-go writes an "
        "Event about it that no describe finds"
    ),
    "events-v1-note-cut": (
        "events.k8s.io: a note over 1 KiB is cut to 1,024 bytes ending in `...`; client-go "
        "sends it whole and the API refuses it (422), so no Event"
    ),
    "events-v1-series-ignores-resource-version": (
        "events.k8s.io: the series key leaves out the objects' resourceVersion, so an object "
        "updated between two events still forms a series; client-go writes two Events"
    ),
    "events-v1-series-at-shutdown": (
        "events.k8s.io: shutdown() writes the series counts held in memory; client-go leaves "
        "them unwritten (until its 6-minute finish, which shutdown stops)"
    ),
}
