"""The webhook's kopf wiring: one validating handler, 403 refusals logged at INFO, failing open."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from redis_operator.webhook.configuration import WEBHOOK_ID
from redis_operator.webhook.handler import register
from redis_operator.webhook.policy import AdmissionPolicy

Obj = dict[str, Any]
HUB = AdmissionPolicy(("redis:",))


def redis(image: str) -> Obj:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": "cache", "namespace": "ns"},
        "spec": {"replicas": 2, "image": image, "port": 6379},
    }


class NoChildren:
    """A lookup that finds no pod and no Service."""

    async def pods(self, namespace: str) -> list[Obj]:
        return []

    async def service(self, namespace: str, name: str) -> Obj | None:
        return None


def test_register_adds_one_validating_handler_for_the_main_resource() -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, NoChildren(), lookup_timeout=2.0)
    (handler,) = registry._webhooks.get_all_handlers()
    assert handler.id == WEBHOOK_ID
    assert handler.subresource is None  # status requests match no handler: allowed
    assert set(handler.operations or ()) == {"CREATE", "UPDATE"}


async def test_the_handler_refuses_with_403_and_logs_at_info_not_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, NoChildren(), lookup_timeout=2.0)
    (handler,) = registry._webhooks.get_all_handlers()
    warnings: list[str] = []
    caplog.set_level(logging.INFO)
    with pytest.raises(kopf.AdmissionError) as refused:
        await handler.fn(
            warnings=warnings,
            subresource=None,
            operation="CREATE",
            new=redis(image="evil.io/redis:7"),
            old=None,
            userinfo={"username": "alice"},
        )
    assert refused.value.code == 403
    assert "admission: refused CREATE of ns/cache by alice" in caplog.text
    # kopf's own ERROR line for the same refusal is filtered out.
    kopf_log = logging.getLogger("kopf.objects")
    kopf_log.error("Webhook '%s' failed permanently: %s", WEBHOOK_ID, refused.value)
    kopf_log.error("Webhook 'other' failed permanently: boom")
    assert [r.getMessage() for r in caplog.records if r.name == "kopf.objects"] == [
        "Webhook 'other' failed permanently: boom"
    ]


async def test_the_handler_fails_open_on_a_bug() -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, NoChildren(), lookup_timeout=2.0)
    (handler,) = registry._webhooks.get_all_handlers()
    malformed = {"metadata": {"name": "x", "namespace": "ns"}, "spec": "not a mapping"}
    warnings: list[str] = []
    await handler.fn(warnings=warnings, subresource=None, operation="CREATE", new=malformed)
    assert warnings == []
