"""The kopf integration: one call at import time runs a broadcaster for the operator's lifetime.

``setup()`` registers a startup handler, which starts an :class:`EventBroadcaster` and puts its
recorder in kopf's ``memo``, and a cleanup handler, which drains it. Handlers then record with
``memo.recorder.eventf(body, ...)``. kopf is an optional dependency (the ``kopf`` extra).
"""

from __future__ import annotations

import inspect
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import kopf

from event_recorder.broadcaster import EventBroadcaster
from event_recorder.options import RecorderOptions
from event_recorder.sink import Sink

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient
    from prometheus_client import CollectorRegistry

ClientFactory = Callable[[], Awaitable["ApiClient | Sink"]]
"""Makes what the broadcaster writes through; called once, in the startup handler."""

HANDLER_ID = "event_recorder"
"""The id prefix of the handlers ``setup()`` registers (``event_recorder/start``, ``/stop``)."""


async def default_client() -> ApiClient:
    """A ``kubernetes_asyncio`` client: the in-cluster service account, else the kubeconfig.

    The places kopf's own login looks, in its order, so both talk to the same cluster as the
    same user; the kubeconfig is ``$KUBECONFIG`` or ``~/.kube/config``.
    """
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        # Read now: kubernetes_asyncio reads $KUBECONFIG once, when first imported.
        await config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    return client.ApiClient(configuration)


def setup(
    component: str,
    *,
    host: str | None = None,
    registry: kopf.OperatorRegistry | None = None,
    client: ClientFactory = default_client,
    options: RecorderOptions | None = None,
    metrics_registry: CollectorRegistry | None = None,
    memo_key: str = "recorder",
    learn_existing: bool = True,
    shutdown_timeout: float | None = None,
) -> None:
    """Register the startup and cleanup handlers that run the recorder (call it once).

    ``component`` is the Events' From column; ``host`` their ``source.host`` (default: this
    machine's hostname, the pod's name in a cluster). At startup the broadcaster starts on
    ``client()``, learns the Events ``component`` already wrote (``learn_existing``: needs
    ``list`` on events; best effort) and ``memo[memo_key]`` becomes its recorder, so every
    handler finds it as ``memo.recorder``. At cleanup it drains within ``shutdown_timeout``
    seconds (default: the options') and closes the client. ``registry`` is kopf's (the
    default registry when None); ``metrics_registry`` is Prometheus'.
    """
    source_host = socket.gethostname() if host is None else host
    running: list[tuple[EventBroadcaster, ApiClient | Sink]] = []

    @kopf.on.startup(id=f"{HANDLER_ID}/start", registry=registry)
    async def start_recorder(memo: kopf.Memo, **_: Any) -> None:
        api = await client()
        broadcaster = EventBroadcaster(api, options, metrics_registry)
        running.append((broadcaster, api))
        await broadcaster.start()
        if learn_existing:
            await broadcaster.learn_existing(component, host=source_host)
        memo[memo_key] = broadcaster.new_recorder(component, source_host)

    @kopf.on.cleanup(id=f"{HANDLER_ID}/stop", registry=registry)
    async def stop_recorder(**_: Any) -> None:
        while running:
            broadcaster, api = running.pop()
            await broadcaster.shutdown(shutdown_timeout)
            close = getattr(api, "close", None)
            if close is not None and inspect.iscoroutinefunction(close):
                await close()
