"""The ValidatingWebhookConfiguration: only Redis CREATE and UPDATE, failing open."""

from __future__ import annotations

import subprocess
import sys

from redis_operator.webhook.configuration import (
    FAILURE_POLICY,
    TIMEOUT_SECONDS,
    webhook_configuration,
)


def test_configuration_covers_only_redis_create_and_update_and_fails_open() -> None:
    config = webhook_configuration({"url": "https://127.0.0.1:9443/x"})
    (webhook,) = config["webhooks"]
    assert webhook["rules"] == [
        {
            "apiGroups": ["myapp.tangx.in"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["redis"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["failurePolicy"] == FAILURE_POLICY == "Ignore"
    assert webhook["timeoutSeconds"] == TIMEOUT_SECONDS == 5
    assert webhook["sideEffects"] == "None"
    assert webhook["matchPolicy"] == "Equivalent"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert "namespaceSelector" not in webhook


def test_the_manifests_get_the_configuration_without_the_serving_stack() -> None:
    """``manifests.py`` builds deploy/ from the pure builder: no kopf, TLS or HTTP imported."""
    probe = (
        "import sys, redis_operator.manifests; "
        # Top-level packages only: redis_operator stands in for kubernetes_asyncio.client
        # (lazy_client) without importing it.
        "print(sorted({m for m in sys.modules if '.' not in m} "
        "& {'kopf', 'cryptography', 'aiohttp', 'kubernetes_asyncio'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
