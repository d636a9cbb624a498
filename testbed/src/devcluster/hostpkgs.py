"""The Debian packages a real node needs, installed with apt when missing (as root only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devcluster.build import BuildError, log

#: Debian package -> a file it installs (present means installed).
PACKAGES = {
    "runc": Path("/usr/sbin/runc"),
    "containernetworking-plugins": Path("/usr/lib/cni/bridge"),
    "mmdebstrap": Path("/usr/bin/mmdebstrap"),
    "redis-tools": Path("/usr/bin/redis-cli"),
    "gcc": Path("/usr/bin/gcc"),
    "libc6-dev": Path("/usr/lib/x86_64-linux-gnu/libc.a"),
    "iproute2": Path("/usr/sbin/ip"),
    "util-linux": Path("/usr/bin/nsenter"),
    "iptables": Path("/usr/sbin/iptables"),
}


class NotRootError(BuildError):
    """A real node needs root (network namespaces, a bridge, cgroups, mounts)."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError(
            "a real node needs root (it creates a bridge, network namespaces, cgroups and "
            "mounts); run as root, or use kwok nodes only: dev-cluster up --real-nodes 0"
        )


def missing_packages() -> list[str]:
    return [name for name, path in PACKAGES.items() if not path.exists()]


def ensure_host_packages() -> None:
    """``apt-get install`` whatever is missing (after one ``apt-get update``)."""
    missing = missing_packages()
    if not missing:
        return
    require_root()
    if shutil.which("apt-get") is None:
        raise BuildError(f"apt-get is not available to install {', '.join(missing)}")
    log(f"installing {' '.join(missing)} with apt ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        proc = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise BuildError(f"{' '.join(cmd[:2])} failed (exit {proc.returncode}):\n{tail}")
