"""INFO replication, as redis-py hands it over, read into a RedisState."""

from __future__ import annotations

import pytest

from redis_operator.replication.topology import RedisState, Role


def test_a_master() -> None:
    info = {"role": "master", "connected_slaves": 2, "master_repl_offset": 18230}
    assert RedisState.from_info(info) == RedisState(Role.MASTER, 18230)


def test_a_linked_replica() -> None:
    info = {
        "role": "slave",
        "master_host": "10.244.77.5",
        "master_port": 6379,
        "master_link_status": "up",
        "slave_repl_offset": 18000,
        "master_repl_offset": 18000,
    }
    state = RedisState.from_info(info)
    assert state == RedisState(Role.REPLICA, 18000, "10.244.77.5", 6379, link_up=True)
    assert state.follows("10.244.77.5", 6379)
    assert not state.follows("10.244.77.5", 6380)
    assert not state.follows("10.244.77.6", 6379)


def test_a_replica_whose_link_is_down_still_follows() -> None:
    info = {"role": "slave", "master_host": "10.0.0.1", "master_port": "6379"}
    state = RedisState.from_info(info | {"master_link_status": "down"})
    assert not state.link_up and state.follows("10.0.0.1", 6379)


def test_a_master_follows_nobody() -> None:
    assert not RedisState(Role.MASTER, 0).follows("10.0.0.1", 6379)


@pytest.mark.parametrize(
    "info",
    [{}, {"role": "sentinel"}, {"role": "slave"}, {"role": "master", "master_repl_offset": "x"}],
)
def test_unexpected_info_is_a_value_error(info: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="unexpected INFO replication"):
        RedisState.from_info(info)
