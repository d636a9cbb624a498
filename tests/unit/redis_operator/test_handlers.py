"""Watch events and listings feed the store and queue the Redis they concern."""

from __future__ import annotations

from typing import Any

from redis_operator.api import ChildKind
from redis_operator.children import AUTH_SECRET_LABEL
from redis_operator.controller.handlers import WATCHED, informers
from redis_operator.kube.client import NAMESPACE, REDIS, SECRET
from tests.unit.redis_operator.support import NAME, NS, Controller, make_controller, redis_body

KEY = (NS, NAME)


async def queued(c: Controller) -> list[tuple[str, str]]:
    """The keys queued now, in order (taken off the queue)."""
    keys = []
    while len(c.queue):
        key = await c.queue.get()
        c.queue.done(key)
        keys.append(key)
    return keys


async def test_a_listing_fills_the_store_and_queues_every_redis() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body())
    c.fake.create_object(REDIS, "other", redis_body(name="b"))
    c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.fake.create_object(ChildKind.SERVICE, NS, {"metadata": {"name": NAME}})
    for kind in WATCHED:
        c.handlers.replace(kind, NS, await c.fake.list_objects(kind, NS))
    assert c.store.pods.get(NS, f"{NAME}-0") is not None
    assert c.store.services.get(NS, NAME) is not None
    assert c.store.redis.get("other", "b") is None  # not the namespace listed
    assert await queued(c) == [KEY]
    c.handlers.replace(REDIS, None, await c.fake.list_objects(REDIS, None))
    assert sorted(await queued(c)) == [(NS, NAME), ("other", "b")]


async def test_a_listing_drops_what_went_while_nobody_watched() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body())
    pod = c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.fake.create_object(ChildKind.POD, "other", {"metadata": {"name": f"{NAME}-0"}})
    c.deliver()
    await queued(c)
    c.own_writes.expectations(KEY).record(0.0, {(ChildKind.POD, f"{NAME}-0")}, {})
    c.fake.delete_object(ChildKind.POD, NS, f"{NAME}-0", grace_period=0)
    c.fake.delete_object(REDIS, NS, NAME)
    assert c.fake.lose_events() == 2  # the watch never told
    assert c.store.pods.get(NS, f"{NAME}-0") == pod

    c.handlers.replace(ChildKind.POD, NS, await c.fake.list_objects(ChildKind.POD, NS))
    assert c.store.pods.get(NS, f"{NAME}-0") is None  # the DELETED it missed, handled
    assert not c.own_writes.expectations(KEY).creates
    assert c.store.pods.get("other", f"{NAME}-0") is not None  # another scope: untouched
    c.handlers.replace(REDIS, None, await c.fake.list_objects(REDIS, None))
    assert c.store.redis.get(NS, NAME) is None
    assert await queued(c) == [KEY]  # the pod's owner looked at once more: it is gone


async def test_a_listing_replaces_an_object_recreated_under_the_same_name() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body())
    c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.deliver()
    c.own_writes.expectations(KEY).record(0.0, {(ChildKind.POD, f"{NAME}-0")}, {})
    c.fake.delete_object(ChildKind.POD, NS, f"{NAME}-0", grace_period=0)
    again = c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.fake.lose_events()
    c.handlers.replace(ChildKind.POD, None, await c.fake.list_objects(ChildKind.POD, None))
    assert c.store.pods.get(NS, f"{NAME}-0") == again
    assert not c.own_writes.expectations(KEY).creates  # the old one's DELETED, handled


async def test_a_listing_keeps_an_object_newer_than_itself() -> None:
    """Our own create's answer is stored before its event; a listing taken just before it
    lacks it, and the watch from that listing will bring it."""
    c = make_controller()
    taken = await c.fake.list_objects(ChildKind.POD, NS)
    pod = c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.store.pods.upsert(pod, answer=True)
    c.handlers.replace(ChildKind.POD, NS, taken)
    assert c.store.pods.get(NS, f"{NAME}-0") == pod


async def test_a_namespace_listing_forgets_namespaces_that_went() -> None:
    c = make_controller()
    c.fake.create_object(NAMESPACE, "", {"metadata": {"name": NS}})
    c.fake.create_object(NAMESPACE, "", {"metadata": {"name": "kept"}})
    c.fake.terminate_namespace(NS)
    c.fake.terminate_namespace("kept")
    c.deliver()
    c.store.terminating.refuse("refused-only", c.clock.now())
    assert NS in c.store.terminating and "refused-only" in c.store.terminating
    c.fake.remove_namespace(NS)
    c.fake.lose_events()
    c.handlers.replace(NAMESPACE, None, await c.fake.list_objects(NAMESPACE, None))
    assert NS not in c.store.terminating and "refused-only" not in c.store.terminating
    assert "kept" in c.store.terminating


async def test_child_events_queue_the_redis_they_concern() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body())
    c.deliver()
    assert await queued(c) == [KEY]
    reference = {
        "apiVersion": "myapp.tangx.in/v2",
        "kind": "Redis",
        "name": NAME,
        "controller": True,
    }
    owned: dict[str, Any] = {
        "name": "x",
        "namespace": NS,
        "uid": "1",
        "ownerReferences": [reference],
    }
    events = [
        (ChildKind.POD, {"metadata": owned}),  # its controller, whatever the version
        (ChildKind.POD, {"metadata": {"name": f"{NAME}-3", "namespace": NS, "uid": "2"}}),
        (ChildKind.SERVICE, {"metadata": {"name": NAME, "namespace": NS, "uid": "3"}}),
    ]
    for kind, body in events:
        c.handlers.on_child(kind, "ADDED", body)
        assert await queued(c) == [KEY], body
    for kind, body in (
        (ChildKind.POD, {"metadata": {"name": f"{NAME}-01", "namespace": NS, "uid": "4"}}),
        (ChildKind.POD, {"metadata": {"name": "web-0", "namespace": NS, "uid": "5"}}),
        (ChildKind.POD, {"metadata": {"name": f"{NAME}-0", "namespace": "elsewhere"}}),
    ):
        c.handlers.on_child(kind, "ADDED", body)
        assert await queued(c) == [], body
    c.handlers.on_child(ChildKind.POD, "DELETED", events[1][1])
    assert c.store.pods.get(NS, f"{NAME}-3") is None
    assert await queued(c) == [KEY]


async def test_a_deleted_redis_is_forgotten() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body(replicas=1))
    c.deliver()
    await c.reconcile()
    c.queue.add_rate_limited(KEY)
    c.own_writes.pod_deleted(KEY, f"{NAME}-0")
    c.fake.patch_object(REDIS, NS, NAME, {"metadata": {"finalizers": []}})
    c.fake.delete_object(REDIS, NS, NAME)
    c.deliver()
    assert c.store.redis.get(NS, NAME) is None
    assert c.queue.failures(KEY) == 0
    assert c.own_writes.deleted_by_us(KEY) == frozenset()
    assert not c.own_writes.expectations(KEY).creates


async def test_events_of_every_kind_reach_their_handler() -> None:
    c = make_controller()
    redis = c.fake.create_object(REDIS, NS, redis_body())
    c.handlers.event(REDIS, "ADDED", redis)
    pod = {"metadata": {"name": f"{NAME}-0", "namespace": NS, "uid": "p"}}
    c.handlers.event(ChildKind.POD, "ADDED", pod)
    service = {"metadata": {"name": NAME, "namespace": NS, "uid": "s"}}
    c.handlers.event(ChildKind.SERVICE, "MODIFIED", service)
    assert c.store.redis.get(NS, NAME) == redis
    assert c.store.pods.get(NS, f"{NAME}-0") == pod
    assert c.store.services.get(NS, NAME) == service
    assert await queued(c) == [KEY]
    namespace = {"metadata": {"name": NS, "deletionTimestamp": "2024-05-01T12:00:00Z"}}
    c.handlers.event(NAMESPACE, "MODIFIED", namespace)
    assert NS in c.store.terminating
    assert await queued(c) == []  # a namespace's event queues no pass


def test_one_informer_per_kind_and_namespace_and_one_for_namespaces() -> None:
    c = make_controller()
    built = informers(c.fake, c.handlers, ["a", "b"], (1.0,))
    assert sorted((i.kind, i.namespace) for i in built if i.kind != NAMESPACE) == sorted(
        (kind, ns) for kind in WATCHED for ns in ("a", "b")
    )
    assert [(i.kind, i.namespace) for i in built if i.kind == NAMESPACE] == [(NAMESPACE, None)]
    assert {(i.kind, i.namespace) for i in informers(c.fake, c.handlers, [], (1.0,))} == {
        *((kind, None) for kind in WATCHED),
        (NAMESPACE, None),
    }


async def test_namespace_events_say_which_namespaces_are_being_deleted() -> None:
    c = make_controller()
    c.fake.create_object(NAMESPACE, "", {"metadata": {"name": NS}})
    c.deliver()
    assert NS not in c.store.terminating
    c.fake.terminate_namespace(NS)
    c.deliver()
    assert NS in c.store.terminating and "other" not in c.store.terminating
    c.fake.remove_namespace(NS)
    c.deliver()
    assert NS not in c.store.terminating

    # A refusal's mark, the namespace's DELETED event missed: a Redis made later is a sign.
    c.store.terminating.refuse(NS, c.clock.now())
    c.clock.advance(2)
    c.fake.create_object(REDIS, NS, redis_body())
    c.deliver()
    assert NS not in c.store.terminating


async def test_only_the_labelled_secrets_are_listed_and_watched() -> None:
    c = make_controller()
    (secrets,) = [i for i in informers(c.fake, c.handlers, [NS], (1.0,)) if i.kind == SECRET]
    assert secrets.label_selector == AUTH_SECRET_LABEL
    labelled = {"metadata": {"name": "mine", "labels": {AUTH_SECRET_LABEL: "x"}}, "data": {}}
    c.fake.create_object(SECRET, NS, labelled)
    c.fake.create_object(SECRET, NS, {"metadata": {"name": "theirs"}, "data": {}})
    listing = await c.fake.list_objects(SECRET, NS, AUTH_SECRET_LABEL)
    assert [s["metadata"]["name"] for s in listing.items] == ["mine"]
    # The label removed: gone from the selected watch, and from the store.
    c.deliver()
    assert c.store.secrets.get(NS, "mine") is not None
    c.fake.edit(SECRET, NS, "mine", lambda s: s["metadata"].pop("labels"))
    stream = c.fake.watch(SECRET, NS, listing.resource_version, AUTH_SECRET_LABEL)
    event = await anext(aiter(stream))
    assert (event.type, event.object["metadata"]["name"]) == ("DELETED", "mine")
    c.deliver()
    assert c.store.secrets.get(NS, "mine") is None
