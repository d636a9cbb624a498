"""The webhook's kopf wiring: the validating handler, and the log filter for its refusals.

kopf serves the handler once a webhook server is configured (``serving.py``); the handler turns
a :class:`~redis_operator.webhook.policy.Verdict` into kopf's answer: warnings, or a 403.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from redis_operator import api
from redis_operator.webhook.configuration import WEBHOOK_ID
from redis_operator.webhook.policy import AdmissionPolicy, ChildLookup, review

log = logging.getLogger(__name__)


def _plain(body: Any) -> dict[str, Any] | None:
    """kopf's Body (a read-only mapping view) as a plain dict, or None."""
    return None if body is None else dict(body)


class _RefusalLogFilter(logging.Filter):
    """Drops kopf's ERROR "Webhook '...' failed permanently" for a refusal.

    A refusal is a verdict, not a fault (an ERROR per refused kubectl apply would page
    someone); the handler logs it at INFO instead, with the requesting user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.ERROR
            and f"'{WEBHOOK_ID}' failed permanently" in record.getMessage()
        )


def register(
    registry: kopf.OperatorRegistry,
    policy: AdmissionPolicy,
    lookup: ChildLookup,
    lookup_timeout: float,
) -> None:
    """Register the validating handler (served only once a webhook server is configured).

    Also installs, once per process, the refusal filter on kopf's ``kopf.objects`` logger.
    """
    kopf_objects = logging.getLogger("kopf.objects")
    if not any(isinstance(f, _RefusalLogFilter) for f in kopf_objects.filters):
        kopf_objects.addFilter(_RefusalLogFilter())

    @kopf.on.validate(
        api.GROUP,
        api.VERSION,
        api.PLURAL,
        id=WEBHOOK_ID,
        operations=["CREATE", "UPDATE"],
        ignore_failures=True,
        registry=registry,
    )
    async def validate_redis(
        *,
        warnings: list[str],
        subresource: str | None,
        operation: str | None = None,
        new: Any = None,
        old: Any = None,
        userinfo: Mapping[str, Any] | None = None,
        dryrun: bool = False,
        **_: Any,
    ) -> None:
        try:
            verdict = await review(
                operation,
                _plain(new),
                _plain(old),
                policy,
                lookup,
                subresource=subresource,
                lookup_timeout=lookup_timeout,
            )
        except Exception:  # a bug must not refuse writes: fail open, like failurePolicy
            log.exception("admission: the review failed; allowing the request")
            return
        warnings.extend(verdict.warnings)
        if verdict.refusal is not None:
            meta = (new or old or {}).get("metadata") or {}
            log.info(
                "admission: refused %s%s of %s/%s by %s: %s",
                operation,
                " (dry run)" if dryrun else "",
                meta.get("namespace"),
                meta.get("name"),
                (userinfo or {}).get("username"),
                verdict.refusal,
            )
            raise kopf.AdmissionError(verdict.refusal, code=403)
