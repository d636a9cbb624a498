"""kopf's login: the connection kubernetes_asyncio loaded from a kubeconfig, as kopf's
ConnectionInfo (the same server, TLS and credentials; no default namespace)."""

from __future__ import annotations

import base64
from pathlib import Path

import kopf
import pytest
from kubernetes_asyncio import client, config

from redis_operator.kube.login import connection_info

CLIENT_CERTIFICATE = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:6443", certificate-authority: "{ca}"}}
users:
- name: u
  user: {{client-certificate-data: "{certificate_data}", client-key: "{key}"}}
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: ops}}}}]
current-context: x
"""

TOKEN = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443/", insecure-skip-tls-verify: true}
users: [{name: u, user: {token: abc.def}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: ops}}]
current-context: x
"""


async def loaded(path: Path) -> client.Configuration:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return configuration


def contents(path: object) -> bytes:
    return Path(str(path)).read_bytes()


async def test_a_client_certificate_kubeconfig(tmp_path: Path) -> None:
    ca, key = tmp_path / "ca.crt", tmp_path / "client.key"
    ca.write_text("CA PEM\n")
    key.write_text("KEY PEM\n")
    certificate_data = base64.b64encode(b"CERTIFICATE PEM\n").decode()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        CLIENT_CERTIFICATE.format(ca=ca, certificate_data=certificate_data, key=key)
    )
    info = await connection_info(await loaded(kubeconfig))
    assert isinstance(info, kopf.ConnectionInfo)
    assert info.server == "https://127.0.0.1:6443"
    assert info.ca_path == str(ca) and info.private_key_path == str(key)
    # Inline data: the file kubernetes_asyncio wrote it to.
    assert info.certificate_path is not None
    assert contents(info.certificate_path) == b"CERTIFICATE PEM\n"
    assert (info.token, info.scheme, info.insecure) == (None, None, False)
    assert info.as_http_headers() == {}
    assert info.default_namespace is None


async def test_a_token_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(TOKEN)
    configuration = await loaded(kubeconfig)
    info = await connection_info(configuration)
    assert info.server == "https://127.0.0.1:6443"
    assert (info.scheme, info.token, info.insecure) == ("Bearer", "abc.def", True)
    assert info.ca_path is None and info.certificate_path is None
    assert info.private_key_path is None and info.default_namespace is None
    # kopf sends what kubernetes_asyncio sends.
    sent = await configuration.get_api_key_with_prefix("BearerToken")
    assert info.as_http_headers() == {"Authorization": sent} == {"Authorization": "Bearer abc.def"}


@pytest.mark.parametrize(
    ("prefix", "scheme"), [(None, None), ("Bearer", "Bearer")], ids=["bare", "prefixed"]
)
async def test_an_api_key_and_its_prefix(prefix: str | None, scheme: str | None) -> None:
    configuration = client.Configuration(host="https://127.0.0.1:6443")
    configuration.api_key["BearerToken"] = "xyz"
    if prefix is not None:
        configuration.api_key_prefix["BearerToken"] = prefix
    info = await connection_info(configuration)
    assert (info.scheme, info.token) == (scheme, "xyz")
    assert info.as_http_headers() == {"Authorization": "Bearer xyz"}
