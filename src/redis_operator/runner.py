"""Runs the operator: API client, event recorder, controller and kopf, started and stopped together.

This is the operator's "manager": it owns the process-wide pieces and their lifecycle, and
nothing here makes a decision about Redis objects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from event_recorder import EventBroadcaster
from redis_operator.controller import ControllerSettings, RedisController, register
from redis_operator.messages import SOURCE_COMPONENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """Everything ``redis-operator run`` takes from its command line."""

    kubeconfig: str | None = None
    namespaces: Sequence[str] = ()
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    liveness_endpoint: str | None = None
    shutdown_timeout: float = 10.0


async def _api_client(kubeconfig: str | None) -> client.ApiClient:
    configuration = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


def _kopf_settings(settings: kopf.OperatorSettings) -> None:
    # kopf's own Events ("Handler succeeded") would duplicate ours and write on every pass.
    settings.posting.enabled = False
    # Resources are known up front: no CRD watching, so no RBAC on CRDs is needed.
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


async def run(options: RunOptions) -> None:
    """Run until cancelled (SIGINT/SIGTERM stop kopf, then the workers and the recorder)."""
    # kopf logs every handler call at INFO; ours are plain watch-event feeders.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if options.kubeconfig:
        # kopf logs in on its own; point it at the same kubeconfig as ours.
        os.environ["KUBECONFIG"] = options.kubeconfig
    api_client = await _api_client(options.kubeconfig)
    broadcaster = EventBroadcaster(api_client)
    await broadcaster.start()
    host = socket.gethostname()
    # Continue the counts of Events written before a restart instead of starting new ones.
    scopes: list[str | None] = [*options.namespaces] or [None]
    for namespace in scopes:
        await broadcaster.learn_existing(SOURCE_COMPONENT, host=host, namespace=namespace)
    recorder = broadcaster.new_recorder(component=SOURCE_COMPONENT, host=host)
    controller = RedisController(api_client, recorder, options.controller)

    registry = kopf.OperatorRegistry()
    register(registry, controller)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: object) -> None:
        _kopf_settings(settings)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not options.kubeconfig:
            return kopf.login_with_service_account(**kwargs)
        return kopf.login_with_kubeconfig(**kwargs)

    async def sync_then_work() -> None:
        delay = 1.0
        while True:
            try:
                await controller.sync(options.namespaces)
                break
            except Exception as exc:  # the API may be down at startup: keep trying
                log.warning("initial listing failed (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        await controller.run_workers()

    workers = asyncio.create_task(sync_then_work(), name="redis-workers")
    try:
        await kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=options.liveness_endpoint,
        )
    finally:
        controller.queue.shutdown()
        workers.cancel()
        await asyncio.gather(workers, return_exceptions=True)
        await broadcaster.shutdown(timeout=options.shutdown_timeout)
        await api_client.close()
