"""The kopf integration: the handlers ``setup()`` registers, run as kopf would run them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf._core.intents.causes import Activity
from prometheus_client import CollectorRegistry

import event_recorder.kopf
from event_recorder import InMemorySink
from event_recorder.sink import Sink
from tests.unit.event_recorder.support import redis

COMPONENT = "ScalerOperator"
HOST = "scaler-7d9f"


def handlers(registry: kopf.OperatorRegistry, activity: Activity) -> list[Any]:
    return list(registry._activities.get_handlers(activity=activity))


class ClosingSink(InMemorySink):
    """An in-memory sink that, like an ApiClient, is closed when done with."""

    closed = False

    async def close(self) -> None:
        self.closed = True


def setup(registry: kopf.OperatorRegistry, sink: InMemorySink, **kwargs: Any) -> None:
    async def client() -> Sink:
        return sink

    event_recorder.kopf.setup(
        COMPONENT,
        host=HOST,
        registry=registry,
        client=client,
        metrics_registry=CollectorRegistry(),
        **kwargs,
    )


async def run(registry: kopf.OperatorRegistry, activity: Activity, memo: kopf.Memo) -> None:
    """Call the activity's handlers with the keywords kopf passes them."""
    for handler in handlers(registry, activity):
        await handler.fn(memo=memo, logger=logging.getLogger("kopf"), activity=activity)


def test_setup_registers_one_startup_and_one_cleanup_handler() -> None:
    registry = kopf.OperatorRegistry()
    setup(registry, InMemorySink())

    assert [h.id for h in handlers(registry, Activity.STARTUP)] == ["event_recorder/start"]
    assert [h.id for h in handlers(registry, Activity.CLEANUP)] == ["event_recorder/stop"]


async def test_a_handler_records_through_memo_and_cleanup_drains_it() -> None:
    registry = kopf.OperatorRegistry()
    sink = ClosingSink()
    setup(registry, sink)
    memo = kopf.Memo()

    await run(registry, Activity.STARTUP, memo)

    @kopf.on.field("apps", "v1", "deployments", field="spec.replicas", registry=registry)
    def scaled(body: kopf.Body, new: int, memo: kopf.Memo, **_: Any) -> None:
        memo.recorder.eventf(body, "Normal", "ScalingUp", "replicas set to %d", new)

    for _ in range(2):
        scaled(body=redis(), new=3, memo=memo)
    await run(registry, Activity.CLEANUP, memo)

    assert [call.verb.value for call in sink.calls] == ["create", "patch"]
    (event,) = sink.events.values()
    assert (event["reason"], event["message"], event["count"]) == (
        "ScalingUp",
        "replicas set to 3",
        2,
    )
    assert event["source"] == {"component": COMPONENT, "host": HOST}
    assert sink.closed


async def test_startup_continues_the_events_written_before_a_restart() -> None:
    sink = InMemorySink()
    registry = kopf.OperatorRegistry()
    setup(registry, sink)
    memo = kopf.Memo()
    await run(registry, Activity.STARTUP, memo)
    memo.recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await run(registry, Activity.CLEANUP, memo)

    restarted = kopf.OperatorRegistry()
    setup(restarted, sink)
    memo = kopf.Memo()
    await run(restarted, Activity.STARTUP, memo)
    memo.recorder.event(redis(), "Normal", "ScalingUp", "replicas set to 3")
    await run(restarted, Activity.CLEANUP, memo)

    (event,) = sink.events.values()
    assert event["count"] == 2


async def test_learning_can_be_left_out_and_the_memo_key_chosen() -> None:
    sink = InMemorySink()
    registry = kopf.OperatorRegistry()
    setup(registry, sink, learn_existing=False, memo_key="events")
    memo = kopf.Memo()

    await run(registry, Activity.STARTUP, memo)
    memo.events.event(redis(), "Warning", "ScalingDown", "replicas set to 1")
    await run(registry, Activity.CLEANUP, memo)

    assert "recorder" not in memo
    assert [call.verb.value for call in sink.calls] == ["create"]


def test_setup_leaves_other_registries_alone() -> None:
    mine, other = kopf.OperatorRegistry(), kopf.OperatorRegistry()
    setup(mine, InMemorySink())

    assert handlers(other, Activity.STARTUP) == []
    assert handlers(other, Activity.CLEANUP) == []


async def test_the_default_client_falls_back_to_the_kubeconfig_outside_a_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    api = await event_recorder.kopf.default_client()
    try:
        assert api.configuration.host == "https://127.0.0.1:6443"
    finally:
        await api.close()
