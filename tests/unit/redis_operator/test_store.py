"""The store's pod index gives a pass exactly the pods it must look at."""

from __future__ import annotations

from typing import Any

from redis_operator.controller.store import Store


def pod(name: str, uid: str, rv: int, instance: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": instance} if instance else {}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": str(rv),
            "labels": labels,
        }
    }


def names(store: Store, redis: str) -> list[str]:
    return [p["metadata"]["name"] for p in store.candidate_pods("ns", redis)]


def test_candidates_by_child_name_and_by_instance_label() -> None:
    store = Store()
    for obj in (
        pod("cache-0", "a", 1),
        pod("cache-1", "b", 1),
        pod("cache-x", "c", 1),  # not an ordinal
        pod("cache-db-0", "d", 1),  # a child of "cache-db", not of "cache"
        pod("other", "e", 1, instance="cache"),
    ):
        store.pods.upsert(obj)
    assert names(store, "cache") == ["cache-0", "cache-1", "other"]
    assert names(store, "cache-db") == ["cache-db-0"]
    assert names(store, "missing") == []


def test_index_follows_relabelling_removal_and_ignores_late_events() -> None:
    store = Store()
    store.pods.upsert(pod("web", "a", 1, instance="cache"))
    store.pods.upsert(pod("web", "a", 2, instance="queue"))
    assert names(store, "cache") == [] and names(store, "queue") == ["web"]
    store.pods.upsert(pod("web", "a", 1, instance="cache"))  # older: ignored
    assert names(store, "cache") == [] and names(store, "queue") == ["web"]
    store.pods.remove(pod("web", "other-uid", 3))  # another object of that name: kept
    assert names(store, "queue") == ["web"]
    store.pods.remove(pod("web", "a", 3))
    assert names(store, "queue") == []


def test_a_late_event_of_the_version_held_changes_nothing() -> None:
    """The answer to removing a deleting object's last finalizer keeps its version: the watch's
    copy of that version (finalizer still on) must not bring it back."""
    store = Store()
    listed = pod("r", "a", 7) | {"metadata": pod("r", "a", 7)["metadata"] | {"finalizers": ["f"]}}
    store.redis.upsert(listed)
    released = pod("r", "a", 7)
    store.redis.upsert(released, answer=True)  # the same version, as the apiserver answers
    store.redis.upsert(listed)  # the watch, late
    assert store.redis.get("ns", "r") == released


def test_objects_are_kept_without_their_managed_fields() -> None:
    store = Store()
    body = pod("r-0", "u1", 5)
    body["metadata"]["managedFields"] = [{"manager": "kwok", "operation": "Update"}]
    store.pods.upsert(body)
    held = store.pods.get("ns", "r-0")
    assert held is not None and "managedFields" not in held["metadata"]
    assert held["metadata"]["name"] == "r-0" and names(store, "r") == ["r-0"]
    assert "managedFields" in body["metadata"]  # what was handed in is left as it was


def redis(name: str, uid: str, rv: int, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    body = pod(name, uid, rv)
    body["spec"] = {"auth": auth} if auth is not None else {}
    return body


def test_redis_objects_are_found_by_the_secret_holding_their_password() -> None:
    store = Store()
    store.redis.upsert(redis("a", "1", 1))
    store.redis.upsert(redis("b", "2", 1, {"secretRef": {"name": "shared"}}))
    store.redis.upsert(redis("c", "3", 1, {"secretRef": {"name": "shared"}}))
    store.redis.upsert(redis("d", "4", 1, {"disabled": True}))
    assert store.redis.password_users("ns", "a-auth") == [("ns", "a")]
    assert store.redis.password_users("ns", "shared") == [("ns", "b"), ("ns", "c")]
    assert store.redis.password_users("ns", "d-auth") == []
    store.redis.upsert(redis("b", "2", 2))  # back to its own generated Secret
    store.redis.remove(redis("c", "3", 2))
    assert store.redis.password_users("ns", "shared") == []
    assert store.redis.password_users("ns", "b-auth") == [("ns", "b")]
    late = redis("b", "2", 1, {"secretRef": {"name": "old"}})
    assert store.redis.upsert(late) is late
    assert store.redis.password_users("ns", "old") == []  # a late event changes nothing
