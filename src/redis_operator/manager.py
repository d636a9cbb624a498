"""The operator's manager: API client, informers, event recorder, controller, leader
election, webhook and monitoring, started together and stopped in order on SIGTERM or SIGINT.

It owns the process-wide pieces and their lifecycle (controller-runtime's Manager); nothing
here makes a decision about Redis objects.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from kubernetes_asyncio import client

from event_recorder import EventBroadcaster
from redis_operator.controller.expectations import OwnWrites
from redis_operator.controller.handlers import WatchHandlers, informers
from redis_operator.controller.reconciler import Reconciler, SystemClock
from redis_operator.controller.replicator import Replicator
from redis_operator.controller.store import Key, Store
from redis_operator.controller.workqueue import Backoff, WorkQueue
from redis_operator.kube.client import JsonKubeApi, new_api_client
from redis_operator.kube.watch import JsonListWatch
from redis_operator.leaderelection.election import (
    LeaderElector,
    LeadershipLost,
)
from redis_operator.leaderelection.lease_lock import KubernetesLeaseLock
from redis_operator.messages import SOURCE_COMPONENT
from redis_operator.metrics import OperatorMetrics, process_registry
from redis_operator.monitoring import MonitoringServer
from redis_operator.replication.commands import RedisPyCommands
from redis_operator.settings import Settings

if TYPE_CHECKING:
    from redis_operator.webhook.keeper import CertificateKeeper
    from redis_operator.webhook.serving import Admit, WebhookServing

log = logging.getLogger(__name__)


# -- the stop sequence ---------------------------------------------------------------------


class Lease(Protocol):
    """The Lease as the stop sequence sees it (a
    :class:`~redis_operator.leaderelection.election.LeaderElector`)."""

    def time_left(self) -> float: ...

    async def release(self) -> bool: ...


class EventQueue(Protocol):
    """Events not yet sent, as the stop sequence sees them (an
    :class:`~event_recorder.EventBroadcaster`)."""

    async def shutdown(self, timeout: float | None = None) -> None: ...  # noqa: ASYNC109


class Server(Protocol):
    """A listener the stop sequence closes (the monitoring server)."""

    async def stop(self) -> None: ...


async def stop_in_order(
    passes: Sequence[asyncio.Task[None]],
    *,
    lease: Lease | None,
    events: EventQueue,
    drain_seconds: float,
    servers: Sequence[Server] = (),
    clock: Callable[[], float] = time.monotonic,
) -> BaseException | None:
    """The stop sequence; returns why the passes ended if not by this cancellation.

    1. The passes (and the informers) are cancelled and awaited: nothing writes any more.
    2. The Lease is released at once, unless it was lost: a standby takes over at its next
       retry, without waiting for anything slow below.
    3. Events still queued are sent for at most ``drain_seconds``; with a Lease, also no
       later than its renew deadline (until which it would surely have stayed ours), the
       release's own time counted. The rest are dropped. With nothing queued this takes no
       time.
    4. The servers stop.
    """
    for task in passes:
        task.cancel()
    await asyncio.gather(*passes, return_exceptions=True)
    failed = next(
        (t.exception() for t in passes if not t.cancelled() and t.exception() is not None), None
    )
    budget = drain_seconds if lease is None else min(drain_seconds, lease.time_left())
    deadline = clock() + budget
    if lease is not None and failed is None:
        await lease.release()
    await events.shutdown(timeout=max(0.0, deadline - clock()))
    for server in servers:
        await server.stop()
    return failed


async def run(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then :func:`stop_in_order`.

    With leader election, raises
    :class:`~redis_operator.leaderelection.election.LeadershipLost` when the lease is lost (the
    passes are cancelled at once, unsent Events dropped); a webhook listener that fails (its
    port taken, its certificate unreadable) stops the process with its error too.
    """
    api_client = await new_api_client(settings.kubeconfig)
    try:
        await Manager(settings, api_client).run()
    finally:
        await api_client.close()


class Manager:
    """Builds the pieces from the settings, then runs them until told to stop.

    Without leader election the workers start once the store is filled; with it, every
    replica fills its store (a standby is warm and ready) and only the lease holder runs
    passes and records Events.
    """

    def __init__(self, settings: Settings, api_client: client.ApiClient) -> None:
        self.settings = settings
        self.api_client = api_client
        # One registry for the operator's and the recorder's metrics: one scrape shows both.
        self.metrics_registry = process_registry()
        self.broadcaster = EventBroadcaster(
            api_client, options=settings.events, registry=self.metrics_registry
        )
        self.host = socket.gethostname()
        controller = settings.controller
        self.kube = JsonKubeApi(api_client)
        store = Store()
        self.queue: WorkQueue[Key] = WorkQueue(
            Backoff(controller.backoff_base_seconds, controller.backoff_max_seconds)
        )
        own_writes = OwnWrites(controller.expectations_timeout_seconds)
        metrics = OperatorMetrics(self.metrics_registry)
        metrics.track_queue_depth(lambda: len(self.queue))
        self.handlers = WatchHandlers(store, self.queue, own_writes)
        watch = settings.watch
        source = JsonListWatch(
            api_client,
            server_timeout=watch.server_timeout_seconds,
            client_timeout=watch.client_timeout_seconds,
        )
        self.informers = informers(source, self.handlers, settings.namespaces, watch.error_backoffs)
        self.reconciler = Reconciler(
            self.kube,
            self.broadcaster.new_recorder(component=SOURCE_COMPONENT, host=self.host),
            store,
            self.queue,
            own_writes,
            settings=controller,
            metrics=metrics,
            clock=SystemClock(),
            replicator=Replicator(
                self.kube,
                RedisPyCommands(settings.replication.command_timeout_seconds),
                settings.replication,
            ),
        )
        self.keeper: CertificateKeeper | None = None
        self.webhook: WebhookServing | None = None
        if settings.webhook is not None:
            # The webhook's modules (and cryptography) are imported only when it is on.
            from redis_operator.webhook.keeper import CertificateKeeper
            from redis_operator.webhook.serving import WebhookServing

            if settings.webhook.certificate is not None:
                self.keeper = CertificateKeeper(self.kube, settings.webhook.certificate)
            self.webhook = WebhookServing(settings.webhook, self.keeper)
        self.elector: LeaderElector | None = None
        if settings.leader_election is not None:
            election = settings.leader_election
            # The identity in the User-Agent: the audit log tells the replicas' requests apart.
            api_client.user_agent = f"redis-operator/{election.identity}"
            lock = KubernetesLeaseLock(api_client, election.namespace, election.name)
            self.elector = LeaderElector(lock, election)
        self.monitoring: MonitoringServer | None = None
        if settings.metrics_address is not None:
            self.monitoring = MonitoringServer(settings.metrics_address, self.metrics_registry)
            # Dead workers reconcile nothing while the process stays up: let kubelet restart it.
            self.monitoring.add_liveness_check("workers", lambda: not self._workers.done())
            # Ready once the store holds a full listing; never dependent on leadership.
            self.monitoring.add_readiness_check("synced", self._synced)
        # Set by SIGTERM/SIGINT, when the lease is lost, and when the webhook listener fails.
        self._stop = asyncio.Event()
        self._failed: BaseException | None = None  # why the process stops, if not told to
        self._webhook_failed: Exception | None = None
        self._informing: list[asyncio.Task[None]] = []
        self._workers: asyncio.Task[None]

    def _admit(self) -> Admit:
        """The webhook's judge of one AdmissionReview: the policy, and the reads behind its
        warnings over the operator's client."""
        from redis_operator.webhook.handler import admit
        from redis_operator.webhook.lookup import ApiChildLookup

        assert self.settings.webhook is not None
        webhook = self.settings.webhook
        lookup = ApiChildLookup(self.api_client, webhook.lookup_timeout_seconds)
        return functools.partial(
            admit,
            policy=webhook.policy,
            lookup=lookup,
            lookup_timeout=webhook.lookup_timeout_seconds,
        )

    async def _serve_webhook(self) -> None:
        """Serve until cancelled; a failure stops the process (its error kept for the exit)."""
        assert self.webhook is not None
        try:
            await self.webhook.run(self._admit())
        except Exception as exc:
            log.error("the admission webhook failed: %s", exc)
            self._webhook_failed = exc
            self._stop.set()

    async def run(self) -> None:
        await self.broadcaster.start()
        self._informing = [
            asyncio.create_task(informer.run(), name=f"informer-{informer.scope}")
            for informer in self.informers
        ]
        if self.keeper is not None:
            # Every replica, leader or not: each serves the webhook.
            self._informing.append(
                asyncio.create_task(self.keeper.run(), name="webhook-certificate")
            )
        if self.elector is None:
            self._workers = asyncio.create_task(self._work(), name="redis-workers")
        else:
            self._workers = asyncio.create_task(self._elected(), name="redis-workers")
        # The webhook serves until the very end: during a rolling update the apiserver may
        # still send this replica requests until its endpoint is gone.
        serving = (
            asyncio.create_task(self._serve_webhook(), name="webhook")
            if self.webhook is not None
            else None
        )
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        try:
            for signum in signals:
                loop.add_signal_handler(signum, self._stop.set)
            if self.monitoring is not None:
                await self.monitoring.start()
            await self._stop.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            await self._shut_down()
            if serving is not None:
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
            if self.webhook is not None:
                self.webhook.close()
            if self.keeper is not None:
                self.keeper.close()
        if self._failed is not None:
            # LeadershipLost, or the webhook's error: the caller exits non-zero, a restart
            # starts clean.
            raise self._failed

    async def _learn_events(self) -> int:
        """Continue the counts of Events written before a restart (or by the previous leader)
        instead of starting new ones; how many Events were learned."""
        scopes: list[str | None] = [*self.settings.namespaces] or [None]
        learned = 0
        for namespace in scopes:
            learned += await self.broadcaster.learn_existing(
                SOURCE_COMPONENT, host=self.host, namespace=namespace
            )
        return learned

    def _synced(self) -> bool:
        """Whether every informer has its first listing in the store (readiness)."""
        return all(informer.synced.is_set() for informer in self.informers)

    async def _work(self) -> None:
        """Run passes once the store is full. The earlier Events (with a lease, after acquiring
        it: the previous leader's last ones too) are learned from then on, beside the passes:
        the broadcaster holds what the passes record until it knows them, so listing thousands
        of Events delays neither the store's listings nor the first pass."""
        await asyncio.gather(*(informer.synced.wait() for informer in self.informers))
        learning = asyncio.create_task(self._learn_events(), name="learn-events")
        try:
            await self.reconciler.run_workers()
        finally:
            learning.cancel()

    async def _elected(self) -> None:
        assert self.elector is not None
        try:
            await self.elector.run(self._work)
        except LeadershipLost:
            # The passes are cancelled; not one more write: queued Events are dropped.
            await self.broadcaster.shutdown(timeout=0)
            raise
        finally:
            self._stop.set()

    async def _shut_down(self) -> None:
        """Stop our pieces in order (:func:`stop_in_order`)."""
        self.queue.shutdown()
        failed = await stop_in_order(
            [self._workers, *self._informing],
            lease=self.elector,
            events=self.broadcaster,
            drain_seconds=self.settings.events.shutdown_timeout,
            servers=[self.monitoring] if self.monitoring is not None else [],
        )
        # Without a lease a failed worker task is the liveness probe's to report, not an exit.
        self._failed = self._webhook_failed or (failed if self.elector is not None else None)
