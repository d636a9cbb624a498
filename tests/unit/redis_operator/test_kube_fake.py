"""The fake apiserver behaves like the real one where the reconciler depends on it."""

from __future__ import annotations

from typing import Any

import pytest

from redis_operator.api import ChildKind
from redis_operator.kube.client import NAMESPACE, REDIS, WEBHOOK_CONFIGURATION
from redis_operator.kube.errors import ApiError, TransportError, is_namespace_terminating
from redis_operator.kube.fake import FakeKubeApi, Verb, WatchEvent, merge_patch

NS = "ns"
POD = ChildKind.POD
SERVICE = ChildKind.SERVICE


def redis(name: str = "r") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"replicas": 1}}


def watching(fake: FakeKubeApi) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    fake.subscribe(events.append)
    return events


def seen(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object["metadata"]["name"]) for e in events]


def test_merge_patch_is_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"a": "b"}, {"a": {"c": None}}) == {"a": {}}
    assert target["c"] == {"d": "e", "f": "g"}  # not changed in place
    merged = merge_patch(target, {"a": "y"})
    merged["c"]["d"] = "changed"
    assert target["c"]["d"] == "e"  # nor shared


async def test_every_change_gets_a_new_resource_version_from_one_counter() -> None:
    fake = FakeKubeApi()
    first = fake.create_object(REDIS, NS, redis("a"))
    second = await fake.create(POD, NS, {"metadata": {"name": "p"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    patched = fake.patch_object(REDIS, NS, "a", {"metadata": {"labels": {"x": "y"}}})
    assert int(patched["metadata"]["resourceVersion"]) > int(second["metadata"]["resourceVersion"])
    same = fake.patch_object(REDIS, NS, "a", {"metadata": {"labels": {"x": "y"}}})
    assert same == patched  # a change that changes nothing is no write


def test_generation_moves_with_the_spec_only() -> None:
    fake = FakeKubeApi()
    assert fake.create_object(REDIS, NS, redis())["metadata"]["generation"] == 1
    fake.patch_object(REDIS, NS, "r", {"metadata": {"finalizers": ["f"]}})
    fake.patch_object(REDIS, NS, "r", {"status": {"replicas": 3}}, status=True)
    assert fake.get(REDIS, NS, "r")["metadata"]["generation"] == 1  # type: ignore[index]
    fake.patch_object(REDIS, NS, "r", {"spec": {"replicas": 2}})
    fake.patch_object(REDIS, NS, "r", {"spec": {"replicas": 2}})
    assert fake.get(REDIS, NS, "r")["metadata"]["generation"] == 2  # type: ignore[index]


def test_status_subresource() -> None:
    fake = FakeKubeApi()
    fake.create_object(REDIS, NS, redis() | {"status": {"replicas": 9}})
    assert "status" not in fake.get(REDIS, NS, "r")  # type: ignore[operator]
    fake.patch_object(
        REDIS, NS, "r", {"status": {"replicas": 1}, "spec": {"replicas": 5}}, status=True
    )
    fake.patch_object(
        REDIS, NS, "r", {"status": {"replicas": 7}, "metadata": {"labels": {"a": "b"}}}
    )
    obj = fake.get(REDIS, NS, "r")
    assert obj is not None
    assert obj["status"] == {"replicas": 1} and obj["spec"] == {"replicas": 1}
    assert obj["metadata"]["labels"] == {"a": "b"}
    pod = fake.create_object(POD, NS, {"metadata": {"name": "p"}})
    assert pod["status"] == {"phase": "Pending"}


def test_create_of_an_existing_name_and_calls_on_a_missing_object() -> None:
    fake = FakeKubeApi()
    fake.create_object(SERVICE, NS, {"metadata": {"name": "s"}})
    with pytest.raises(ApiError) as exists:
        fake.create_object(SERVICE, NS, {"metadata": {"name": "s"}})
    assert (exists.value.status, exists.value.reason) == (409, "AlreadyExists")
    assert exists.value.retryable
    for call in (
        lambda: fake.patch_object(SERVICE, NS, "missing", {}),
        lambda: fake.delete_object(SERVICE, NS, "missing"),
    ):
        with pytest.raises(ApiError) as missing:
            call()
        assert (missing.value.status, missing.value.reason) == (404, "NotFound")
        assert not missing.value.retryable
    fake.create_object(SERVICE, "other", {"metadata": {"name": "s"}})
    assert fake.get(SERVICE, "other", "s") is not None  # namespaces are apart


def test_delete_with_a_uid_precondition() -> None:
    fake = FakeKubeApi()
    old = fake.create_object(SERVICE, NS, {"metadata": {"name": "s"}})
    fake.delete_object(SERVICE, NS, "s", uid=old["metadata"]["uid"])
    new = fake.create_object(SERVICE, NS, {"metadata": {"name": "s"}})
    with pytest.raises(ApiError) as refused:
        fake.delete_object(SERVICE, NS, "s", uid=old["metadata"]["uid"])
    assert refused.value.status == 409 and "Precondition failed" in refused.value.message
    assert fake.get(SERVICE, NS, "s") == new


def test_a_stale_resource_version_in_a_patch_conflicts() -> None:
    fake = FakeKubeApi()
    created = fake.create_object(REDIS, NS, redis())
    fake.patch_object(REDIS, NS, "r", {"spec": {"replicas": 2}})
    stale = {
        "metadata": {"finalizers": ["f"], "resourceVersion": created["metadata"]["resourceVersion"]}
    }
    with pytest.raises(ApiError) as conflict:
        fake.patch_object(REDIS, NS, "r", stale)
    assert (conflict.value.status, conflict.value.reason) == (409, "Conflict")
    current = fake.get(REDIS, NS, "r")
    assert current is not None and "finalizers" not in current["metadata"]
    fresh = {
        "metadata": {"finalizers": ["f"], "resourceVersion": current["metadata"]["resourceVersion"]}
    }
    assert fake.patch_object(REDIS, NS, "r", fresh)["metadata"]["finalizers"] == ["f"]


def test_finalizers_block_deletion_until_the_last_one_goes() -> None:
    fake = FakeKubeApi()
    events = watching(fake)
    fake.create_object(REDIS, NS, redis() | {"metadata": {"name": "r", "finalizers": ["a", "b"]}})
    fake.delete_object(REDIS, NS, "r")
    marked = fake.get(REDIS, NS, "r")
    assert marked is not None and marked["metadata"]["deletionTimestamp"]
    fake.patch_object(REDIS, NS, "r", {"metadata": {"finalizers": ["b"]}})
    assert fake.get(REDIS, NS, "r") is not None
    version = fake.get(REDIS, NS, "r")["metadata"]["resourceVersion"]  # type: ignore[index]
    answer = fake.patch_object(REDIS, NS, "r", {"metadata": {"finalizers": []}})
    assert answer["metadata"]["finalizers"] == []
    assert answer["metadata"]["resourceVersion"] == version  # as kube-apiserver answers
    assert fake.get(REDIS, NS, "r") is None
    fake.deliver()
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]


@pytest.mark.parametrize(
    ("propagation", "finalizer"), [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")]
)
def test_a_delete_that_propagates_leaves_the_owner_to_the_garbage_collector(
    propagation: str, finalizer: str
) -> None:
    fake = FakeKubeApi()
    fake.create_object(REDIS, NS, redis() | {"metadata": {"name": "r", "finalizers": ["a"]}})
    fake.delete_object(REDIS, NS, "r", propagation=propagation)  # type: ignore[arg-type]
    marked = fake.get(REDIS, NS, "r")
    assert marked is not None and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["finalizers"] == ["a", finalizer]
    fake.create_object(REDIS, NS, redis("s"))
    fake.delete_object(REDIS, NS, "s")  # background: gone at once
    assert fake.get(REDIS, NS, "s") is None


def test_a_terminating_namespace_refuses_creates_only() -> None:
    fake = FakeKubeApi()
    events = watching(fake)
    fake.create_object(POD, NS, {"metadata": {"name": "p"}})
    fake.create_object(REDIS, NS, redis())
    fake.terminate_namespace(NS)
    with pytest.raises(ApiError) as refused:
        fake.create_object(POD, NS, {"metadata": {"name": "q"}})
    assert refused.value.status == 403 and is_namespace_terminating(refused.value)
    assert "because it is being terminated" in refused.value.message
    fake.create_object(POD, "elsewhere", {"metadata": {"name": "q"}})
    fake.patch_object(REDIS, NS, "r", {"status": {"replicas": 1}}, status=True)
    fake.delete_object(POD, NS, "p", grace_period=0)
    namespace = fake.get(NAMESPACE, "", NS)
    assert namespace is not None and namespace["status"] == {"phase": "Terminating"}
    assert "namespace" not in namespace["metadata"]  # cluster-scoped
    fake.remove_namespace(NS)
    assert fake.objects(REDIS, NS) == [] and fake.get(NAMESPACE, "", NS) is None
    fake.create_object(POD, NS, {"metadata": {"name": "p"}})  # a new namespace of that name
    fake.deliver()
    assert [(e.type, e.kind) for e in events if e.kind in (NAMESPACE, REDIS)] == [
        ("ADDED", REDIS),
        ("ADDED", NAMESPACE),
        ("MODIFIED", NAMESPACE),
        ("MODIFIED", REDIS),
        ("DELETED", REDIS),
        ("DELETED", NAMESPACE),
    ]


def test_pods_are_deleted_gracefully() -> None:
    fake = FakeKubeApi()
    fake.create_object(POD, NS, {"metadata": {"name": "p"}})
    fake.delete_object(POD, NS, "p")
    pod = fake.get(POD, NS, "p")
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    fake.delete_object(POD, NS, "p")  # again: still terminating
    assert fake.get(POD, NS, "p") is not None
    fake.delete_object(POD, NS, "p", grace_period=0)  # the kubelet is done
    assert fake.get(POD, NS, "p") is None
    fake.create_object(SERVICE, NS, {"metadata": {"name": "s"}})
    fake.delete_object(SERVICE, NS, "s")
    assert fake.get(SERVICE, NS, "s") is None


async def test_watch_events_wait_for_delivery_and_come_in_order() -> None:
    fake = FakeKubeApi()
    events = watching(fake)
    fake.create_object(POD, NS, {"metadata": {"name": "a"}})
    await fake.create(POD, NS, {"metadata": {"name": "b"}})
    fake.delete_object(POD, NS, "a", grace_period=0)
    assert events == [] and fake.undelivered == 3
    assert fake.deliver() == 3
    assert seen(events) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    versions = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    events[0].object["metadata"]["name"] = "changed"  # a copy
    assert fake.get(POD, NS, "b") is not None


async def test_the_operator_s_writes_are_logged_in_order_and_lists_are_not() -> None:
    fake = FakeKubeApi()
    fake.create_object(REDIS, NS, redis())  # someone else's write: not logged
    pod = await fake.create(POD, NS, {"metadata": {"name": "p"}})
    await fake.patch(POD, NS, "p", {"metadata": {"labels": {"a": "b"}}})
    await fake.patch_redis(NS, "r", {"status": {"replicas": 1}}, status=True)
    await fake.patch_redis(NS, "r", {"metadata": {"labels": {"a": "b"}}}, status=False)
    await fake.delete(POD, NS, "p", pod["metadata"]["uid"])
    assert [p["metadata"]["name"] for p in (await fake.list_objects(POD, None)).items] == ["p"]
    assert len((await fake.list_objects(REDIS, NS)).items) == 1
    assert [(w.verb, w.kind, w.name) for w in fake.writes] == [
        (Verb.CREATE, POD, "p"),
        (Verb.PATCH, POD, "p"),
        (Verb.PATCH_STATUS, REDIS, "r"),
        (Verb.PATCH, REDIS, "r"),
        (Verb.DELETE, POD, "p"),
    ]
    assert fake.writes[-1].body == {"preconditions": {"uid": pod["metadata"]["uid"]}}


async def test_scripted_failures() -> None:
    fake = FakeKubeApi()
    refused = ApiError(403, "Forbidden", "no")
    fake.fail(Verb.CREATE, POD, refused, times=2, name="p")
    fake.fail(Verb.LIST, SERVICE, TransportError("down"))
    for _ in range(2):
        with pytest.raises(ApiError):
            await fake.create(POD, NS, {"metadata": {"name": "p"}})
    await fake.create(POD, NS, {"metadata": {"name": "q"}})  # another name: not scripted
    await fake.create(POD, NS, {"metadata": {"name": "p"}})  # used up
    with pytest.raises(TransportError):
        await fake.list_objects(SERVICE, NS)
    assert (await fake.list_objects(SERVICE, NS)).items == []
    assert [(w.name, w.error) for w in fake.writes] == [
        ("p", refused),
        ("p", refused),
        ("q", None),
        ("p", None),
    ]
    fake.fail(Verb.DELETE, POD, refused)
    fake.clear_failures()
    await fake.delete(POD, NS, "q", fake.get(POD, NS, "q")["metadata"]["uid"])  # type: ignore[index]


async def test_a_secret_replace_needs_the_current_resource_version() -> None:
    fake = FakeKubeApi()
    created = await fake.create_secret(NS, {"metadata": {"name": "s"}, "data": {"a": "MQ=="}})
    stale = {"metadata": {"name": "s", "resourceVersion": "0"}, "data": {"a": "Mg=="}}
    with pytest.raises(ApiError) as refused:
        await fake.replace_secret(NS, "s", stale)
    assert refused.value.status == 409
    current = {
        **stale,
        "metadata": {"name": "s", "resourceVersion": created["metadata"]["resourceVersion"]},
    }
    replaced = await fake.replace_secret(NS, "s", current)
    assert replaced["data"] == {"a": "Mg=="}
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert [(w.verb, w.error is None) for w in fake.writes] == [
        (Verb.CREATE, True),
        (Verb.REPLACE, False),
        (Verb.REPLACE, True),
    ]


async def test_a_webhook_configuration_is_cluster_scoped_and_json_patched() -> None:
    fake = FakeKubeApi()
    events = watching(fake)
    fake.create_object(
        WEBHOOK_CONFIGURATION, "", {"metadata": {"name": "c"}, "webhooks": [{"name": "w"}]}
    )
    stored = await fake.read_webhook_configuration("c")
    assert stored is not None and "namespace" not in stored["metadata"]
    assert await fake.read_webhook_configuration("absent") is None
    patched = await fake.patch_webhook_configuration(
        "c",
        [
            {"op": "test", "path": "/webhooks/0/name", "value": "w"},
            {"op": "add", "path": "/webhooks/0/clientConfig", "value": {"caBundle": "eA=="}},
        ],
    )
    assert patched["webhooks"] == [{"name": "w", "clientConfig": {"caBundle": "eA=="}}]
    before = fake.get(WEBHOOK_CONFIGURATION, "", "c")
    for operations in (
        [{"op": "test", "path": "/webhooks/0/name", "value": "other"}],
        [{"op": "add", "path": "/webhooks/5/clientConfig/caBundle", "value": "x"}],
        [{"op": "remove", "path": "/webhooks/0/absent"}],
    ):
        with pytest.raises(ApiError) as refused:
            await fake.patch_webhook_configuration("c", operations)
        assert refused.value.status == 422
    assert fake.get(WEBHOOK_CONFIGURATION, "", "c") == before  # all or nothing
    assert fake.deliver() == 0 and events == []  # not watched
