"""The operator's tunables, each with its default and why (kopf's ``OperatorSettings`` shape).

Frozen dataclasses: the command line builds them, the manager hands them to the pieces, and
tests shorten any timing by building their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis_operator.messages import Language


@dataclass(frozen=True)
class ControllerSettings:
    """How the controller runs: Event language, parallelism, bounds on its API writes, and the
    pace of its retries."""

    language: Language = Language.EN
    """Language of Event reasons and messages (default ``en``; ``zh``: the tutorial's own)."""

    workers: int = 16
    """Reconcile passes at once, one per Redis at a time (default 16)."""

    max_concurrent_writes: int = 16
    """Pod and Service writes in flight at once, across all passes (default 16)."""

    expectations_recheck_seconds: float = 30.0
    """While a pass waits for the watch to show the previous pass's writes, look again this
    often in case the event never comes (default 30 s); the event itself queues a pass at once."""

    expectations_timeout_seconds: float = 300.0
    """Stop waiting for such an event after this long (default 300 s, client-go's
    ExpectationsTimeout): a lost watch event must not stall a Redis forever."""

    requeue_soon_seconds: float = 1.0
    """Look again this soon after a child write found the store behind the cluster: a create
    answered 409 (the name exists), a delete answered 404 or 409 (gone, or another object now)
    (default 1 s)."""

    requeue_wait_seconds: float = 5.0
    """Look again this soon while a pass waits for a pod or the Service to go away or for a
    replacement to become Ready, in case no watch event comes (default 5 s)."""

    requeue_conflict_seconds: float = 60.0
    """Look again this soon while a child's name is taken by an object whose events the
    controller may not see (default 60 s): once it goes, the child is created."""

    backoff_base_seconds: float = 0.5
    """First delay before retrying a pass that failed retryably (409, 429, 5xx, no answer); it
    doubles with each failure in a row (default 0.5 s)."""

    backoff_max_seconds: float = 120.0
    """Longest such delay (default 120 s)."""

    terminal_error_requeue_seconds: float = 60.0
    """Retry a pass that failed terminally (400, 403, 404, 422...: the same call gets the same
    answer until someone fixes the RBAC, a quota or the object) only after this long, not at
    the backoff's pace (default 60 s); a watch event of the Redis or its children still queues
    a pass at once."""
