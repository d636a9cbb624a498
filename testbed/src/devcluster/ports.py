"""Free loopback ports: one for any listener, and the set one cluster listens on.

``free_port`` is public for tests and benchmarks too: a webhook, a metrics endpoint or a probe
they start next to the cluster takes its port from here, so there is one copy of the rule.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks it).

    Free when asked, not reserved: bind it soon, as another process may take it meanwhile.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Ports:
    """The loopback ports one cluster listens on, chosen free at ``up``."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(*(free_port() for _ in range(6)))
