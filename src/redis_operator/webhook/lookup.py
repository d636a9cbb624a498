"""The webhook's one read: the pods and the Service that hold child names, metadata only.

:class:`ApiChildLookup` is the :class:`~redis_operator.webhook.policy.ChildLookup` of the running
operator, over its API client and RBAC.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from redis_operator.webhook.policy import LOOKUP_TIMEOUT_SECONDS, Obj

#: Ask for metadata only (PartialObjectMetadata), as kube-controller-manager's metadata
#: informers do: names and owner references are all the warnings need.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


class ApiChildLookup:
    """:class:`ChildLookup` over the API, with the operator's client and RBAC.

    Pods: one list of the namespace, metadata only, with ``resourceVersion=0`` so the apiserver
    answers from its watch cache without reading etcd. Pod names cannot be selected by prefix,
    and one list costs one round trip however many replicas are asked for (up to 100), where a
    GET per name would cost ``replicas`` round trips. Admission of a Redis is rare (a person or
    a pipeline applying it), so the list's size, proportional to the namespace's pods, is
    affordable. The Service is a single GET by name. RBAC: pods ``list``, services ``get``,
    both of which the operator has anyway.
    """

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    async def _get(self, path: str, accept: str, params: dict[str, str], **query: str) -> Any:
        return await self.api_client.call_api(
            path,
            "GET",
            path_params=params,
            query_params=list(query.items()),
            header_params={"Accept": accept},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _request_timeout=LOOKUP_TIMEOUT_SECONDS,
        )

    async def pods(self, namespace: str) -> list[Obj]:
        listing = await self._get(
            "/api/v1/namespaces/{namespace}/pods",
            _METADATA_LIST,
            {"namespace": namespace},
            resourceVersion="0",
        )
        return list(listing.get("items") or [])

    async def service(self, namespace: str, name: str) -> Obj | None:
        try:
            found: Obj = await self._get(
                "/api/v1/namespaces/{namespace}/services/{name}",
                _METADATA,
                {"namespace": namespace, "name": name},
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found
