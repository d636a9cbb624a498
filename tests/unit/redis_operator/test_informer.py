"""The informer on the fake apiserver: it lists, follows, resumes a broken stream from where it
was, lists again when the apiserver forgot that far back, and backs off without giving up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from redis_operator.api import ChildKind
from redis_operator.controller.informer import Informer
from redis_operator.kube.client import Kind, Obj
from redis_operator.kube.errors import ApiError, TransportError
from redis_operator.kube.fake import FakeKubeApi, Verb
from redis_operator.kube.watch import Event, Listing, Transform

POD = ChildKind.POD
NS = "ns"


class Sink:
    """Keeps what the informer says, as the handlers' store would."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.events: list[tuple[str, str]] = []
        self.replaced = 0

    def replace(self, kind: Kind, namespace: str | None, listing: Listing) -> None:
        self.replaced += 1
        self.objects = {o["metadata"]["name"]: o for o in listing.items}

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        self.events.append((event_type, name))
        if event_type == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj


class Sleeps:
    """asyncio.sleep that takes no time and says how long it was asked for."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


@contextmanager
def running(informer: Informer) -> Iterator[None]:
    task = asyncio.ensure_future(informer.run())
    try:
        yield
    finally:
        task.cancel()


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


def informer_on(fake: Any, sink: Sink, sleeps: Sleeps) -> Informer:
    return Informer(fake, POD, NS, sink, backoffs=(1.0, 2.0, 5.0), sleep=sleeps)


async def test_it_lists_then_follows_every_change() -> None:
    fake, sink, sleeps = FakeKubeApi(), Sink(), Sleeps()
    fake.create_object(POD, NS, pod("a"))
    fake.create_object(POD, "other", pod("elsewhere"))
    informer = informer_on(fake, sink, sleeps)
    with running(informer):
        await settle()
        assert informer.synced.is_set() and set(sink.objects) == {"a"}
        fake.create_object(POD, NS, pod("b"))
        fake.delete_object(POD, NS, "a", grace_period=0)
        fake.create_object(POD, "other", pod("elsewhere-2"))
        await settle()
    assert sink.events == [("ADDED", "b"), ("DELETED", "a")]
    assert set(sink.objects) == {"b"} and informer.lists == 1 and sleeps.asked == []


async def test_a_broken_stream_resumes_where_it_was_and_misses_nothing() -> None:
    fake, sink, sleeps = FakeKubeApi(), Sink(), Sleeps()
    fake.create_object(POD, NS, pod("a"))
    informer = informer_on(fake, sink, sleeps)
    with running(informer):
        await settle()
        fake.end_watches()  # the apiserver went away...
        fake.fail(Verb.WATCH, POD, TransportError("connection refused"), times=2)
        fake.delete_object(POD, NS, "a", grace_period=0)  # ...and this happened meanwhile
        await settle()
    assert sink.events == [("DELETED", "a")] and sink.objects == {}
    assert informer.lists == 1  # resumed, not listed again
    assert sleeps.asked == [1.0, 2.0, 5.0]  # the break, then two refusals, backed off


async def test_when_the_apiserver_forgot_that_far_back_it_lists_and_drops_the_vanished() -> None:
    fake, sink, sleeps = FakeKubeApi(), Sink(), Sleeps()
    fake.create_object(POD, NS, pod("a"))
    fake.create_object(POD, NS, pod("b"))
    informer = informer_on(fake, sink, sleeps)
    with running(informer):
        await settle()
        fake.end_watches()
        fake.delete_object(POD, NS, "a", grace_period=0)
        fake.compact()  # restarted: its history starts now
        fake.create_object(POD, NS, pod("c"))
        await settle()
        assert informer.lists == 2 and sink.replaced == 2
        assert set(sink.objects) == {"b", "c"}
        fake.delete_object(POD, NS, "b", grace_period=0)  # and it follows on from there
        await settle()
    assert set(sink.objects) == {"c"} and sink.events[-1] == ("DELETED", "b")


async def test_a_failed_listing_is_retried_with_backoff_until_it_answers() -> None:
    fake, sink, sleeps = FakeKubeApi(), Sink(), Sleeps()
    fake.create_object(POD, NS, pod("a"))
    fake.fail(Verb.LIST, POD, TransportError("connection refused"), times=5)
    informer = informer_on(fake, sink, sleeps)
    with running(informer):
        await settle()
        assert informer.synced.is_set() and set(sink.objects) == {"a"}
    assert sleeps.asked == [1.0, 2.0, 5.0, 5.0, 5.0]  # the last delay repeats: never gives up


async def test_a_refused_watch_starts_over_with_a_listing() -> None:
    fake, sink, sleeps = FakeKubeApi(), Sink(), Sleeps()
    informer = informer_on(fake, sink, sleeps)
    fake.fail(Verb.WATCH, POD, ApiError(403, "Forbidden", "RBAC says no"))
    with running(informer):
        await settle()
    assert informer.lists == 2 and sleeps.asked == [1.0]


class Scripted:
    """A ListWatch whose one watch delivers given events and then ends."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.watched_from: list[str] = []

    async def list_objects(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None = None,
        transform: Transform | None = None,
    ) -> Listing:
        return Listing([], "5")

    async def watch(
        self,
        kind: Kind,
        namespace: str | None,
        resource_version: str,
        label_selector: str | None = None,
    ) -> AsyncIterator[Event]:
        self.watched_from.append(resource_version)
        events, self.events = self.events, []
        for event in events:
            yield event
        await asyncio.sleep(0)


async def test_bookmarks_move_the_resume_point_and_reach_no_one() -> None:
    source = Scripted(
        [
            Event("ADDED", {"metadata": {"name": "a", "resourceVersion": "6"}}),
            Event("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
        ]
    )
    sink, sleeps = Sink(), Sleeps()
    with running(Informer(source, POD, NS, sink, backoffs=(1.0,), sleep=sleeps)):
        await settle()
    assert sink.events == [("ADDED", "a")]
    assert source.watched_from[:2] == ["5", "9"]
    assert sleeps.asked and set(sleeps.asked) == {1.0}  # empty streams do not spin
