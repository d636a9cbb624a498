"""The webhook over HTTPS: its local URL, the self-signed path and the configuration it writes."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509

from devcluster.ports import free_port
from redis_operator.kube.client import SECRET
from redis_operator.kube.fake import FakeKubeApi
from redis_operator.settings import WebhookCertificateSettings, WebhookSettings
from redis_operator.webhook.configuration import WEBHOOK_PATH
from redis_operator.webhook.keeper import CertificateKeeper
from redis_operator.webhook.serving import WebhookServing, local_url


def test_local_url_dials_loopback_for_an_unspecified_address() -> None:
    assert local_url("0.0.0.0", 9443) == "https://127.0.0.1:9443"
    assert local_url("", 9443) == "https://127.0.0.1:9443"
    assert local_url("127.0.0.1", 1234) == "https://127.0.0.1:1234"
    assert local_url("::1", 1234) == "https://[::1]:1234"


async def test_serving_with_a_self_signed_certificate_writes_a_working_configuration(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = tmp_path / "webhook.json"
    serving = WebhookServing(WebhookSettings(port=port, address="127.0.0.1", config_out=out))
    seen: list[Any] = []

    async def fn(request: Any, **_: Any) -> Any:
        seen.append(request)
        return {"response": {"uid": request["request"]["uid"], "allowed": True}}

    configs = serving(fn)
    try:
        await anext(configs)
        config = json.loads(out.read_text())
        (webhook,) = config["webhooks"]
        url = webhook["clientConfig"]["url"]
        assert url == f"https://127.0.0.1:{port}{WEBHOOK_PATH}"
        ca = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
        context = ssl.create_default_context(cadata=ca)  # verifies the chain and 127.0.0.1
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"request": {"uid": "x"}}, ssl=context) as response,
        ):
            assert response.status == 200
            assert (await response.json())["response"]["allowed"] is True
        assert seen == [{"request": {"uid": "x"}}]
    finally:
        await configs.aclose()
        serving.close()


async def _served_certificate(port: int, ca_bundle: bytes, name: str) -> bytes:
    """The certificate the server presents to a client that trusts ``ca_bundle`` and dials it
    by ``name`` (as the apiserver dials the Service), in DER."""
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=name)
    try:
        der: bytes = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return der


async def test_the_managed_certificate_is_served_and_a_new_one_too() -> None:
    port = free_port()
    certificate = WebhookCertificateSettings(
        secret="tls", namespace="ns", service="svc", check_seconds=0.05
    )
    kube = FakeKubeApi()
    keeper = CertificateKeeper(kube, certificate)
    options = WebhookSettings(port=port, address="127.0.0.1", certificate=certificate)
    serving = WebhookServing(options, keeper)

    async def fn(request: Any, **_: Any) -> Any:
        return {"response": {"uid": request["request"]["uid"], "allowed": True}}

    configs = serving(fn)
    starting = asyncio.ensure_future(anext(configs))
    await asyncio.sleep(0.1)
    assert not starting.done()  # nothing is served before the keeper has a certificate
    first = await keeper.check()
    try:
        await starting
        name = keeper.names[0]
        der = await _served_certificate(port, first.ca_bundle(), name)
        assert x509.load_der_x509_certificate(der) == first.serving.certificate
        # kopf, as it does, waits for the file to change (its digest taken when it resumes).
        restarted = asyncio.ensure_future(anext(configs))
        await asyncio.sleep(0.1)
        kube.delete_object(SECRET, "ns", "tls")  # a new certificate: the listener restarts
        second = await keeper.check()
        assert second.serving.certificate != first.serving.certificate
        await asyncio.wait_for(restarted, 10)
        der = await _served_certificate(port, second.ca_bundle(), name)
        assert x509.load_der_x509_certificate(der) == second.serving.certificate
    finally:
        await configs.aclose()
        serving.close()
        keeper.close()
