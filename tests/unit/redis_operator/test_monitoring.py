"""The monitoring server: /metrics in the Prometheus formats, /healthz and /readyz checks."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from redis_operator.api import ChildKind
from redis_operator.metrics import OperatorMetrics
from redis_operator.monitoring import MonitoringServer, listen_address, parse_address


def test_parse_address() -> None:
    assert parse_address(":8080") == (None, 8080)
    assert parse_address("0.0.0.0:9090") == ("0.0.0.0", 9090)
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    for bad in ("8080", "127.0.0.1", "host:port", ":70000", ""):
        with pytest.raises(ValueError):
            parse_address(bad)


def test_listen_address_turns_off_with_zero() -> None:
    assert listen_address("0") is None
    assert listen_address("") is None
    assert listen_address(":8080") == ":8080"
    with pytest.raises(ValueError):
        listen_address("8080")


async def get(url: str, accept: str = "") -> tuple[int, str, str]:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_serves_metrics_and_probes() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    metrics.child_created(ChildKind.POD)
    server = MonitoringServer("127.0.0.1:0", registry)
    synced = False
    server.add_readiness_check("synced", lambda: synced)
    await server.start()
    try:
        assert server.port != 0
        base = f"http://127.0.0.1:{server.port}"
        assert server.url == base

        status, content_type, text = await get(f"{base}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=")
        assert "redis_operator_pods_created_total 1.0" in text
        assert "# TYPE redis_operator_reconcile_duration_seconds histogram" in text

        openmetrics = "application/openmetrics-text; version=1.0.0"
        status, content_type, text = await get(f"{base}/metrics", accept=openmetrics)
        assert content_type.startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n")

        assert (await get(f"{base}/healthz"))[::2] == (200, "ok")
        status, _, text = await get(f"{base}/readyz")
        assert status == 500
        assert "[-]synced failed" in text

        synced = True
        assert (await get(f"{base}/readyz"))[::2] == (200, "ok")
        status, _, text = await get(f"{base}/readyz?verbose")
        assert status == 200
        assert text == "[+]ping ok\n[+]synced ok\nreadyz passed\n"
    finally:
        await server.stop()


async def test_a_raising_check_fails_the_probe() -> None:
    server = MonitoringServer("127.0.0.1:0", CollectorRegistry())

    def broken() -> bool:
        raise RuntimeError("boom")

    server.add_liveness_check("broken", broken)
    await server.start()
    try:
        status, _, text = await get(f"{server.url}/healthz")
        assert status == 500
        assert "[-]broken failed" in text
    finally:
        await server.stop()


async def test_address_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MonitoringServer(f"127.0.0.1:{port}", CollectorRegistry())
        with pytest.raises(OSError, match=f"cannot serve metrics on http://127.0.0.1:{port}"):
            await server.start()
