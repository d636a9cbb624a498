"""The operator's API client: its creation, the one call wrapper and paginator, and the
controller's calls (the :class:`KubeApi` protocol and its implementation on JSON).

kubernetes_asyncio's generated methods turn every answer into a model object (``V1Pod``...),
and the store wants the JSON back: every call of the operator goes through :func:`call` on
``ApiClient.call_api`` and answers the decoded JSON as is, so what the watch delivers and what a
write answers look the same. The answer's body is read and decoded here, with orjson, as the
watch stream's events are (docs/benchmarks.md: decoding JSON was a fifth of the operator's CPU
while converging). They raise only :mod:`redis_operator.kube.errors` types.
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any, Final, Literal, Protocol

import aiohttp
import orjson
from aiohttp.helpers import netrc_from_env
from kubernetes_asyncio import client, config

from redis_operator import api
from redis_operator.api import ChildKind
from redis_operator.kube.errors import CLIENT_ERRORS, ApiError, TransportError, refusal, translate

Obj = dict[str, Any]
"""An API object as JSON decodes it."""

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

#: kubernetes_asyncio's read buffer: a watch event of a large object outgrows aiohttp's default.
_READ_BUFSIZE = 2**21

REDIS: Final = "redis"
"""The kind of the Redis objects, beside :class:`~redis_operator.api.ChildKind`'s."""
NAMESPACE: Final = "namespace"
"""The kind of the Namespace objects (cluster-scoped)."""
SECRET: Final = "secret"
"""The kind of a password's Secret: read by name and created, never listed or watched."""
WEBHOOK_CONFIGURATION: Final = "validatingwebhookconfiguration"
"""The kind of the webhook configuration whose caBundle the managed certificate keeps."""

Kind = ChildKind | Literal["redis", "namespace", "secret", "validatingwebhookconfiguration"]
"""What the operator reads: its children, its Redis objects, the namespaces, a Secret, its
webhook configuration."""

_RESOURCES = {
    ChildKind.POD: "pods",
    ChildKind.SERVICE: "services",
    NAMESPACE: "namespaces",
    SECRET: "secrets",
}
_WEBHOOK_CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def in_cluster(kubeconfig: str | None) -> bool:
    """Whether the operator logs in with its pod's service account: in a pod, and given no
    kubeconfig."""
    return not kubeconfig and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


async def new_api_client(kubeconfig: str | None) -> client.ApiClient:
    """The client of the operator's own calls: the kubeconfig given (else ``$KUBECONFIG`` or
    ``~/.kube/config``), or in a pod without one its service account.

    kubernetes_asyncio's session trusts the environment, so aiohttp reads the proxy variables
    and ``~/.netrc`` in a thread on every request: with neither set that finds nothing and
    costs two thread hops per call. Then the client gets a session that does not look, on the
    same connector (its TLS and pool limits as kubernetes_asyncio built them).
    """
    configuration = client.Configuration()
    if in_cluster(kubeconfig):
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api_client = client.ApiClient(configuration)
    if not urllib.request.getproxies() and netrc_from_env() is None:
        rest = api_client.rest_client
        trusting: aiohttp.ClientSession = rest.pool_manager
        connector = trusting.connector
        trusting.detach()  # closed, its connector kept for the new session
        rest.pool_manager = aiohttp.ClientSession(
            connector=connector, trust_env=False, read_bufsize=_READ_BUFSIZE
        )
    return api_client


class KubeApi(Protocol):
    """The controller's writes: create, delete and merge-patch pods, Services and Redis objects
    (what it reads comes from its informers: ``kube/watch.py``).

    Implementations raise only :class:`~redis_operator.kube.errors.KubeError`.
    """

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        """Create a child; answers it as stored (uid, resourceVersion)."""
        ...

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        """Delete a child if it is still the object with ``uid`` (else 409): never a successor."""
        ...

    async def patch(self, kind: ChildKind, namespace: str, name: str, patch: Obj) -> Obj:
        """A JSON merge patch (RFC 7386) of a child: it replaces lists whole."""
        ...

    async def patch_redis(self, namespace: str, name: str, patch: Obj, *, status: bool) -> Obj:
        """Merge-patch a Redis' metadata, or its status through the status subresource."""
        ...

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        """The Secret, or None if there is none of that name (the operator watches none)."""
        ...

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        """Create a Secret; answers it as stored."""
        ...


class CertificateApi(Protocol):
    """The managed webhook certificate's calls: its Secret, and its webhook configuration.

    Implementations raise only :class:`~redis_operator.kube.errors.KubeError`.
    """

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        """The Secret, or None if there is none of that name."""
        ...

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        """Create a Secret (409 AlreadyExists if the name is taken); answers it as stored."""
        ...

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        """Replace a Secret (PUT): 409 Conflict unless ``body``'s resourceVersion is current."""
        ...

    async def read_webhook_configuration(self, name: str) -> Obj | None:
        """The ValidatingWebhookConfiguration, or None if there is none of that name."""
        ...

    async def patch_webhook_configuration(self, name: str, operations: list[Obj]) -> Obj:
        """A JSON patch (RFC 6902) of the ValidatingWebhookConfiguration (422 if a ``test``
        fails)."""
        ...


class JsonKubeApi:
    """:class:`KubeApi` and :class:`CertificateApi` on a kubernetes_asyncio ``ApiClient``, in
    plain JSON."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        return await call(self._client, "POST", collection_path(kind, namespace), body)

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        options = {"preconditions": {"uid": uid}}
        await call(self._client, "DELETE", collection_path(kind, namespace, name), options)

    async def patch(self, kind: ChildKind, namespace: str, name: str, patch: Obj) -> Obj:
        path = collection_path(kind, namespace, name)
        return await call(self._client, "PATCH", path, patch, content_type=MERGE_PATCH)

    async def patch_redis(self, namespace: str, name: str, patch: Obj, *, status: bool) -> Obj:
        path = collection_path(REDIS, namespace, name) + ("/status" if status else "")
        return await call(self._client, "PATCH", path, patch, content_type=MERGE_PATCH)

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        try:
            return await call(self._client, "GET", collection_path(SECRET, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        return await call(self._client, "POST", collection_path(SECRET, namespace), body)

    async def replace_secret(self, namespace: str, name: str, body: Obj) -> Obj:
        return await call(self._client, "PUT", collection_path(SECRET, namespace, name), body)

    async def read_webhook_configuration(self, name: str) -> Obj | None:
        try:
            return await call(self._client, "GET", f"{_WEBHOOK_CONFIGURATIONS}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_webhook_configuration(self, name: str, operations: list[Obj]) -> Obj:
        path = f"{_WEBHOOK_CONFIGURATIONS}/{name}"
        return await call(self._client, "PATCH", path, operations, content_type=JSON_PATCH)


async def call(
    api_client: client.ApiClient,
    method: str,
    path: str,
    body: Obj | list[Obj] | None = None,
    *,
    content_type: str = JSON,
    accept: str = JSON,
    query: list[tuple[str, Any]] | None = None,
    request_timeout: float | None = None,
) -> Obj:
    """One API call on JSON: the decoded answer, or a KubeError.

    ``accept`` may ask for another representation in JSON (e.g. metadata only);
    ``request_timeout`` bounds the whole request in seconds (None: no bound but the client's).
    """
    try:
        response: aiohttp.ClientResponse = await api_client.call_api(
            path,
            method,
            query_params=query,
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,  # the body is read and decoded below
            _request_timeout=request_timeout,
        )
        try:
            data = await response.read()
        finally:
            response.release()
    except CLIENT_ERRORS as exc:
        raise translate(exc) from exc
    if not 200 <= response.status <= 299:
        raise refusal(response.status, data, response.reason or "")
    try:
        answer: Obj = orjson.loads(data)
    except ValueError as exc:
        raise TransportError(f"{method} {path}: undecodable answer: {exc}") from exc
    return answer


def collection_path(kind: Kind, namespace: str | None, name: str = "") -> str:
    """The URL path of a kind's collection in a namespace (cluster-wide for None and for
    namespaces), or of the object ``name`` in it."""
    if kind == REDIS:
        scope = f"/namespaces/{namespace}" if namespace else ""
        path = f"/apis/{api.GROUP}/{api.VERSION}{scope}/{api.PLURAL}"
    elif namespace and kind != NAMESPACE:
        path = f"/api/v1/namespaces/{namespace}/{_RESOURCES[kind]}"
    else:
        path = f"/api/v1/{_RESOURCES[kind]}"
    return f"{path}/{name}" if name else path
