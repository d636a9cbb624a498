"""The operator's API client: its creation, the one call wrapper and paginator, and the
controller's calls (the :class:`KubeApi` protocol and its implementation on JSON).

kubernetes_asyncio's generated methods turn every answer into a model object (``V1Pod``...),
and the store wants the JSON back: every call of the operator goes through :func:`call` on
``ApiClient.call_api`` and answers the decoded JSON as is, so what the watch delivers and what a
write answers look the same. They raise only :mod:`redis_operator.kube.errors` types.
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any, Protocol

import aiohttp
from aiohttp.helpers import netrc_from_env
from kubernetes_asyncio import client, config

from redis_operator import api
from redis_operator.api import ChildKind
from redis_operator.kube.errors import CLIENT_ERRORS, ApiError, translate

Obj = dict[str, Any]
"""An API object as JSON decodes it."""

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
#: Page size of listings (client-go's informers list 500 at a time).
LIST_PAGE_SIZE = 500

#: kubernetes_asyncio's read buffer: a watch event of a large object outgrows aiohttp's default.
_READ_BUFSIZE = 2**21

_RESOURCES = {ChildKind.POD: "pods", ChildKind.SERVICE: "services"}


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
    """Pods, Services and Redis objects: create, delete, merge-patch and list.

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

    async def list_children(self, kind: ChildKind, namespace: str | None) -> list[Obj]:
        """Every child of that kind in one namespace, or in all (None)."""
        ...

    async def list_redis(self, namespace: str | None) -> list[Obj]:
        """Every Redis in one namespace, or in all (None)."""
        ...

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        """The Secret, or None if there is none of that name (the operator watches none)."""
        ...

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        """Create a Secret; answers it as stored."""
        ...


class JsonKubeApi:
    """:class:`KubeApi` on a kubernetes_asyncio ``ApiClient``, in plain JSON."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        return await call(self._client, "POST", _child_path(kind, namespace), body)

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        options = {"preconditions": {"uid": uid}}
        await call(self._client, "DELETE", _child_path(kind, namespace, name), options)

    async def patch(self, kind: ChildKind, namespace: str, name: str, patch: Obj) -> Obj:
        path = _child_path(kind, namespace, name)
        return await call(self._client, "PATCH", path, patch, content_type=MERGE_PATCH)

    async def patch_redis(self, namespace: str, name: str, patch: Obj, *, status: bool) -> Obj:
        path = _redis_path(namespace) + f"/{name}" + ("/status" if status else "")
        return await call(self._client, "PATCH", path, patch, content_type=MERGE_PATCH)

    async def list_children(self, kind: ChildKind, namespace: str | None) -> list[Obj]:
        return await list_all(self._client, _child_path(kind, namespace))

    async def list_redis(self, namespace: str | None) -> list[Obj]:
        return await list_all(self._client, _redis_path(namespace))

    async def read_secret(self, namespace: str, name: str) -> Obj | None:
        try:
            return await call(self._client, "GET", _secret_path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        return await call(self._client, "POST", _secret_path(namespace), body)


async def call(
    api_client: client.ApiClient,
    method: str,
    path: str,
    body: Obj | None = None,
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
        answer: Obj = await api_client.call_api(
            path,
            method,
            query_params=query,
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body,
            # "object": json.loads, no model. 201 Created for POST, 200 for the rest.
            response_types_map={200: "object", 201: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=request_timeout,
        )
    except CLIENT_ERRORS as exc:
        raise translate(exc) from exc
    return answer


async def list_all(api_client: client.ApiClient, path: str) -> list[Obj]:
    """Every item of a collection, :data:`LIST_PAGE_SIZE` at a time."""
    items: list[Obj] = []
    token = ""
    while True:
        query: list[tuple[str, Any]] = [("limit", LIST_PAGE_SIZE)]
        if token:
            query.append(("continue", token))
        page = await call(api_client, "GET", path, query=query)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def _child_path(kind: ChildKind, namespace: str | None, name: str = "") -> str:
    scope = f"/api/v1/namespaces/{namespace}" if namespace else "/api/v1"
    return f"{scope}/{_RESOURCES[kind]}" + (f"/{name}" if name else "")


def _secret_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/secrets" + (f"/{name}" if name else "")


def _redis_path(namespace: str | None) -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{api.GROUP}/{api.VERSION}{scope}/{api.PLURAL}"
