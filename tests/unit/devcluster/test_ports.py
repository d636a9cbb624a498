"""``free_port``: a loopback port that is free to bind right now."""

from __future__ import annotations

import socket

from devcluster.ports import Ports, free_port


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_a_cluster_gets_six_ports() -> None:
    assert len(set(vars(Ports.allocate()).values())) == 6
