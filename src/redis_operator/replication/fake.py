"""In-memory Redis servers that answer `ReplicationCommands` as real ones would, for unit tests.

A replica told to follow a reachable primary syncs at once (its offset becomes the primary's);
`write` moves a primary's offset and its linked replicas' with it; `stop` makes a server
unreachable and drops its replicas' links. Commands with a wrong or missing password are
refused as Redis refuses them (`NOAUTH`, `WRONGPASS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis_operator.auth import Password
from redis_operator.replication.commands import Endpoint, RedisUnavailable
from redis_operator.replication.topology import RedisState, Role


@dataclass
class FakeServer:
    """One fake Redis."""

    password: Password | None = None
    role: Role = Role.MASTER
    offset: int = 0
    master: Endpoint | None = None
    reachable: bool = True


@dataclass
class FakeRedisServers:
    """`ReplicationCommands` over a dict of fake servers by endpoint; `calls` records each
    command as (command, endpoint)."""

    servers: dict[Endpoint, FakeServer] = field(default_factory=dict)
    calls: list[tuple[str, Endpoint]] = field(default_factory=list)

    def add(self, at: Endpoint, password: Password | None = None) -> FakeServer:
        server = FakeServer(password=password)
        self.servers[at] = server
        return server

    def write(self, at: Endpoint, size: int) -> None:
        """A client write of `size` bytes to the primary at `at`, replicated to linked replicas."""
        self.servers[at].offset += size
        for server in self.servers.values():
            if self._linked(server) and server.master == at:
                server.offset = self.servers[at].offset

    def stop(self, at: Endpoint) -> None:
        self.servers[at].reachable = False

    def _linked(self, server: FakeServer) -> bool:
        master = None if server.master is None else self.servers.get(server.master)
        return server.role is Role.REPLICA and master is not None and master.reachable

    def _server(self, command: str, at: Endpoint, password: Password | None) -> FakeServer:
        self.calls.append((command, at))
        server = self.servers.get(at)
        if server is None or not server.reachable:
            raise RedisUnavailable(f"Redis at {at}: ConnectionError")
        if server.password is not None and password is None:
            raise RedisUnavailable(f"Redis at {at}: AuthenticationError (NOAUTH)")
        if server.password is not None and password != server.password:
            raise RedisUnavailable(f"Redis at {at}: AuthenticationError (WRONGPASS)")
        return server

    async def replication(self, at: Endpoint, password: Password | None) -> RedisState:
        server = self._server("INFO replication", at, password)
        if server.role is Role.MASTER or server.master is None:
            return RedisState(Role.MASTER, server.offset)
        return RedisState(
            Role.REPLICA,
            server.offset,
            master_host=server.master.ip,
            master_port=server.master.port,
            link_up=self._linked(server),
        )

    async def replicate_from(
        self, at: Endpoint, password: Password | None, primary: Endpoint
    ) -> None:
        server = self._server("REPLICAOF", at, password)
        server.role, server.master = Role.REPLICA, primary
        if self._linked(server):
            server.offset = self.servers[primary].offset

    async def promote(self, at: Endpoint, password: Password | None) -> None:
        server = self._server("REPLICAOF NO ONE", at, password)
        server.role, server.master = Role.MASTER, None
