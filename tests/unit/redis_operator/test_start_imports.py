"""What starting the operator imports: the webhook's modules (and cryptography) only with the
webhook on, redis-py only once a Redis command is sent, kopf never (only the recorder's optional
integration uses it); each checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

# Imports the CLI and builds the Manager as `redis-operator run` does (over a client of an address
# nothing listens on), optionally sends one Redis command to a closed local port, and prints which
# of the optional packages are loaded: `cryptography.x509`, as redis-py imports cryptography's
# top package (1 ms) to see whether it is installed.
_PROBE = """
import asyncio, json, sys
from kubernetes_asyncio import client
from redis_operator import cli
from redis_operator.manager import Manager
from redis_operator.replication.commands import Endpoint, RedisPyCommands, RedisUnavailable
from redis_operator.settings import Settings, WebhookSettings

WEBHOOK, COMMAND = sys.argv[1] == "webhook", sys.argv[2] == "command"

async def main() -> None:
    webhook = WebhookSettings(port=9443) if WEBHOOK else None
    settings = Settings(metrics_address=None, webhook=webhook)
    api_client = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    built = Manager(settings, api_client)
    if built.webhook is not None:
        built.webhook.close()
    if COMMAND:
        try:
            await RedisPyCommands(1.0).replication(Endpoint("127.0.0.1", 9), None)
        except RedisUnavailable:
            pass
    await api_client.close()

asyncio.run(main())
print(json.dumps({name: name in sys.modules for name in ("cryptography.x509", "redis", "kopf")}))
"""


def loaded(webhook: bool, command: bool) -> dict[str, bool]:
    args = ["webhook" if webhook else "-", "command" if command else "-"]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, bool] = json.loads(out.stdout)
    return result


def test_without_the_webhook_and_a_redis_command_no_cryptography_redis_or_kopf_is_imported() -> (
    None
):
    assert loaded(webhook=False, command=False) == {
        "cryptography.x509": False,
        "redis": False,
        "kopf": False,
    }


def test_the_webhook_imports_cryptography_and_a_redis_command_imports_redis() -> None:
    assert loaded(webhook=True, command=False) == {
        "cryptography.x509": True,
        "redis": False,
        "kopf": False,
    }
    assert loaded(webhook=False, command=True) == {
        "cryptography.x509": False,
        "redis": True,
        "kopf": False,
    }
