"""The Redis commands the operator sends, behind a small protocol, over redis-py's asyncio client.

Only three things are needed: read a Redis' replication (`INFO replication`), point it at a
primary (`REPLICAOF ip port`) and make it a primary (`REPLICAOF NO ONE`). The operator dials
pod IPs only (`Endpoint` refuses anything but an IP literal: never a name lookup), one short
connection per command with no client-side retry: each pass observes afresh, so a retry would
only delay the failover. Every Redis error becomes `RedisUnavailable`, whose message names the
endpoint and the error class, never the password. The in-memory fake is `replication/fake.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from redis_operator.auth import Password
from redis_operator.replication.topology import RedisState

if TYPE_CHECKING:
    import redis.asyncio


@dataclass(frozen=True)
class Endpoint:
    """Where a pod's Redis listens: its pod IP (a literal) and spec.port."""

    ip: str
    port: int

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.ip)
        except ValueError:
            raise ValueError(
                f"not an IP address: {self.ip!r} (the operator looks up no name)"
            ) from None

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class RedisUnavailable(Exception):
    """The Redis did not answer the command as asked: down, refusing, or refusing our password."""


class ReplicationCommands(Protocol):
    """The operator's view of a Redis server."""

    async def replication(self, at: Endpoint, password: Password | None) -> RedisState:
        """`INFO replication`, parsed."""
        ...

    async def replicate_from(
        self, at: Endpoint, password: Password | None, primary: Endpoint
    ) -> None:
        """`REPLICAOF primary.ip primary.port`."""
        ...

    async def promote(self, at: Endpoint, password: Password | None) -> None:
        """`REPLICAOF NO ONE`."""
        ...


async def observe(
    commands: ReplicationCommands,
    endpoints: Mapping[str, Endpoint],
    password: Password | None,
) -> dict[str, RedisState | None]:
    """Every pod's replication at once, by pod name; a Redis that does not answer is None."""

    async def one(at: Endpoint) -> RedisState | None:
        try:
            return await commands.replication(at, password)
        except RedisUnavailable:
            return None

    names = list(endpoints)
    states = await asyncio.gather(*(one(endpoints[name]) for name in names))
    return dict(zip(names, states, strict=True))


class RedisPyCommands:
    """`ReplicationCommands` over redis-py's asyncio client."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    @asynccontextmanager
    async def _client(
        self, at: Endpoint, password: Password | None
    ) -> AsyncIterator[redis.asyncio.Redis]:
        # redis-py is imported on the first command: an operator without a replicated Redis
        # never loads it (a shorter start).
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        client = redis.asyncio.Redis(
            host=at.ip,
            port=at.port,
            password=None if password is None else password.reveal(),
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            # RESP2 and a plain AUTH: Redis before 6 (the tutorial's redis:5-alpine) knows no HELLO.
            protocol=2,
        )
        try:
            yield client
        except (RedisError, OSError) as error:
            raise RedisUnavailable(f"Redis at {at}: {type(error).__name__}") from None
        finally:
            await client.aclose()

    async def replication(self, at: Endpoint, password: Password | None) -> RedisState:
        async with self._client(at, password) as client:
            info = await client.info("replication")
        try:
            return RedisState.from_info(info)
        except ValueError as error:
            raise RedisUnavailable(f"Redis at {at}: {error}") from None

    async def replicate_from(
        self, at: Endpoint, password: Password | None, primary: Endpoint
    ) -> None:
        async with self._client(at, password) as client:
            await client.replicaof(primary.ip, primary.port)

    async def promote(self, at: Endpoint, password: Password | None) -> None:
        async with self._client(at, password) as client:
            await client.replicaof("NO", "ONE")
