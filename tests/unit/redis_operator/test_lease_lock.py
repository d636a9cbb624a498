"""The Kubernetes Lease lock over a tiny Lease apiserver behind ``call_api``: none until created,
updates that carry the whole object as read (so a Lease changed meanwhile is a conflict), only
KubeError types raised; and two electors taking turns through it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from redis_operator.kube.errors import ApiError, TransportError
from redis_operator.leaderelection.election import (
    LeaderElectionConfig,
    LeaderElector,
    LeaseRecord,
)
from redis_operator.leaderelection.lease_lock import KubernetesLeaseLock
from tests.unit.redis_operator.support import as_response, status_exception

LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class LeaseApiClient:
    """Leases in one namespace, as the apiserver keeps them: a new resourceVersion per write,
    404 for a missing one, 409 for a create of an existing one or a stale replace."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail: BaseException | None = None
        self._revision = 0

    async def call_api(self, path: str, method: str, *, body: Any = None, **_: Any) -> Any:
        self.requests.append((method, path, copy.deepcopy(body)))
        if self.fail is not None:
            raise self.fail
        try:
            return as_response(self._answer(path, method, body))
        except ApiException as exc:
            return as_response(exc)

    def _answer(self, path: str, method: str, body: Any) -> dict[str, Any]:
        if method == "POST" and path == LEASES:
            name = body["metadata"]["name"]
            if name in self.leases:
                raise status_exception(409, "AlreadyExists", f'leases "{name}" already exists')
            return self._store(name, body)
        assert path.startswith(LEASES + "/"), path
        name = path.removeprefix(LEASES + "/")
        if name not in self.leases:
            raise status_exception(404, "NotFound", f'leases "{name}" not found')
        if method == "GET":
            return copy.deepcopy(self.leases[name])
        assert method == "PUT", method
        current = self.leases[name]["metadata"]["resourceVersion"]
        if body["metadata"].get("resourceVersion") != current:
            raise status_exception(409, "Conflict", "the object has been modified")
        return self._store(name, body)

    def _store(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._revision += 1
        lease = copy.deepcopy(body)
        lease["metadata"]["resourceVersion"] = str(self._revision)
        self.leases[name] = lease
        return copy.deepcopy(lease)

    def edit(self, name: str, **labels: str) -> None:
        """Someone else labels the Lease (a new resourceVersion)."""
        lease = copy.deepcopy(self.leases[name])
        lease["metadata"].setdefault("labels", {}).update(labels)
        self._store(name, lease)


def record(holder: str, seconds: float = 0) -> LeaseRecord:
    at = EPOCH + timedelta(seconds=seconds)
    return LeaseRecord(holder, 15, at, at, 0)


async def test_no_lease_until_created() -> None:
    server = LeaseApiClient()
    lock = KubernetesLeaseLock(server, "ns", "leader")
    assert await lock.get() is None
    await lock.create(record("a"))
    assert await lock.get() == record("a")
    method, path, body = server.requests[1]
    assert (method, path) == ("POST", LEASES)
    assert body["apiVersion"] == "coordination.k8s.io/v1" and body["kind"] == "Lease"
    assert body["metadata"] == {"name": "leader", "namespace": "ns"}


async def test_an_update_replaces_the_whole_lease_as_read() -> None:
    server = LeaseApiClient()
    lock = KubernetesLeaseLock(server, "ns", "leader")
    await lock.create(record("a"))
    server.edit("leader", team="ops")
    server.leases["leader"]["spec"]["strategy"] = "OldestEmulationVersion"  # unknown to us
    await lock.get()
    await lock.update(record("a", 2))
    method, path, body = server.requests[-1]
    assert (method, path) == ("PUT", f"{LEASES}/leader")
    assert body["metadata"]["resourceVersion"] == "2"  # the version read
    stored = server.leases["leader"]
    assert stored["metadata"]["labels"] == {"team": "ops"}
    assert stored["spec"]["strategy"] == "OldestEmulationVersion"
    assert LeaseRecord.from_spec(stored["spec"]) == record("a", 2)
    # The next update goes on from the version the last one answered.
    await lock.update(record("a", 4))
    assert LeaseRecord.from_spec(server.leases["leader"]["spec"]) == record("a", 4)


async def test_a_lease_changed_since_it_was_read_is_a_conflict() -> None:
    server = LeaseApiClient()
    lock = KubernetesLeaseLock(server, "ns", "leader")
    await lock.create(record("a"))
    server.edit("leader", team="ops")
    with pytest.raises(ApiError) as conflict:
        await lock.update(record("a", 2))
    assert conflict.value.status == 409 and conflict.value.retryable
    with pytest.raises(ApiError) as exists:
        await KubernetesLeaseLock(server, "ns", "leader").create(record("b"))
    assert exists.value.reason == "AlreadyExists"


async def test_failures_are_kube_errors() -> None:
    server = LeaseApiClient()
    lock = KubernetesLeaseLock(server, "ns", "leader")
    with pytest.raises(RuntimeError):
        await lock.update(record("a"))  # nothing read or created yet: no version to carry
    server.fail = status_exception(403, "Forbidden", 'leases "leader" is forbidden')
    with pytest.raises(ApiError) as forbidden:
        await lock.get()
    assert forbidden.value.status == 403 and not forbidden.value.retryable
    server.fail = aiohttp.ServerDisconnectedError()
    with pytest.raises(TransportError):
        await lock.get()


class StillClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_two_electors_take_turns_through_the_lease() -> None:
    server, clock = LeaseApiClient(), StillClock()

    def elector(identity: str) -> LeaderElector:
        config = LeaderElectionConfig(namespace="ns", name="leader", identity=identity)
        return LeaderElector(KubernetesLeaseLock(server, "ns", "leader"), config, clock=clock)

    first, second = elector("first"), elector("second")
    assert await first.try_acquire_or_renew()
    assert not await second.try_acquire_or_renew()
    assert second.leader == "first"
    await clock.sleep(2)
    assert await first.try_acquire_or_renew()  # renewed on the version it wrote last
    assert await first.release()
    assert await second.try_acquire_or_renew()
    spec = server.leases["leader"]["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("second", 1)
    assert not await first.try_acquire_or_renew()
    assert first.leader == "second"
