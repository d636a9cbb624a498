"""The webhook's one read: the pods and the Service that hold child names, metadata only.

:class:`ApiChildLookup` is the :class:`~redis_operator.webhook.policy.ChildLookup` of the running
operator, over its API client and RBAC.
"""

from __future__ import annotations

from kubernetes_asyncio import client

from redis_operator.kube.client import call
from redis_operator.kube.errors import ApiError
from redis_operator.webhook.policy import Obj

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
    both of which the operator has anyway. Each read gives up after ``timeout`` seconds
    (``WebhookSettings.lookup_timeout_seconds``).
    """

    def __init__(self, api_client: client.ApiClient, timeout: float) -> None:
        self.api_client = api_client
        self.timeout = timeout

    async def pods(self, namespace: str) -> list[Obj]:
        listing = await call(
            self.api_client,
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            accept=_METADATA_LIST,
            query=[("resourceVersion", "0")],
            request_timeout=self.timeout,
        )
        return list(listing.get("items") or [])

    async def service(self, namespace: str, name: str) -> Obj | None:
        try:
            return await call(
                self.api_client,
                "GET",
                f"/api/v1/namespaces/{namespace}/services/{name}",
                accept=_METADATA,
                request_timeout=self.timeout,
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
