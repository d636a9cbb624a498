"""The replication step on the fake apiserver and fake Redis servers: election, attachment,
failover with its Events and status, a restart that resumes, and the password kept hidden."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest

from redis_operator.api import ChildKind
from redis_operator.auth import password_from_secret
from redis_operator.children import ROLE_LABEL
from redis_operator.controller.replicator import Replicator, memory
from redis_operator.kube.client import REDIS, SECRET
from redis_operator.kube.fake import Verb
from redis_operator.replication.commands import Endpoint
from redis_operator.replication.failover import Memory
from redis_operator.replication.fake import FakeRedisServers
from redis_operator.replication.topology import Role
from redis_operator.settings import ReplicationSettings
from tests.unit.redis_operator.support import (
    NAME,
    NS,
    READY,
    Controller,
    make_controller,
    redis_body,
)

POD = ChildKind.POD
SERVICE = ChildKind.SERVICE
PORT = 8333


def ip(ordinal: int) -> str:
    return f"10.244.77.{20 + ordinal}"


def at(ordinal: int) -> Endpoint:
    return Endpoint(ip(ordinal), PORT)


def start(replicas: int = 3) -> tuple[Controller, FakeRedisServers]:
    c = make_controller()
    servers = FakeRedisServers()
    c.reconciler.replicator = Replicator(c.fake, servers, ReplicationSettings())
    body = redis_body(replicas=replicas, port=PORT)
    body["spec"]["mode"] = "replication"
    c.fake.create_object(REDIS, NS, body)
    c.deliver()
    return c, servers


def run_pods(c: Controller, servers: FakeRedisServers) -> None:
    """The kubelet starts every pod without an address: each Redis starts as a replica of
    nothing, with the password of the Secret."""
    (secret,) = c.fake.objects(SECRET, NS)
    password = password_from_secret(secret, "password")
    for pod in c.fake.objects(POD, NS):
        name = pod["metadata"]["name"]
        ordinal = int(name.rsplit("-", 1)[1])
        if pod["status"].get("podIP"):
            continue
        c.fake.edit(POD, NS, name, lambda p, o=ordinal: p.update(status={**READY, "podIP": ip(o)}))
        server = servers.add(at(ordinal), password)
        server.role, server.master = Role.REPLICA, Endpoint("127.0.0.1", 1)
    c.deliver()


def roles(c: Controller) -> dict[str, str | None]:
    return {
        p["metadata"]["name"]: p["metadata"]["labels"].get(ROLE_LABEL)
        for p in c.fake.objects(POD, NS)
    }


def status(c: Controller) -> dict[str, Any]:
    redis = c.fake.get(REDIS, NS, NAME)
    assert redis is not None
    result: dict[str, Any] = redis["status"]
    return result


async def converge(c: Controller, servers: FakeRedisServers) -> None:
    await c.reconcile()
    run_pods(c, servers)
    for _ in range(4):
        await c.reconcile()
        c.deliver()


async def test_ordinal_0_is_elected_and_the_others_attach(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c, servers = start()
    await converge(c, servers)
    assert roles(c) == {f"{NAME}-0": "primary", f"{NAME}-1": "replica", f"{NAME}-2": "replica"}
    assert servers.servers[at(0)].role is Role.MASTER
    assert servers.servers[at(1)].master == at(0) and servers.servers[at(2)].master == at(0)
    told = " | ".join(c.recorder.events)
    assert f"Normal PrimaryElected {NAME}-0 is the primary of {NAME}" in told
    assert f"Normal ReplicaAttached {NAME}-1 replicates from {NAME}-0" in told
    s = status(c)
    assert s["primary"] == f"{NAME}-0"
    assert s["replication"] == [
        {"pod": f"{NAME}-1", "link": "up", "lagBytes": 0},
        {"pod": f"{NAME}-2", "link": "up", "lagBytes": 0},
    ]
    healthy = next(x for x in s["conditions"] if x["type"] == "ReplicationHealthy")
    assert healthy["status"] == "True"
    assert {x["type"] for x in s["conditions"]} >= {"Ready", "ReplicationHealthy"}
    # Steady: a pass writes nothing, and asks to look again.
    c.recorder.clear()
    assert await c.reconcile() == []
    assert c.recorder.events == []
    (secret,) = c.fake.objects(SECRET, NS)
    password = password_from_secret(secret, "password").reveal()
    assert password not in caplog.text and password not in json.dumps(s)


async def test_a_lost_primary_is_failed_over_to_the_most_advanced_replica() -> None:
    c, servers = start()
    await converge(c, servers)
    servers.write(at(0), 500)
    servers.servers[at(2)].offset -= 100  # r-2 fell behind
    servers.stop(at(0))
    c.recorder.clear()
    await c.reconcile()
    assert any("PrimaryLost" in e for e in c.recorder.events)
    assert status(c)["primaryLostSince"]
    assert roles(c)[f"{NAME}-0"] == "primary"

    c.clock.wall += timedelta(seconds=10)
    await c.reconcile()
    c.deliver()
    assert roles(c) == {f"{NAME}-0": "replica", f"{NAME}-1": "primary", f"{NAME}-2": "replica"}
    assert f"Normal FailoverCompleted Promoted {NAME}-1 at offset 500" in c.recorder.events
    s = status(c)
    assert s["primary"] == f"{NAME}-1" and "primaryLostSince" not in s and s["lastFailoverTime"]
    assert servers.servers[at(2)].master == at(1)

    # The old primary comes back (empty, as a replica of nothing): it follows the new one.
    servers.servers[at(0)].reachable = True
    servers.servers[at(0)].role, servers.servers[at(0)].offset = Role.REPLICA, 0
    servers.servers[at(0)].master = Endpoint("127.0.0.1", 1)
    await c.reconcile()
    assert servers.servers[at(0)].master == at(1)
    assert list(roles(c).values()).count("primary") == 1


async def test_a_restarted_operator_resumes_the_failover_clock_from_the_status() -> None:
    c, servers = start()
    await converge(c, servers)
    servers.stop(at(0))
    await c.reconcile()
    lost = memory(status(c))
    assert lost.lost_since is not None and lost.primary == f"{NAME}-0"
    # A new operator (fresh memory) after the threshold promotes at once, exactly once.
    c.reconciler.replicator = Replicator(c.fake, servers, ReplicationSettings())
    c.clock.wall += timedelta(seconds=11)
    await c.reconcile()
    c.deliver()
    await c.reconcile()
    promoted = [e for e in c.recorder.events if "FailoverCompleted" in e]
    assert len(promoted) == 1


def test_memory_reads_the_status() -> None:
    assert memory({}) == Memory()
    held = memory({"primary": "r-1", "primaryLostSince": "2026-12-01T12:00:00Z"})
    assert held.primary == "r-1" and held.lost_since is not None


async def test_the_role_services_select_the_primary_and_the_replicas() -> None:
    c, servers = start()
    await converge(c, servers)
    primary = c.fake.get(SERVICE, NS, f"{NAME}-primary")
    replicas = c.fake.get(SERVICE, NS, f"{NAME}-replicas")
    assert primary is not None and replicas is not None
    assert primary["spec"]["selector"][ROLE_LABEL] == "primary"
    assert replicas["spec"]["selector"][ROLE_LABEL] == "replica"
    assert "clusterIP" not in primary["spec"]  # a ClusterIP: the one write address
    headless = c.fake.get(SERVICE, NS, NAME)
    assert headless is not None and ROLE_LABEL not in headless["spec"]["selector"]
    # Drift is patched back, as for the headless Service.
    c.fake.patch_object(SERVICE, NS, f"{NAME}-primary", {"spec": {"selector": {ROLE_LABEL: "x"}}})
    c.deliver()
    await c.reconcile()
    patched = c.fake.get(SERVICE, NS, f"{NAME}-primary")
    assert patched is not None and patched["spec"]["selector"][ROLE_LABEL] == "primary"


async def fail_over_to_the_last(c: Controller, servers: FakeRedisServers) -> None:
    """Make ordinal 2 the primary: ordinal 0 is lost, ordinal 1 lags; ordinal 0 comes back."""
    servers.write(at(0), 500)
    servers.servers[at(1)].offset -= 100
    servers.stop(at(0))
    await c.reconcile()
    c.clock.wall += timedelta(seconds=10)
    await c.reconcile()
    c.deliver()
    server = servers.servers[at(0)]
    server.reachable, server.role, server.offset = True, Role.REPLICA, 0
    server.master = Endpoint("127.0.0.1", 1)
    for _ in range(3):
        await c.reconcile()
        c.deliver()
    assert roles(c)[f"{NAME}-2"] == "primary"


async def test_a_scale_down_switches_over_before_it_deletes_the_primary() -> None:
    c, servers = start()
    await converge(c, servers)
    await fail_over_to_the_last(c, servers)
    c.recorder.clear()
    c.fake.patch_object(REDIS, NS, NAME, {"spec": {"replicas": 2}})
    c.deliver()
    before = len(c.fake.writes)
    for _ in range(4):
        await c.reconcile()
        c.deliver()
    deleted = [w for w in c.fake.writes[before:] if w.verb is Verb.DELETE and w.kind == POD]
    assert [w.name for w in deleted] == [f"{NAME}-2"]
    assert roles(c)[f"{NAME}-0"] == "primary"
    assert servers.servers[at(0)].role is Role.MASTER
    assert servers.servers[at(1)].master == at(0)
    told = " | ".join(c.recorder.events)
    assert f"Normal Switchover Switching the primary from {NAME}-2 to {NAME}-0" in told
    # The label moved before the delete: the pod deleted was a replica by then.
    switch = next(
        i
        for i, w in enumerate(c.fake.writes)
        if w.verb is Verb.PATCH and w.name == f"{NAME}-0" and "primary" in json.dumps(w.body)
    )
    assert switch < c.fake.writes.index(deleted[0])


async def test_the_metrics_show_roles_links_lag_and_failovers() -> None:
    c, servers = start()
    await converge(c, servers)
    labels = {"namespace": NS, "redis": NAME}
    assert c.metric("redis_operator_replication_primary", **labels, pod=f"{NAME}-0") == 1
    assert c.metric("redis_operator_replication_primary", **labels, pod=f"{NAME}-1") == 0
    assert c.metric("redis_operator_replication_connected_replicas", **labels) == 2
    assert c.metric("redis_operator_replication_lag_bytes", **labels, pod=f"{NAME}-2") == 0
    assert c.metric("redis_operator_failovers_total", **labels) == 0
    await fail_over_to_the_last(c, servers)
    assert c.metric("redis_operator_failovers_total", **labels) == 1
    assert c.metric("redis_operator_replication_primary", **labels, pod=f"{NAME}-2") == 1
    (secret,) = c.fake.objects(SECRET, NS)
    password = password_from_secret(secret, "password").reveal()
    assert password not in generate_latest(c.registry).decode()


async def test_a_new_password_replaces_every_pod_at_once_in_replication_mode() -> None:
    c, servers = start()
    await converge(c, servers)
    c.recorder.clear()
    c.fake.delete_object(SECRET, NS, f"{NAME}-auth")
    c.deliver()
    await c.reconcile()  # recreated, with a new password
    c.deliver()
    writes = await c.reconcile()
    replaced = sorted(w.name for w in writes if w.verb is Verb.DELETE and w.kind == POD)
    assert replaced == [f"{NAME}-0", f"{NAME}-1", f"{NAME}-2"]
    told = " | ".join(c.recorder.events)
    assert f"Warning PasswordChanged The password of {NAME} changed" in told
