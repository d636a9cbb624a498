"""One AdmissionReview in, one out: the request's fields to :func:`~.policy.review`, its
:class:`~.policy.Verdict` back as the apiserver reads it (allowed with warnings, or a 403).

The HTTP around it is ``serving.py``'s. The answer's shape is ``admission.k8s.io/v1``'s: the
request's ``uid`` echoed, ``allowed``, ``warnings`` only when there are some, and for a refusal
a ``status`` whose ``message`` the apiserver quotes (``admission webhook "..." denied the
request: <message>``). A request for another resource, a subresource or another operation is
allowed untouched, and so is one the review fails on: a bug must not refuse writes (the
configuration's failurePolicy is Ignore for the same reason).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis_operator import api
from redis_operator.webhook.configuration import OPERATIONS
from redis_operator.webhook.policy import AdmissionPolicy, ChildLookup, Verdict, review

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: The AdmissionReview version answered when a request names none.
REVIEW_VERSION = "admission.k8s.io/v1"


class BadReview(Exception):
    """The body is not an AdmissionReview with a request (answered with HTTP 400)."""


def request_of(body: Any) -> Obj:
    """The ``request`` of an AdmissionReview, checked for what answering needs."""
    request = body.get("request") if isinstance(body, Mapping) else None
    if not isinstance(request, Mapping) or not isinstance(request.get("uid"), str):
        raise BadReview("not an AdmissionReview with a request and its uid")
    return dict(request)


def is_ours(request: Obj) -> bool:
    """Whether the request is one the policy judges: a Redis, itself, created or updated."""
    resource = request.get("resource") or {}
    return (
        resource.get("group") == api.GROUP
        and resource.get("resource") == api.PLURAL
        and not request.get("subResource")
        and request.get("operation") in OPERATIONS
    )


def response(body: Mapping[str, Any], request: Obj, verdict: Verdict) -> Obj:
    """The AdmissionReview answering ``request`` with ``verdict``."""
    answer: Obj = {"uid": request["uid"], "allowed": verdict.refusal is None}
    if verdict.warnings:
        answer["warnings"] = list(verdict.warnings)
    if verdict.refusal is not None:
        answer["status"] = {"code": 403, "message": verdict.refusal}
    return {
        "apiVersion": body.get("apiVersion") or REVIEW_VERSION,
        "kind": "AdmissionReview",
        "response": answer,
    }


async def admit(
    body: Any, policy: AdmissionPolicy, lookup: ChildLookup, lookup_timeout: float
) -> Obj:
    """Judge one AdmissionReview; refusals are logged at INFO with the requesting user.

    Raises :class:`BadReview` for a body that is not one.
    """
    request = request_of(body)
    if not is_ours(request):
        return response(body, request, Verdict())
    new, old = request.get("object"), request.get("oldObject")
    operation = request.get("operation")
    try:
        verdict = await review(operation, new, old, policy, lookup, lookup_timeout=lookup_timeout)
    except Exception:  # a bug must not refuse writes: fail open, like failurePolicy
        log.exception("admission: the review failed; allowing the request")
        verdict = Verdict()
    if verdict.refusal is not None:
        meta = (new or old or {}).get("metadata") or {}
        log.info(
            "admission: refused %s%s of %s/%s by %s: %s",
            operation,
            " (dry run)" if request.get("dryRun") else "",
            meta.get("namespace") or request.get("namespace"),
            meta.get("name"),
            (request.get("userInfo") or {}).get("username"),
            verdict.refusal,
        )
    return response(body, request, verdict)
