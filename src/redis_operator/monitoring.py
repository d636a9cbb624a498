"""The operator's monitoring endpoint: Prometheus metrics and health probes, over HTTP.

One aiohttp server, on ``redis-operator run --metrics-address`` (default ``:8080``, all
interfaces, as a Pod needs; ``0`` turns it off), serves:

- ``/metrics``: the registry in the Prometheus text format, or OpenMetrics when the scraper's
  ``Accept`` header asks for it;
- ``/healthz``: liveness. It answers at all only while the event loop runs; the manager adds
  checks for what a restart would cure (the reconcile workers having died);
- ``/readyz``: readiness. The manager adds a check that the controller has completed its first
  full listing (``sync``). Being leader is deliberately not a check: a standby is ready.

The probes follow the Kubernetes ``/healthz`` conventions: ``200 ok`` when every check passes,
else ``500`` naming the failed checks; ``?verbose`` lists each check as ``[+]name ok`` or
``[-]name failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

DISABLED = "0"

Check = Callable[[], bool]


def parse_address(address: str) -> tuple[str | None, int]:
    """``host:port`` (``[v6]:port``; an empty host means all interfaces) into host and port."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"not host:port: {address!r}")
    host = host.removeprefix("[").removesuffix("]")
    return (host or None), int(port_text)


def listen_address(text: str) -> str | None:
    """``--metrics-address``: a validated ``host:port``, or None for ``0`` / empty (off)."""
    if text in (DISABLED, ""):
        return None
    parse_address(text)
    return text


def _run_checks(checks: dict[str, Check]) -> dict[str, bool]:
    results = {}
    for name, check in checks.items():
        try:
            results[name] = bool(check())
        except Exception:  # a broken check fails the probe, it does not break the server
            log.exception("health check %s raised", name)
            results[name] = False
    return results


class MonitoringServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` on one address until stopped."""

    def __init__(self, address: str, registry: CollectorRegistry) -> None:
        self.host, self.port = parse_address(address)
        self.registry = registry
        self.liveness: dict[str, Check] = {"ping": lambda: True}
        self.readiness: dict[str, Check] = {"ping": lambda: True}
        self._runner: web.AppRunner | None = None

    def add_liveness_check(self, name: str, check: Check) -> None:
        """``check`` must hold for ``/healthz`` to answer 200; it runs on every probe."""
        self.liveness[name] = check

    def add_readiness_check(self, name: str, check: Check) -> None:
        """``check`` must hold for ``/readyz`` to answer 200; it runs on every probe."""
        self.readiness[name] = check

    @property
    def url(self) -> str:
        """Base URL of the server (the port actually bound, once started)."""
        host = self.host or "0.0.0.0"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        # No access log: probes and scrapes come every few seconds.
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"cannot serve metrics on {self.url}: {exc.strerror}") from exc
        self._runner = runner
        if self.port == 0:  # an ephemeral port: tell which one
            self.port = int(runner.addresses[0][1])
        log.info("serving /metrics, /healthz and /readyz on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.registry), headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        return self._probe(request, self.liveness)

    async def _readyz(self, request: web.Request) -> web.Response:
        return self._probe(request, self.readiness)

    @staticmethod
    def _probe(request: web.Request, checks: dict[str, Check]) -> web.Response:
        results = _run_checks(checks)
        healthy = all(results.values())
        if "verbose" in request.query or not healthy:
            lines = [
                f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}"
                for name, ok in results.items()
            ]
            lines.append(f"{request.path[1:]} {'passed' if healthy else 'failed'}")
            text = "\n".join(lines) + "\n"
        else:
            text = "ok"
        return web.Response(status=200 if healthy else 500, text=text)
