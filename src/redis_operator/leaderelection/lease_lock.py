"""The Lease of leader election through the Kubernetes API: a ``LeaseLock`` on the client seam.

client-go's ``resourcelock.LeaseLock``: reads answer None for a missing Lease; every update is a
replace of the object last read or written, so that it fails with a conflict if the Lease
changed in between. The Lease travels as plain JSON through
:func:`redis_operator.kube.client.call`: what others put on it (labels, annotations, fields this
client does not know) goes back unchanged, and failures are
:mod:`redis_operator.kube.errors` types.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from redis_operator.kube.client import call
from redis_operator.kube.errors import ApiError
from redis_operator.leaderelection.election import LeaseRecord

API_VERSION = "coordination.k8s.io/v1"


class KubernetesLeaseLock:
    """A ``coordination.k8s.io/v1`` Lease via the API (needs get, create, update)."""

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self._client = api_client
        self._collection = f"/apis/{API_VERSION}/namespaces/{namespace}/leases"
        self._lease: dict[str, Any] | None = None

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await call(self._client, "GET", f"{self._collection}/{self.name}")
        except ApiError as exc:
            if exc.status == 404:
                self._lease = None
                return None
            raise
        self._lease = lease
        return LeaseRecord.from_spec(lease.get("spec") or {})

    async def create(self, record: LeaseRecord) -> None:
        body = {
            "apiVersion": API_VERSION,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        self._lease = await call(self._client, "POST", self._collection, body)

    async def update(self, record: LeaseRecord) -> None:
        if self._lease is None:
            raise RuntimeError("the Lease was not read or created yet")
        # The whole object as read (its resourceVersion included), only the spec's record
        # changed: labels or annotations others put on the Lease survive.
        spec = {**(self._lease.get("spec") or {}), **record.to_spec()}
        body = {**self._lease, "spec": spec}
        self._lease = await call(self._client, "PUT", f"{self._collection}/{self.name}", body)
