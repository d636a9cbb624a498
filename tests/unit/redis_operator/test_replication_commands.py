"""The Redis commands: redis-py against a scripted RESP server on 127.0.0.1, the in-memory fake,
and the decisions driven over the fake through a whole failover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from redis_operator.auth import Password
from redis_operator.messages import EventKey
from redis_operator.replication.commands import (
    Endpoint,
    RedisPyCommands,
    RedisUnavailable,
    observe,
)
from redis_operator.replication.failover import (
    PRIMARY,
    Decision,
    Member,
    Memory,
    Promote,
    ReplicaOf,
    SetRole,
    decide,
)
from redis_operator.replication.fake import FakeRedisServers
from redis_operator.replication.topology import RedisState, Role

PASSWORD = Password("correct horse")


def test_an_endpoint_is_an_ip_literal_never_a_name() -> None:
    assert str(Endpoint("10.244.77.5", 6379)) == "10.244.77.5:6379"
    Endpoint("::1", 6379)
    for name in ("redis", "my-op-redis-0.my-op-redis.ns.svc", "localhost"):
        with pytest.raises(ValueError, match="looks up no name"):
            Endpoint(name, 6379)


@dataclass
class RespServer:
    """A Redis stand-in speaking RESP2 that records the commands it gets, requiring a password
    and answering INFO with `info`."""

    password: str
    info: str
    commands: list[list[str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        authed = False
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                assert line.startswith(b"*")
                args = []
                for _ in range(int(line[1:])):
                    size = int((await reader.readline())[1:])
                    args.append((await reader.readexactly(size + 2))[:-2].decode())
                self.commands.append(args)
                name = args[0].upper()
                if name == "AUTH":
                    authed = args[-1] == self.password
                    writer.write(b"+OK\r\n" if authed else b"-WRONGPASS invalid password\r\n")
                elif name == "CLIENT":
                    writer.write(b"+OK\r\n")
                elif not authed:
                    writer.write(b"-NOAUTH Authentication required.\r\n")
                elif name == "INFO":
                    body = self.info.encode()
                    writer.write(b"$%d\r\n%s\r\n" % (len(body), body))
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def resp_server() -> AsyncIterator[tuple[RespServer, Endpoint]]:
    info = (
        "# Replication\r\nrole:slave\r\nmaster_host:10.244.77.9\r\nmaster_port:6379\r\n"
        "master_link_status:up\r\nslave_repl_offset:4242\r\nmaster_repl_offset:4242\r\n"
    )
    fake = RespServer(password=PASSWORD.reveal(), info=info)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield fake, Endpoint("127.0.0.1", port)


async def test_redis_py_reads_info_replication_with_the_password(
    resp_server: tuple[RespServer, Endpoint],
) -> None:
    fake, at = resp_server
    state = await RedisPyCommands(timeout_seconds=2).replication(at, PASSWORD)
    assert state == RedisState(Role.REPLICA, 4242, "10.244.77.9", 6379, link_up=True)
    assert ["AUTH", PASSWORD.reveal()] in fake.commands
    assert ["INFO", "replication"] in fake.commands


async def test_redis_py_sends_replicaof(resp_server: tuple[RespServer, Endpoint]) -> None:
    fake, at = resp_server
    commands = RedisPyCommands(timeout_seconds=2)
    await commands.replicate_from(at, PASSWORD, Endpoint("10.244.77.7", 6380))
    await commands.promote(at, PASSWORD)
    sent = [c for c in fake.commands if c[0].upper() == "REPLICAOF"]
    assert sent == [["REPLICAOF", "10.244.77.7", "6380"], ["REPLICAOF", "NO", "ONE"]]


@pytest.mark.parametrize("password", [None, Password("wrong")])
async def test_a_refused_password_is_unavailable_and_the_error_hides_it(
    resp_server: tuple[RespServer, Endpoint], password: Password | None
) -> None:
    _, at = resp_server
    with pytest.raises(RedisUnavailable) as caught:
        await RedisPyCommands(timeout_seconds=2).replication(at, password)
    assert str(at) in str(caught.value)
    assert "wrong" not in str(caught.value) and "horse" not in str(caught.value)


async def test_a_closed_port_is_unavailable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(RedisUnavailable, match="ConnectionError"):
        await RedisPyCommands(timeout_seconds=2).replication(Endpoint("127.0.0.1", port), None)


def at(ordinal: int) -> Endpoint:
    return Endpoint(f"10.244.77.{10 + ordinal}", 6379)


async def test_the_fake_refuses_as_redis_does() -> None:
    servers = FakeRedisServers()
    servers.add(at(0), PASSWORD)
    with pytest.raises(RedisUnavailable, match="NOAUTH"):
        await servers.replication(at(0), None)
    with pytest.raises(RedisUnavailable, match="WRONGPASS"):
        await servers.replication(at(0), Password("nope"))
    with pytest.raises(RedisUnavailable, match="ConnectionError"):
        await servers.replication(at(1), PASSWORD)
    assert await servers.replication(at(0), PASSWORD) == RedisState(Role.MASTER, 0)


async def test_observe_reports_an_unreachable_redis_as_none() -> None:
    servers = FakeRedisServers()
    servers.add(at(0))
    servers.add(at(1))
    servers.stop(at(1))
    observed = await observe(servers, {"r-0": at(0), "r-1": at(1)}, None)
    assert observed == {"r-0": RedisState(Role.MASTER, 0), "r-1": None}


START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """Three pods over fake Redis servers, and the loop a reconciler would run."""

    servers: FakeRedisServers = field(default_factory=FakeRedisServers)
    members: dict[str, Member] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)
    now: datetime = START

    def __post_init__(self) -> None:
        for ordinal in range(3):
            self.servers.add(at(ordinal), PASSWORD)
            name = f"r-{ordinal}"
            self.members[name] = Member(name, ordinal, at(ordinal).ip)

    async def reconcile(self) -> Decision:
        endpoints = {m.name: Endpoint(m.ip, 6379) for m in self.members.values() if m.ip}
        observed = await observe(self.servers, endpoints, PASSWORD)
        decision = decide(
            "r",
            list(self.members.values()),
            observed,
            self.memory,
            port=6379,
            replicas=3,
            now=self.now,
            failover_after_seconds=10,
        )
        for action in decision.actions:
            target = endpoints.get(action.pod)
            if isinstance(action, SetRole):
                self.members[action.pod] = replace(self.members[action.pod], role=action.role)
            elif isinstance(action, Promote) and target is not None:
                await self.servers.promote(target, PASSWORD)
            elif isinstance(action, ReplicaOf) and target is not None:
                primary = Endpoint(action.host, action.port)
                await self.servers.replicate_from(target, PASSWORD, primary)
        self.memory = decision.memory
        return decision

    def primaries(self) -> list[str]:
        return [m.name for m in self.members.values() if m.role == PRIMARY]


async def test_a_whole_failover_over_fake_redis() -> None:
    world = World()
    elected = await world.reconcile()
    assert elected.events[0].key is EventKey.PRIMARY_ELECTED
    assert world.primaries() == ["r-0"]
    steady = await world.reconcile()
    assert steady.actions == () and steady.healthy

    world.servers.write(at(0), 1000)
    world.servers.stop(at(0))
    lost = await world.reconcile()
    assert [e.key for e in lost.events] == [EventKey.PRIMARY_LOST]
    assert world.primaries() == ["r-0"]

    world.now += timedelta(seconds=10)
    failed_over = await world.reconcile()
    assert [e.key for e in failed_over.events] == [EventKey.FAILOVER_COMPLETED]
    assert failed_over.events[0].args == {"pod": "r-1", "offset": 1000}
    assert world.primaries() == ["r-1"]
    assert world.servers.servers[at(2)].master == at(1)

    world.servers.servers[at(0)].reachable = True
    returned = await world.reconcile()
    assert [e.key for e in returned.events] == [EventKey.REPLICA_ATTACHED]
    assert world.servers.servers[at(0)].master == at(1)
    assert (await world.reconcile()).healthy
    assert world.primaries() == ["r-1"]
