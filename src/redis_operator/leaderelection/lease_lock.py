"""The Lease of leader election through the Kubernetes API: a ``LeaseLock`` on kubernetes_asyncio.

client-go's ``resourcelock.LeaseLock``: reads answer None for a missing Lease; every update is a
replace of the object last read or written, so that it fails with a conflict if the Lease
changed in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from redis_operator.leaderelection.election import LeaseRecord


class KubernetesLeaseLock:
    """A ``coordination.k8s.io/v1`` Lease via kubernetes_asyncio (needs get, create, update)."""

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self._api = client.CoordinationV1Api(api_client)
        self._serialize: Callable[[Any], Any] = api_client.sanitize_for_serialization
        self._lease: dict[str, Any] | None = None

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await self._api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                self._lease = None
                return None
            raise
        self._lease = self._serialize(lease)
        return LeaseRecord.from_spec(self._lease.get("spec") or {})

    async def create(self, record: LeaseRecord) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        self._lease = self._serialize(await self._api.create_namespaced_lease(self.namespace, body))

    async def update(self, record: LeaseRecord) -> None:
        if self._lease is None:
            raise RuntimeError("the Lease was not read or created yet")
        # The whole object as read (its resourceVersion included), only the spec's record
        # changed: labels or annotations others put on the Lease survive.
        spec = {**(self._lease.get("spec") or {}), **record.to_spec()}
        body = {**self._lease, "spec": spec}
        updated = await self._api.replace_namespaced_lease(self.name, self.namespace, body)
        self._lease = self._serialize(updated)
