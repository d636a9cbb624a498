"""The ValidatingWebhookConfiguration: which requests the apiserver sends to the webhook, and how.

A pure builder (no TLS or HTTP here), used for ``deploy/`` (``manifests.py``) and for an
operator running on this machine (``--webhook-config-out``). At run time the operator only
keeps the caBundle of deploy/'s configuration current, with the managed certificate
(``keeper.py``); it never creates or deletes one.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from redis_operator import api

#: The webhook's id: the last path component of the webhook URL (kubebuilder's convention).
WEBHOOK_ID = f"validate-{api.GROUP.replace('.', '-')}-{api.VERSION}-{api.PLURAL}"
WEBHOOK_PATH = f"/{WEBHOOK_ID}"
#: The webhook's name inside the configuration (a qualified name, shown in refusals).
WEBHOOK_NAME = f"validate.{api.PLURAL}.{api.GROUP}"
CONFIGURATION_NAME = "redis-operator"
#: Ignore: a down or slow operator must not block Redis writes; the CRD's CEL rules are the
#: hard guarantees, this webhook only adds policy. See docs/operations.md.
FAILURE_POLICY = "Ignore"
#: The apiserver waits at most this long for a verdict (its default is 10, the maximum 30).
TIMEOUT_SECONDS = 5
#: What the apiserver sends; the handler allows anything else untouched.
OPERATIONS = ("CREATE", "UPDATE")


def webhook_configuration(
    client_config: Mapping[str, Any],
    *,
    name: str = CONFIGURATION_NAME,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    namespace_selector: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration: only Redis CREATE/UPDATE, never pods or status.

    ``client_config`` is either ``{"service": {...}}`` (in a cluster) or ``{"url": ...}`` (an
    operator running outside it), with or without a ``caBundle``.
    """
    webhook: dict[str, Any] = {
        "name": WEBHOOK_NAME,
        "clientConfig": dict(client_config),
        "rules": [
            {
                "apiGroups": [api.GROUP],
                "apiVersions": [api.VERSION],
                "operations": list(OPERATIONS),
                # The main resource only: "redis/status" and "redis/scale" are not reviewed.
                "resources": [api.PLURAL],
                "scope": "Namespaced",
            }
        ],
        "failurePolicy": FAILURE_POLICY,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": TIMEOUT_SECONDS,
        "admissionReviewVersions": ["v1"],
    }
    if namespace_selector is not None:
        webhook["namespaceSelector"] = dict(namespace_selector)
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }


def local_configuration(
    url: str, ca_bundle: bytes, name: str = "redis-operator-dev"
) -> dict[str, Any]:
    """The configuration for an operator running on this machine (local development)."""
    return webhook_configuration(
        {
            "url": f"{url.rstrip('/')}{WEBHOOK_PATH}",
            "caBundle": base64.b64encode(ca_bundle).decode(),
        },
        name=name,
    )
