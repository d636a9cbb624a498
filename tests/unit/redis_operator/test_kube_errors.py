"""The error boundary: what the client library raises becomes ApiError or TransportError, and
one rule says which are worth retrying; the client raises nothing else."""

from __future__ import annotations

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from redis_operator.api import ChildKind
from redis_operator.kube.client import JsonKubeApi
from redis_operator.kube.errors import (
    ApiError,
    TransportError,
    error_text,
    is_namespace_terminating,
    translate,
)
from tests.unit.redis_operator.support import StubApiClient, status_exception


def test_a_status_body_becomes_an_api_error() -> None:
    causes = [{"reason": "FieldValueInvalid", "field": "spec.containers[0].image"}]
    error = translate(status_exception(422, "Invalid", 'Pod "p" is invalid', causes=causes))
    assert isinstance(error, ApiError)
    assert (error.status, error.reason, error.message) == (422, "Invalid", 'Pod "p" is invalid')
    assert error.causes == causes
    assert error_text(error) == '422 Invalid: Pod "p" is invalid'


def test_a_body_that_is_no_status_is_kept_as_the_message() -> None:
    exc = ApiException(status=502, reason="Bad Gateway")
    exc.body = b"<html>proxy</html>"
    error = translate(exc)
    assert isinstance(error, ApiError)
    assert (error.status, error.reason, error.message) == (502, "Bad Gateway", "<html>proxy</html>")
    no_body = translate(ApiException(status=0, reason="Cannot prepare a request message"))
    assert (
        isinstance(no_body, ApiError)
        and error_text(no_body) == "0 Cannot prepare a request message"
    )


@pytest.mark.parametrize(
    "exc",
    [aiohttp.ClientConnectionError("refused"), TimeoutError(), OSError("unreachable")],
)
def test_no_answer_is_a_transport_error(exc: Exception) -> None:
    error = translate(exc)
    assert isinstance(error, TransportError) and error.retryable
    assert error_text(error).startswith(type(exc).__name__)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, True),
        (410, False),
        (422, False),
        (429, True),
        (500, True),
        (503, True),
        (504, True),
    ],
)
def test_the_retry_rule(status: int, retryable: bool) -> None:
    assert ApiError(status).retryable is retryable


#: What kube-apiserver's NamespaceLifecycle admission plugin answers a create with in a
#: namespace being deleted (the e2e test test_deletion.py checks the real one).
TERMINATING_CAUSE = {
    "reason": "NamespaceTerminating",
    "message": "namespace ns is being terminated",
    "field": "metadata.namespace",
}


def test_a_create_refused_in_a_terminating_namespace_is_recognised_by_its_cause() -> None:
    message = (
        'pods "r-0" is forbidden: unable to create new content in namespace ns because it is '
        "being terminated"
    )
    refused = translate(
        status_exception(
            403, "Forbidden", message, name="r-0", kind="pods", causes=[TERMINATING_CAUSE]
        )
    )
    assert is_namespace_terminating(refused) and not refused.retryable
    # Other refusals, even with the same words, are not.
    assert not is_namespace_terminating(translate(status_exception(403, "Forbidden", message)))
    assert not is_namespace_terminating(
        ApiError(422, "Invalid", "", {"causes": [TERMINATING_CAUSE]})
    )
    assert not is_namespace_terminating(TransportError("OSError: reset"))


def test_error_text_of_anything_else() -> None:
    assert error_text(RuntimeError("a bug")) == "RuntimeError: a bug"
    assert error_text(ApiError(403, "Forbidden")) == "403 Forbidden"
    assert len(error_text(ApiError(500, "InternalError", "x" * 1000))) < 250


async def test_the_client_raises_only_kube_errors() -> None:
    stub = StubApiClient(
        status_exception(403, "Forbidden", 'pods "p" is forbidden'),
        aiohttp.ServerDisconnectedError(),
    )
    kube = JsonKubeApi(stub)
    with pytest.raises(ApiError) as refused:
        await kube.create(ChildKind.POD, "ns", {"metadata": {"name": "p"}})
    assert refused.value.reason == "Forbidden" and not refused.value.retryable
    with pytest.raises(TransportError):
        await kube.delete(ChildKind.POD, "ns", "p", "uid")
    assert stub.calls[1][:2] == ("DELETE", "/api/v1/namespaces/ns/pods/p")
