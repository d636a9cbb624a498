"""The controller's API calls, on plain JSON: what the watch delivers is what the store holds.

kubernetes_asyncio's generated methods turn every answer into a model object (``V1Pod``...),
and the store wants the JSON back: under load (200 Redis converging) that round trip was a
sixth of the operator's CPU. These calls go through ``ApiClient.call_api`` and answer the
decoded JSON as is. Errors are kubernetes_asyncio's: ``ApiException`` for an API refusal,
aiohttp's for transport trouble.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from redis_operator import api
from redis_operator.api import ChildKind

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
#: Page size of listings (client-go's informers list 500 at a time).
LIST_PAGE_SIZE = 500

_RESOURCES = {ChildKind.POD: "pods", ChildKind.SERVICE: "services"}


class KubeApi:
    """Pods, Services and Redis objects: create, delete, merge-patch and list."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client

    async def create(self, kind: ChildKind, namespace: str, body: Obj) -> Obj:
        return await self._call("POST", _child_path(kind, namespace), body)

    async def delete(self, kind: ChildKind, namespace: str, name: str, uid: str) -> None:
        """Delete if it is still the object with ``uid`` (else 409): never a successor."""
        options = {"preconditions": {"uid": uid}}
        await self._call("DELETE", _child_path(kind, namespace, name), options)

    async def patch(self, kind: ChildKind, namespace: str, name: str, patch: Obj) -> Obj:
        """A JSON merge patch: it replaces lists whole (a strategic merge would add to them)."""
        return await self._call("PATCH", _child_path(kind, namespace, name), patch, MERGE_PATCH)

    async def patch_redis(self, namespace: str, name: str, patch: Obj, *, status: bool) -> Obj:
        """Merge-patch a Redis' metadata, or its status through the status subresource."""
        path = _redis_path(namespace) + f"/{name}" + ("/status" if status else "")
        return await self._call("PATCH", path, patch, MERGE_PATCH)

    async def list_children(self, kind: ChildKind, namespace: str | None) -> list[Obj]:
        return await self._list(_child_path(kind, namespace))

    async def list_redis(self, namespace: str | None) -> list[Obj]:
        return await self._list(_redis_path(namespace))

    async def _list(self, path: str) -> list[Obj]:
        items: list[Obj] = []
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", LIST_PAGE_SIZE)]
            if token:
                query.append(("continue", token))
            page = await self._call("GET", path, None, query=query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    async def _call(
        self,
        method: str,
        path: str,
        body: Obj | None,
        content_type: str = "application/json",
        *,
        query: list[tuple[str, Any]] | None = None,
    ) -> Obj:
        answer: Obj = await self._client.call_api(
            path,
            method,
            query_params=query,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            # "object": json.loads, no model. 201 Created for POST, 200 for the rest.
            response_types_map={200: "object", 201: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        return answer


def _child_path(kind: ChildKind, namespace: str | None, name: str = "") -> str:
    scope = f"/api/v1/namespaces/{namespace}" if namespace else "/api/v1"
    return f"{scope}/{_RESOURCES[kind]}" + (f"/{name}" if name else "")


def _redis_path(namespace: str | None) -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{api.GROUP}/{api.VERSION}{scope}/{api.PLURAL}"
