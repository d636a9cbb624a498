"""What an API call's failure means: the operator's one error boundary.

The client (``kube/client.py``) turns what kubernetes_asyncio and aiohttp raise into
:class:`ApiError` (the apiserver answered with an error status) or :class:`TransportError` (it
did not answer), and :attr:`KubeError.retryable` decides, in one place, whether trying the same
call again later can succeed (as ``event_recorder``'s ``SinkError.retryable`` does for Events).
No other module of the operator needs to know the client library's exception types, nor how
a Status is laid out: :func:`is_namespace_terminating` is the one reader of its causes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

#: What the client library raises for a failed call: pass these to :func:`translate`.
CLIENT_ERRORS: tuple[type[Exception], ...] = (
    ApiException,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)

_MAX_MESSAGE = 200

NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
"""The cause the NamespaceLifecycle admission plugin gives when it refuses a create in a
namespace being deleted (``v1.NamespaceTerminatingCause``)."""


class KubeError(Exception):
    """An API call failed."""

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later without anyone changing anything."""
        return False


class ApiError(KubeError):
    """The apiserver refused the call: its HTTP status and the Status object it sent.

    ``reason`` is the Status' machine-readable reason (``AlreadyExists``, ``Forbidden``,
    ``Invalid``...), else the HTTP reason phrase; ``details`` holds the Status' details, with the
    field-level ``causes`` of a 422.
    """

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.details: Mapping[str, Any] = details or {}
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def causes(self) -> Sequence[Mapping[str, Any]]:
        """The causes the Status lists: which field a 422 refused, or why a 403 was given."""
        causes: Sequence[Mapping[str, Any]] = self.details.get("causes") or []
        return causes

    @property
    def retryable(self) -> bool:
        """409 (the object changed or exists: look again), 429 (throttled) and 5xx (the server's
        trouble). Every other status (400, 403, 404, 422...) repeats until someone changes the
        object, the RBAC or the operator."""
        return self.status in (409, 429) or 500 <= self.status <= 599


class TransportError(KubeError):
    """No answer: connection refused or reset, TLS trouble, timeout."""

    @property
    def retryable(self) -> bool:
        """Always: the server may well be back soon."""
        return True


def is_namespace_terminating(error: BaseException) -> bool:
    """Whether the apiserver refused a create because the namespace is being deleted: 403 with
    the cause ``NamespaceTerminating`` (client-go's ``HasStatusCause(err,
    v1.NamespaceTerminatingCause)``). Trying again cannot succeed: the namespace only goes.

    The Status, as kube-apiserver sends it (a ``StatusCause``'s type is serialized as
    ``reason``)::

        {"kind": "Status", "code": 403, "reason": "Forbidden",
         "message": "pods \"r-0\" is forbidden: unable to create new content in namespace ns
                     because it is being terminated",
         "details": {"name": "r-0", "kind": "pods", "causes": [{"reason": "NamespaceTerminating",
                     "message": "namespace ns is being terminated",
                     "field": "metadata.namespace"}]}}
    """
    return (
        isinstance(error, ApiError)
        and error.status == 403
        and any(cause.get("reason") == NAMESPACE_TERMINATING_CAUSE for cause in error.causes)
    )


def translate(exc: BaseException) -> KubeError:
    """The :class:`KubeError` for an exception of :data:`CLIENT_ERRORS`."""
    if isinstance(exc, ApiException):
        return _api_error(exc)
    return TransportError(f"{type(exc).__name__}: {exc}")


def _api_error(exc: ApiException) -> ApiError:
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    return refusal(int(exc.status or 0), body or "", str(exc.reason or ""))


def refusal(status: int, body: str | bytes, http_reason: str = "") -> ApiError:
    """The ApiError of an answer with HTTP ``status`` whose body is (usually) a Status."""
    try:
        decoded: Any = json.loads(body) if body else None
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return ApiError(status, http_reason, text)
    return from_status(decoded, status or None, http_reason)


def from_status(
    status: Mapping[str, Any], http_status: int | None = None, http_reason: str = ""
) -> ApiError:
    """The ApiError a Status object stands for (an answer's body, or a watch ``ERROR`` event)."""
    return ApiError(
        int(http_status or status.get("code") or 0),
        str(status.get("reason") or http_reason),
        str(status.get("message") or ""),
        status.get("details") or {},
    )


def error_text(exc: BaseException) -> str:
    """A one-line account of an API or transport error (or any other), for logs and Events."""
    if isinstance(exc, ApiError):
        text = f"{exc.status} {exc.reason}"
        return f"{text}: {exc.message[:_MAX_MESSAGE]}" if exc.message else text
    if isinstance(exc, TransportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
