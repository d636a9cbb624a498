"""Where the soak's pods run: a node kind starts the cluster and says what its pods can run.

Only kwok's fake nodes exist today: their pods never pull or run anything, so any valid image
reference does and a pod is Ready within a second. A kind with real nodes (kubelets running
real Redis) would start its cluster its own way, offer images its nodes can pull, and give pods
longer to become Ready.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devcluster.cluster import DevCluster


class Nodes(Protocol):
    """A kind of node for the soak's cluster."""

    @property
    def images(self) -> tuple[str, ...]:
        """Images a Redis may be given (the soak switches between them)."""
        ...

    @property
    def settle_seconds(self) -> float:
        """How long the operator may take to converge after a burst."""
        ...

    def start(self, state_dir: Path, count: int) -> DevCluster:
        """A running cluster with ``count`` nodes of this kind, owned by this process."""
        ...


@dataclass(frozen=True)
class KwokNodes:
    """kwok's fake nodes: the dev cluster's own."""

    images: tuple[str, ...] = ("redis:7-alpine", "redis:7.2-alpine", "redis:6.2-alpine")
    settle_seconds: float = 120.0

    def start(self, state_dir: Path, count: int) -> DevCluster:
        cluster = DevCluster(state_dir=state_dir)
        cluster.up(nodes=count, owner_pid=os.getpid())
        return cluster


NODE_KINDS: dict[str, Callable[[], Nodes]] = {"kwok": KwokNodes}
