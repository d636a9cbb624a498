"""The operator's API client: a kubeconfig's client, and its session, which skips aiohttp's
per-request environment lookups only when there is nothing in the environment to find."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from redis_operator.kube.client import JsonKubeApi, call, in_cluster, new_api_client
from tests.unit.redis_operator.support import KUBECONFIG


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc


def write_kubeconfig(tmp_path: Path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(server=server))
    return str(path)


@pytest.fixture
def kubeconfig(tmp_path: Path, clean_environment: None) -> str:
    return write_kubeconfig(tmp_path, "https://127.0.0.1:1")


@pytest.fixture
async def apiserver() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A loopback HTTP server that answers every GET with an empty list, and its requests."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"kind": "PodList", "items": []})

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_nothing_to_trust_in_the_environment(kubeconfig: str) -> None:
    api = await new_api_client(kubeconfig)
    session = api.rest_client.pool_manager
    assert session.trust_env is False
    # kubernetes_asyncio's connector (its TLS context, its pool limit), not aiohttp's default.
    assert session.connector is not None
    assert session.connector.limit == api.configuration.connection_pool_maxsize
    await api.close()
    assert session.closed


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "NETRC"])
async def test_a_proxy_or_netrc_keeps_the_environment_trusted(
    kubeconfig: str, variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if variable == "NETRC":
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login u password p\n")
        monkeypatch.setenv("NETRC", str(netrc))
    else:
        monkeypatch.setenv(variable, "http://127.0.0.1:3128")
    api = await new_api_client(kubeconfig)
    assert api.rest_client.pool_manager.trust_env is True
    await api.close()


async def test_the_new_session_calls_the_server_and_leaves_no_session_unclosed(
    tmp_path: Path, clean_environment: None, apiserver: tuple[str, list[web.Request]]
) -> None:
    server, seen = apiserver
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api = await new_api_client(write_kubeconfig(tmp_path, server))
        answer = await call(api, "GET", "/api/v1/namespaces/ns/pods")
        await api.close()
        del api
        gc.collect()
    assert answer == {"kind": "PodList", "items": []}
    assert [(r.path, r.headers["Authorization"]) for r in seen] == [
        ("/api/v1/namespaces/ns/pods", "Bearer t")
    ]
    assert not [w for w in caught if "Unclosed" in str(w.message)]


def test_in_cluster_only_in_a_pod_given_no_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not in_cluster(None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert in_cluster(None)
    assert not in_cluster("/etc/kubeconfig")


async def test_the_certificate_calls_methods_paths_and_bodies(
    tmp_path: Path, clean_environment: None
) -> None:
    seen: list[tuple[str, str, str, object]] = []

    async def answer(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append((request.method, request.path, request.content_type, body))
        if request.path.endswith("/absent"):
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response({"metadata": {"name": "x"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api = await new_api_client(
        write_kubeconfig(tmp_path, f"http://127.0.0.1:{runner.addresses[0][1]}")
    )
    try:
        kube = JsonKubeApi(api)
        secret = {"metadata": {"name": "s", "resourceVersion": "7"}}
        await kube.replace_secret("ns", "s", secret)
        assert await kube.read_webhook_configuration("absent") is None
        assert await kube.read_webhook_configuration("c") == {"metadata": {"name": "x"}}
        operations = [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "eA=="}]
        await kube.patch_webhook_configuration("c", operations)
    finally:
        await api.close()
        await runner.cleanup()
    vwc = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    assert seen == [
        ("PUT", "/api/v1/namespaces/ns/secrets/s", "application/json", secret),
        ("GET", f"{vwc}/absent", "application/json", None),
        ("GET", f"{vwc}/c", "application/json", None),
        ("PATCH", f"{vwc}/c", "application/json-patch+json", operations),
    ]
