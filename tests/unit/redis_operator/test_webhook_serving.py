"""The webhook over HTTPS: its local URL, the self-signed path and the configuration it writes,
the managed certificate served and a renewed one loaded without a restart, bad bodies answered
with 400."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from devcluster.ports import free_port
from redis_operator.kube.client import SECRET
from redis_operator.kube.fake import FakeKubeApi
from redis_operator.settings import WebhookCertificateSettings, WebhookSettings
from redis_operator.webhook import handler
from redis_operator.webhook.certificates import new_ca
from redis_operator.webhook.configuration import WEBHOOK_PATH
from redis_operator.webhook.keeper import CertificateKeeper
from redis_operator.webhook.policy import AdmissionPolicy
from redis_operator.webhook.serving import WebhookServing, local_url


def test_local_url_dials_loopback_for_an_unspecified_address() -> None:
    assert local_url("0.0.0.0", 9443) == "https://127.0.0.1:9443"
    assert local_url("", 9443) == "https://127.0.0.1:9443"
    assert local_url("127.0.0.1", 1234) == "https://127.0.0.1:1234"
    assert local_url("::1", 1234) == "https://[::1]:1234"


async def _started(serving: WebhookServing, admit: Any) -> asyncio.Task[None]:
    task = asyncio.create_task(serving.run(admit))
    waiting = asyncio.create_task(serving.listening.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises why it did not start
    return task


async def _stop(task: asyncio.Task[None], serving: WebhookServing) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    serving.close()


async def test_serving_with_a_self_signed_certificate_writes_a_working_configuration(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = tmp_path / "webhook.json"
    serving = WebhookServing(WebhookSettings(port=port, address="127.0.0.1", config_out=out))
    seen: list[Any] = []

    async def admit(body: Any) -> dict[str, Any]:
        seen.append(body)
        return {"response": {"uid": body["request"]["uid"], "allowed": True}}

    task = await _started(serving, admit)
    try:
        config = json.loads(out.read_text())
        (webhook,) = config["webhooks"]
        url = webhook["clientConfig"]["url"]
        assert url == f"https://127.0.0.1:{port}{WEBHOOK_PATH}"
        ca = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
        context = ssl.create_default_context(cadata=ca)  # verifies the chain and 127.0.0.1
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"request": {"uid": "x"}}, ssl=context) as response:
                assert response.status == 200
                assert (await response.json())["response"]["allowed"] is True
            async with session.post(url, data=b"not json", ssl=context) as response:
                assert response.status == 400
            other = url.removesuffix(WEBHOOK_PATH) + "/mutate"
            async with session.post(other, json={}, ssl=context) as response:
                assert response.status == 404
        assert seen == [{"request": {"uid": "x"}}]
    finally:
        await _stop(task, serving)
    assert not serving.listening.is_set()


async def test_a_body_that_is_no_review_is_answered_with_400(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "webhook.json"
    serving = WebhookServing(WebhookSettings(port=port, address="127.0.0.1", config_out=out))

    async def admit(body: Any) -> dict[str, Any]:
        return await handler.admit(body, AdmissionPolicy(), NoLookup(), 1.0)

    task = await _started(serving, admit)
    try:
        (webhook,) = json.loads(out.read_text())["webhooks"]
        ca = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
        context = ssl.create_default_context(cadata=ca)
        async with (
            aiohttp.ClientSession() as session,
            session.post(webhook["clientConfig"]["url"], json=[], ssl=context) as response,
        ):
            assert response.status == 400
            assert "AdmissionReview" in (await response.json())["error"]
    finally:
        await _stop(task, serving)


class NoLookup:
    async def pods(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None


async def test_a_port_taken_fails_the_listener() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serving = WebhookServing(WebhookSettings(port=port, address="127.0.0.1"))

        async def admit(body: Any) -> dict[str, Any]:
            raise AssertionError("never called")

        try:
            with pytest.raises(OSError):
                await asyncio.wait_for(serving.run(admit), 10)
        finally:
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


async def test_the_managed_certificate_is_served_and_a_renewed_one_without_a_restart() -> None:
    port = free_port()
    certificate = WebhookCertificateSettings(
        secret="tls", namespace="ns", service="svc", check_seconds=0.05
    )
    kube = FakeKubeApi()
    keeper = CertificateKeeper(kube, certificate)
    options = WebhookSettings(port=port, address="127.0.0.1", certificate=certificate)
    serving = WebhookServing(options, keeper)

    async def admit(body: Any) -> dict[str, Any]:
        return {"response": {"uid": body["request"]["uid"], "allowed": True}}

    task = asyncio.create_task(serving.run(admit))
    await asyncio.sleep(0.1)
    assert not serving.listening.is_set()  # nothing is served before the keeper has one
    first = await keeper.check()
    try:
        await asyncio.wait_for(serving.listening.wait(), 10)
        name = keeper.names[0]
        der = await _served_certificate(port, first.ca_bundle(), name)
        assert x509.load_der_x509_certificate(der) == first.serving.certificate
        # An open connection stays open through the renewal.
        _, kept = await asyncio.open_connection(
            "127.0.0.1",
            port,
            ssl=ssl.create_default_context(cadata=first.ca_bundle().decode()),
            server_hostname=name,
        )
        kube.delete_object(SECRET, "ns", "tls")  # a new certificate, loaded at the next check
        second = await keeper.check()
        assert second.serving.certificate != first.serving.certificate

        async def presented() -> bytes:
            while True:
                try:
                    return await _served_certificate(port, second.ca_bundle(), name)
                except ssl.SSLError:  # still the first: not signed by the second's CA
                    await asyncio.sleep(0.05)

        der = await asyncio.wait_for(presented(), 10)
        assert x509.load_der_x509_certificate(der) == second.serving.certificate
        assert not kept.is_closing()
        kept.close()
    finally:
        await _stop(task, serving)
        keeper.close()


async def test_a_renewal_that_does_not_load_keeps_the_old_certificate_served(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = new_ca(server_names=["127.0.0.1"])
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(first.cert_pem())
    key.write_bytes(first.key_pem())
    options = WebhookSettings(port=port, address="127.0.0.1", cert_file=cert, key_file=key)
    serving = WebhookServing(options)
    serving.check_seconds = 0.05

    async def admit(body: Any) -> dict[str, Any]:
        raise AssertionError("never called")

    task = await _started(serving, admit)
    try:
        cert.write_bytes(new_ca(server_names=["127.0.0.1"]).cert_pem())  # not the key's

        for _ in range(500):  # until the listener has looked at the pair and turned it down
            if serving._refused is not None:
                break
            await asyncio.sleep(0.02)
        assert serving._refused is not None
        der = await _served_certificate(port, first.cert_pem(), "127.0.0.1")
        assert x509.load_der_x509_certificate(der) == first.certificate
        assert not task.done()
    finally:
        await _stop(task, serving)
