"""What one pod's Redis says about its replication: role, master, link and offset.

Parsed from `INFO replication` (redis-py hands it over as a dict); an unreachable Redis is
observed as None. Plain data, so the failover decisions can be tested without a Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """The role a Redis reports, in its own words."""

    MASTER = "master"
    REPLICA = "slave"


@dataclass(frozen=True)
class RedisState:
    """One Redis' replication as it reported it.

    `offset` is the replication offset it has processed: `master_repl_offset` on a master,
    `slave_repl_offset` on a replica (the bytes of the primary's stream it applied), so the
    replica with the highest offset lost the least.
    """

    role: Role
    offset: int
    master_host: str | None = None
    master_port: int | None = None
    link_up: bool = False

    def follows(self, host: str, port: int) -> bool:
        """Whether it is a replica of `host:port` (linked or still syncing)."""
        return self.role is Role.REPLICA and (self.master_host, self.master_port) == (host, port)

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> RedisState:
        """Read the fields of `INFO replication`; anything malformed is a ValueError."""
        try:
            role = Role(str(info["role"]))
            if role is Role.MASTER:
                return cls(role=role, offset=int(info.get("master_repl_offset", 0)))
            return cls(
                role=role,
                offset=int(info.get("slave_repl_offset", 0)),
                master_host=str(info["master_host"]),
                master_port=int(info["master_port"]),
                link_up=info.get("master_link_status") == "up",
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unexpected INFO replication: {error!r}") from None
