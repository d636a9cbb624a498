"""The webhook over HTTPS: its local URL, the self-signed path and the configuration it writes."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from devcluster.ports import free_port
from redis_operator.settings import WebhookSettings
from redis_operator.webhook.configuration import WEBHOOK_PATH
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
