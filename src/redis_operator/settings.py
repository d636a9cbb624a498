"""The operator's tunables, each with its default and why (kopf's ``OperatorSettings`` shape).

Frozen dataclasses: the command line (``cli.py``, which owns every flag) builds a
:class:`Settings`, the manager hands each piece its part, and tests shorten any timing by
building their own. Two parts keep their own options types, as libraries do, and are held
here: the Event recorder's ``RecorderOptions`` (client-go's defaults, see
``event_recorder/options.py``) and leader election's ``LeaderElectionConfig`` (client-go's
timings, see ``leaderelection/election.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from event_recorder import RecorderOptions
from redis_operator.leaderelection.election import LeaderElectionConfig
from redis_operator.messages import Language
from redis_operator.webhook.policy import AdmissionPolicy

DEFAULT_METRICS_ADDRESS = ":8080"
"""All interfaces, port 8080: what a Pod's probes and a Prometheus scraper reach."""


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


@dataclass(frozen=True)
class ReplicationSettings:
    """How Redis in replication mode is watched over and failed over (docs/replication.md)."""

    failover_after_seconds: float = 10.0
    """Promote a replica once the primary has not answered for this long (default 10 s); a
    primary pod that is gone or being deleted is failed over at once."""

    check_seconds: float = 5.0
    """Look at every Redis in replication mode this often (default 5 s): a Redis' own
    replication changes give no watch event."""

    command_timeout_seconds: float = 2.0
    """Connect and reply timeout of each Redis command the operator sends (default 2 s)."""


EVENT_OPTIONS = RecorderOptions(write_concurrency=1, queue_size=5000, shutdown_timeout=10.0)
"""The recorder's options: client-go's, but one Event write in flight (client-go's own choice)
so that while many Redis converge Event writes trail the pod and Service writes instead of
competing with them; a queue sized for such a burst (about 5 Events per new Redis) so that none
is dropped; and on a stop, Events still queued are sent for at most 10 s (with leader election,
after the Lease is released, at most for what was left before its renew deadline); see
docs/operations.md#stopping. See docs/benchmarks.md for the measurements behind the first two."""


@dataclass(frozen=True)
class WatchSettings:
    """How the operator's informers (``controller/informer.py``) ride out quiet streams and an
    absent apiserver."""

    server_timeout_seconds: int = 300
    """The apiserver ends each watch after this long and it is reopened from its last
    resourceVersion (default 300 s; whole seconds: the apiserver refuses a fraction)."""

    client_timeout_seconds: float = 330.0
    """A watch silent for this long is dropped and reopened (default 330 s: longer than the
    server's timeout, so it only fires on a connection that died without closing)."""

    error_backoffs: tuple[float, ...] = (1, 1, 2, 3, 5, 8, 13, 21, 30)
    """Delays (seconds) between attempts to list or reopen a watch after a failure, the last
    repeating for as long as the API stays away: an informer never gives up (default 1, 1, 2,
    3, 5, 8, 13, 21, then 30 s)."""


@dataclass(frozen=True)
class WebhookCertificateSettings:
    """The webhook's serving certificate managed by the operator: a CA and a certificate in a
    Secret of its own, the configuration's caBundle kept current (docs/operations.md)."""

    secret: str
    """Name of the Secret, type ``kubernetes.io/tls`` with ``ca.crt`` and ``ca.key`` beside
    (no default: the managed mode is off unless a name is given)."""

    namespace: str
    """Namespace of the Secret and of the webhook's Service (no default here; the command line
    takes ``$POD_NAMESPACE``, else the pod's ServiceAccount namespace, else
    ``redis-operator-system``)."""

    service: str
    """The webhook's Service: the certificate is for ``<service>.<namespace>.svc`` and
    ``<service>.<namespace>.svc.cluster.local`` (no default)."""

    configuration: str | None = None
    """The ValidatingWebhookConfiguration whose webhooks' caBundle is kept the Secret's CA
    bundle (default none: the caBundle is someone else's to set)."""

    ca_validity: dt.timedelta = dt.timedelta(days=365)
    """Validity of a new CA (default 365 days)."""

    serving_validity: dt.timedelta = dt.timedelta(days=90)
    """Validity of a new serving certificate (default 90 days; never beyond its CA's)."""

    renew_fraction: float = 1 / 3
    """Renew a certificate or CA once less than this fraction of its validity remains
    (default 1/3, as cert-manager renews)."""

    check_seconds: float = 60.0
    """Read the Secret and the configuration again this often, and the listener its PEM file
    (default 60 s, as for certificate files): a rotation by another replica is served within
    that."""


@dataclass(frozen=True)
class WebhookSettings:
    """The validating admission webhook: where it listens, its certificate and its policy."""

    port: int
    """HTTPS port (no default: the webhook is off unless a port is given)."""

    address: str = "0.0.0.0"
    """Listen address (default all IPv4 interfaces, as a Pod needs)."""

    cert_file: Path | None = None
    """Serving certificate, e.g. a cert-manager Secret's ``tls.crt``, re-read when it changes
    (default none: a self-signed certificate for the loopback names, for local development)."""

    key_file: Path | None = None
    """Private key of ``cert_file`` (default none; given together with it)."""

    certificate: WebhookCertificateSettings | None = None
    """Manage the serving certificate in a Secret (default none: ``cert_file`` or
    self-signed)."""

    config_out: Path | None = None
    """Once serving, write a ValidatingWebhookConfiguration for this local process here
    (default none)."""

    policy: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    """What is refused (default: nothing beyond the CRD's own rules)."""

    lookup_timeout_seconds: float = 2.0
    """Budget of the read behind the child-name warnings (default 2 s), well inside the
    apiserver's 5 s wait for a verdict, so the image verdict always gets back in time."""


@dataclass(frozen=True)
class Settings:
    """Everything ``redis-operator run`` is configured with."""

    kubeconfig: str | None = None
    """Credentials of the operator's own calls and its watches (default: in a cluster the Pod's
    ServiceAccount, else ``$KUBECONFIG`` or ``~/.kube/config``)."""

    namespaces: Sequence[str] = ()
    """Namespaces to watch (default: all)."""

    controller: ControllerSettings = field(default_factory=ControllerSettings)
    """The reconciler's parallelism, language and retry pace (defaults in
    :class:`ControllerSettings`)."""

    events: RecorderOptions = EVENT_OPTIONS
    """The Event recorder's options (default :data:`EVENT_OPTIONS`)."""

    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    """Failover threshold, check period and Redis command timeout (defaults:
    :class:`ReplicationSettings`)."""

    watch: WatchSettings = field(default_factory=WatchSettings)
    """The watches' timeouts and reconnection backoff (defaults: :class:`WatchSettings`)."""

    metrics_address: str | None = DEFAULT_METRICS_ADDRESS
    """``host:port`` of /metrics, /healthz and /readyz (an empty host: all interfaces; None:
    off; default ``:8080``)."""

    leader_election: LeaderElectionConfig | None = None
    """With a Lease to hold, only its holder runs passes and records Events (default: none,
    always run)."""

    webhook: WebhookSettings | None = None
    """Serve the validating admission webhook, on every replica, leader or not (default off)."""
