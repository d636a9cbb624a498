"""Helpers for tests on the real node: talking Redis to a pod, finding its processes.

Every address dialled is checked to be a pod address on the project's own bridge first, so a
mistake in a test can never send a packet off the machine.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import subprocess
from pathlib import Path
from typing import Any, BinaryIO

from devcluster.realnode import POD_SUBNET, SERVICE_SUBNET
from devcluster.teardown import CGROUP_ROOT, kubepods_cgroups


def _encode(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _reply(replies: BinaryIO) -> str:
    """One RESP reply: a bulk string's value, else its first line (``+OK``, ``-NOAUTH ...``)."""
    line = replies.readline().decode().rstrip("\r\n")
    if line.startswith("$") and line != "$-1":
        return replies.read(int(line[1:]) + 2)[:-2].decode()
    return line


def redis_call(
    host: str, port: int, *args: str, password: str | None = None, timeout: float = 3.0
) -> str:
    """One Redis command, after `AUTH password` if given, answered as `_reply` reads it (an
    AUTH refused answers its error instead)."""
    address = ipaddress.ip_address(host)
    if not any(address in ipaddress.ip_network(n) for n in (POD_SUBNET, SERVICE_SUBNET)):
        raise AssertionError(f"{host} is neither a pod nor a Service address on the bridge")
    with (
        socket.create_connection((host, port), timeout=timeout) as conn,
        conn.makefile("rb") as replies,
    ):
        if password is not None:
            conn.sendall(_encode("AUTH", password))
            answer = _reply(replies)
            if answer != "+OK":
                return answer
        conn.sendall(_encode(*args))
        return _reply(replies)


def serves(host: str, port: int, password: str | None = None) -> bool:
    try:
        return redis_call(host, port, "PING", password=password) == "+PONG"
    except OSError:
        return False


PROBE_PROCESSES = frozenset({"sh", "redis-cli"})
"""What the exec readiness probe runs in a pod now and then, beside pause and redis-server."""


def pod_processes(pod: dict[str, Any]) -> dict[int, str]:
    """The pod's processes (pid -> command), pause included, from its cgroups (pids hierarchy)."""
    marker = f"pod{pod['metadata']['uid']}"
    found: dict[int, str] = {}
    for cgroup in kubepods_cgroups():
        if not cgroup.is_relative_to(CGROUP_ROOT / "pids") or marker not in cgroup.parts:
            continue
        for line in (cgroup / "cgroup.procs").read_text().split():
            try:
                found[int(line)] = Path(f"/proc/{line}/comm").read_text().strip()
            except OSError:
                continue
    return found


def container_cgroup(pod: dict[str, Any], hierarchy: str, pid: int) -> Path:
    """The cgroup of the pod's process ``pid`` in a v1 hierarchy (``memory``, ``cpu``)."""
    marker = f"pod{pod['metadata']['uid']}"
    for cgroup in kubepods_cgroups():
        if (
            cgroup.is_relative_to(CGROUP_ROOT / hierarchy)
            and marker in cgroup.parts
            and str(pid) in (cgroup / "cgroup.procs").read_text().split()
        ):
            return cgroup
    raise AssertionError(f"no {hierarchy} cgroup of {marker} holds pid {pid}")


def redis_server_pid(pod: dict[str, Any]) -> int:
    (pid,) = [p for p, name in pod_processes(pod).items() if name == "redis-server"]
    return pid


def in_pod_netns(pod: dict[str, Any], *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the pod's network namespace (nsenter, not kubectl exec)."""
    pause = next(p for p, name in pod_processes(pod).items() if name == "pause")
    return subprocess.run(
        ["nsenter", f"--target={pause}", "--net", *argv],
        capture_output=True,
        text=True,
        check=False,
    )


def nat_rules() -> list[list[str]]:
    """The host's nat table, one rule a list: chain first, then its arguments."""
    saved = subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True
    ).stdout
    return [shlex.split(line)[1:] for line in saved.splitlines() if line.startswith("-A ")]
