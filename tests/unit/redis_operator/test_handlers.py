"""Watch events feed the store and queue the Redis they concern; the initial sync lists first."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from redis_operator.api import ChildKind
from redis_operator.controller.handlers import register
from redis_operator.kube.errors import TransportError
from redis_operator.kube.fake import NAMESPACE, REDIS, Verb
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


async def test_initial_sync_lists_everything_then_queues_every_redis() -> None:
    c = make_controller()
    c.fake.create_object(REDIS, NS, redis_body())
    c.fake.create_object(REDIS, "other", redis_body(name="b"))
    c.fake.create_object(ChildKind.POD, NS, {"metadata": {"name": f"{NAME}-0"}})
    c.fake.create_object(ChildKind.SERVICE, NS, {"metadata": {"name": NAME}})
    assert not c.handlers.synced
    await c.handlers.sync(c.fake, [NS])
    assert c.handlers.synced
    assert c.store.pods.get(NS, f"{NAME}-0") is not None
    assert c.store.services.get(NS, NAME) is not None
    assert c.store.redis.get("other", "b") is None  # not a watched namespace
    assert await queued(c) == [KEY]
    await c.handlers.sync(c.fake)  # all namespaces
    assert sorted(await queued(c)) == [(NS, NAME), ("other", "b")]


async def test_a_failed_listing_is_not_synced() -> None:
    c = make_controller()
    c.fake.fail(Verb.LIST, ChildKind.POD, TransportError("refused"))
    with pytest.raises(TransportError):
        await c.handlers.sync(c.fake)
    assert not c.handlers.synced


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


async def test_kopf_s_watch_events_reach_the_handlers() -> None:
    c = make_controller()
    registry = kopf.OperatorRegistry()
    register(registry, c.handlers)
    handlers: dict[Any, Any] = {
        getattr(h.selector, "any_name", None): h.fn for h in registry._watching.get_all_handlers()
    }
    assert set(handlers) == {"redis", "pods", "services", "namespaces"}
    redis = c.fake.create_object(REDIS, NS, redis_body())
    await handlers["redis"](event={"type": "ADDED", "object": redis})
    pod = {"metadata": {"name": f"{NAME}-0", "namespace": NS, "uid": "p"}}
    await handlers["pods"](event={"type": "ADDED", "object": pod})
    service = {"metadata": {"name": NAME, "namespace": NS, "uid": "s"}}
    await handlers["services"](event={"type": "MODIFIED", "object": service})
    assert c.store.redis.get(NS, NAME) == redis
    assert c.store.pods.get(NS, f"{NAME}-0") == pod
    assert c.store.services.get(NS, NAME) == service
    assert await queued(c) == [KEY]
    namespace = {"metadata": {"name": NS, "deletionTimestamp": "2024-05-01T12:00:00Z"}}
    await handlers["namespaces"](event={"type": "MODIFIED", "object": namespace})
    assert NS in c.store.terminating
    assert await queued(c) == []  # a namespace's event queues no pass


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
