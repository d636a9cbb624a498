"""A throwaway test-bed cluster for a test or fixture: started, failing loudly, always removed.

Its supervisor watches the given process (this pytest by default), so the cluster goes even
if pytest is killed. When it cannot start, the test fails with the reason: nothing is skipped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devcluster.cluster import DevCluster


@contextmanager
def throwaway_cluster(
    prefix: str, nodes: int, real_nodes: int = 0, owner_pid: int | None = None
) -> Iterator[DevCluster]:
    """A cluster with ``nodes`` kwok nodes (and the machine's real node, if asked for), its
    state in a new directory named from ``prefix``; ``down`` when the block ends."""
    cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix=prefix)))
    owner = os.getpid() if owner_pid is None else owner_pid
    try:
        try:
            cluster.up(nodes=nodes, real_nodes=real_nodes, owner_pid=owner)
        except Exception as exc:  # the reason must reach every test that needed the cluster
            pytest.fail(f"cannot start the local control plane: {exc}", pytrace=False)
        yield cluster
    finally:
        cluster.down()
