"""One AdmissionReview answered: a 403 refusal logged at INFO, warnings, what is not ours
allowed untouched, a bug failing open, a body that is no review rejected."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from redis_operator.webhook import handler
from redis_operator.webhook.handler import BadReview, admit
from redis_operator.webhook.policy import AdmissionPolicy

Obj = dict[str, Any]
HUB = AdmissionPolicy(("redis:",))
RESOURCE = {"group": "myapp.tangx.in", "version": "v1", "resource": "redis"}


def redis(image: str, name: str = "cache") -> Obj:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"replicas": 2, "image": image, "port": 6379},
    }


def review(obj: Obj | None, operation: str = "CREATE", **request: Any) -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "resource": RESOURCE,
            "operation": operation,
            "namespace": "ns",
            "object": obj,
            "oldObject": None,
            "userInfo": {"username": "alice"},
            **request,
        },
    }


class Children:
    """A lookup that finds the given pods and no Service."""

    def __init__(self, pods: list[Obj] | None = None) -> None:
        self._pods = pods or []

    async def pods(self, namespace: str) -> list[Obj]:
        return self._pods

    async def service(self, namespace: str, name: str) -> Obj | None:
        return None


async def test_a_disallowed_image_is_refused_with_403_and_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answer = await admit(review(redis("evil.io/redis:7")), HUB, Children(), 2.0)
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == "u-1"
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert (
        'spec.image: "evil.io/redis:7" is not from an allowed registry'
        in (response["status"]["message"])
    )
    assert "warnings" not in response
    (record,) = [r for r in caplog.records if r.name == handler.__name__]
    assert record.levelno == logging.INFO
    assert "admission: refused CREATE of ns/cache by alice" in record.getMessage()


async def test_an_allowed_redis_is_allowed_and_its_dry_run_refusal_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    allowed = await admit(review(redis("redis:7")), HUB, Children(), 2.0)
    assert allowed["response"] == {"uid": "u-1", "allowed": True}
    caplog.set_level(logging.INFO)
    await admit(review(redis("evil.io/redis:7"), dryRun=True), HUB, Children(), 2.0)
    assert "refused CREATE (dry run) of ns/cache" in caplog.text


async def test_a_taken_child_name_is_a_warning_not_a_refusal() -> None:
    taken = {"metadata": {"name": "cache-0", "namespace": "ns", "labels": {}}}
    answer = await admit(review(redis("redis:7")), HUB, Children([taken]), 2.0)
    assert answer["response"]["allowed"] is True
    assert answer["response"]["warnings"]
    assert any("cache-0" in warning for warning in answer["response"]["warnings"])


@pytest.mark.parametrize(
    "request_fields",
    [
        {"subResource": "status"},
        {"operation": "DELETE"},
        {"resource": {"group": "", "version": "v1", "resource": "pods"}},
    ],
)
async def test_what_the_policy_does_not_judge_is_allowed_untouched(
    request_fields: Obj,
) -> None:
    body = review(redis("evil.io/redis:7"), **request_fields)
    answer = await admit(body, HUB, Children(), 2.0)
    assert answer["response"] == {"uid": "u-1", "allowed": True}


async def test_the_review_fails_open_on_a_bug() -> None:
    malformed = {"metadata": {"name": "x", "namespace": "ns"}, "spec": "not a mapping"}
    answer = await admit(review(malformed), HUB, Children(), 2.0)
    assert answer["response"] == {"uid": "u-1", "allowed": True}


@pytest.mark.parametrize("body", [None, [], {}, {"request": {}}, {"request": {"uid": 7}}])
async def test_a_body_that_is_no_review_is_rejected(body: Any) -> None:
    with pytest.raises(BadReview):
        await admit(body, HUB, Children(), 2.0)


async def test_the_answer_speaks_the_requests_version() -> None:
    body = review(redis("redis:7"))
    body["apiVersion"] = "admission.k8s.io/v1beta1"
    answer = await admit(body, HUB, Children(), 2.0)
    assert answer["apiVersion"] == "admission.k8s.io/v1beta1"
