"""The operator's API client: it skips aiohttp's per-request environment lookups only when
there is nothing in the environment to find."""

from __future__ import annotations

from pathlib import Path

import pytest

from redis_operator.manager import api_client_for

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


async def test_nothing_to_trust_in_the_environment(kubeconfig: str) -> None:
    api = await api_client_for(kubeconfig)
    assert api.rest_client.pool_manager.trust_env is False
    await api.close()


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
    api = await api_client_for(kubeconfig)
    assert api.rest_client.pool_manager.trust_env is True
    await api.close()
