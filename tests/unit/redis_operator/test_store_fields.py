"""The store keeps every field the operator reads of a pod or Service (``POD_FIELDS``,
``SERVICE_FIELDS``): passes run over held objects that record each field read, as the apiserver
and kubelet fill them, and every field read must be one the store keeps."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from redis_operator.controller.replicator import Replicator
from redis_operator.controller.store import POD_FIELDS, SERVICE_FIELDS, Bucket, Fields, projected
from redis_operator.kube.client import REDIS
from redis_operator.replication.fake import FakeRedisServers
from redis_operator.settings import ReplicationSettings
from tests.unit.redis_operator.support import NS, Controller, make_controller, redis_body
from tests.unit.redis_operator.test_reconciler import edit_spec, settle
from tests.unit.redis_operator.test_replicator import PORT, run_pods

Path = tuple[str, ...]

#: What the apiserver, the scheduler and the kubelet add to a pod the operator creates.
POD_DEFAULTS: dict[str, Any] = {
    "metadata": {
        "uid": "4f6c",
        "resourceVersion": "9",
        "creationTimestamp": "2026-12-01T10:00:00Z",
        "generation": 1,
    },
    "spec": {
        "nodeName": "kwok-node-0",
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
        ],
        "priority": 0,
    },
    "status": {
        "hostIP": "10.0.0.1",
        "hostIPs": [{"ip": "10.0.0.1"}],
        "podIPs": [{"ip": "10.244.0.9"}],
        "qosClass": "Burstable",
        "startTime": "2026-12-01T10:00:01Z",
        "containerStatuses": [
            {"name": "redis", "ready": True, "restartCount": 0, "state": {"running": {}}}
        ],
    },
}

#: What the apiserver adds to a Service.
SERVICE_DEFAULTS: dict[str, Any] = {
    "metadata": {"uid": "7a1b", "resourceVersion": "8"},
    "spec": {
        "clusterIP": "None",
        "clusterIPs": ["None"],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    },
    "status": {"loadBalancer": {}},
}


def filled(obj: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` with the ``defaults`` it lacks, mapping by mapping."""
    full = copy.deepcopy(dict(obj))
    for key, value in defaults.items():
        have = full.get(key)
        if isinstance(value, Mapping) and isinstance(have, Mapping):
            full[key] = filled(have, value)
        elif key not in full:
            full[key] = copy.deepcopy(value)
    return full


class Recording(Mapping[str, Any]):
    """A mapping that notes the path of each key read (of a list, of each of its mappings)."""

    def __init__(self, data: Mapping[str, Any], path: Path, reads: set[Path]) -> None:
        self.data, self._path, self._reads = data, path, reads

    def _wrap(self, value: Any, path: Path) -> Any:
        if isinstance(value, Mapping):
            return Recording(value, path, self._reads)
        if isinstance(value, list):
            return [self._wrap(item, path) for item in value]
        return value

    def __getitem__(self, key: str) -> Any:
        path = (*self._path, key)
        self._reads.add(path)
        return self._wrap(self.data[key], path)

    def __iter__(self) -> Iterator[str]:
        self._reads.update((*self._path, key) for key in self.data)
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def kept(path: Path, fields: Fields | None) -> bool:
    for key in path:
        if fields is None:
            return True
        if key not in fields:
            return False
        fields = fields[key]
    return True


def record(bucket: Bucket, defaults: Mapping[str, Any], reads: set[Path]) -> None:
    """Put each held object back as the cluster has it, recording what is read of it."""
    for objects in bucket.by_namespace.values():
        for name, obj in objects.items():
            full = obj.data if isinstance(obj, Recording) else filled(obj, defaults)
            objects[name] = Recording(full, (), reads)


async def passes_reading(c: Controller, rounds: int = 3) -> tuple[set[Path], set[Path]]:
    """The fields of pods and of Services that ``rounds`` passes over the held ones read."""
    pod_reads: set[Path] = set()
    service_reads: set[Path] = set()
    for _ in range(rounds):
        c.deliver()
        record(c.store.pods, POD_DEFAULTS, pod_reads)
        record(c.store.services, SERVICE_DEFAULTS, service_reads)
        await c.reconcile()
    assert pod_reads and service_reads  # the passes did look at them
    return pod_reads, service_reads


def assert_kept(pod_reads: set[Path], service_reads: set[Path]) -> None:
    assert sorted(p for p in pod_reads if not kept(p, POD_FIELDS)) == []
    assert sorted(p for p in service_reads if not kept(p, SERVICE_FIELDS)) == []


def test_a_projection_keeps_what_it_names_and_adds_nothing() -> None:
    pod = filled({"metadata": {"name": "r-0"}, "status": {"phase": "Running"}}, POD_DEFAULTS)
    held = projected(pod, POD_FIELDS)
    assert held["metadata"] == pod["metadata"] and held["status"] == {"phase": "Running"}
    assert held["spec"] == {}
    assert "nodeName" not in held["spec"] and "containerStatuses" not in held["status"]
    assert projected({"spec": {"containers": [{"name": "a", "tty": True}]}}, POD_FIELDS) == {
        "spec": {"containers": [{"name": "a"}]}
    }


def test_what_is_kept_of_a_full_pod_is_found_by_these_checks() -> None:
    reads: set[Path] = set()
    Recording({"status": {"hostIP": "10.0.0.1"}}, (), reads)["status"]["hostIP"]
    assert reads == {("status",), ("status", "hostIP")}
    assert not kept(("status", "hostIP"), POD_FIELDS)
    assert kept(("metadata", "annotations", "x"), POD_FIELDS)


async def test_passes_of_a_standalone_redis_read_only_kept_fields() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body(replicas=3))
    c.deliver()
    await c.reconcile()
    settle(c)
    pod_reads, service_reads = await passes_reading(c)
    edit_spec(c, image="redis:8-alpine", replicas=2)  # replaces the pods, one goes
    more = await passes_reading(c)
    settle(c)
    assert_kept(pod_reads | more[0], service_reads | more[1])
    assert ("status", "conditions") in pod_reads  # readiness was looked at


async def test_passes_of_a_replicated_redis_read_only_kept_fields() -> None:
    c = make_controller()
    servers = FakeRedisServers()
    c.reconciler.replicator = Replicator(c.fake, servers, ReplicationSettings())
    body = redis_body(replicas=3, port=PORT)
    body["spec"]["mode"] = "replication"
    c.fake.create_object(REDIS, NS, body)
    c.deliver()
    await c.reconcile()
    run_pods(c, servers)
    pod_reads, service_reads = await passes_reading(c, rounds=5)
    assert_kept(pod_reads, service_reads)
    assert ("status", "podIP") in pod_reads  # the replicator dialled the pods
