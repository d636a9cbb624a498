"""Build the Go controller-runtime peer (benchmarks/peers/go) into the cache, keyed by its sources.

The binary lives outside the repo, under ``devcluster``'s cache root, in a directory named for
a hash of the peer's go.mod, go.sum and Go files and of the Go version: a changed source or
toolchain builds anew, an unchanged one is reused. ``-mod=readonly``: the committed go.sum is
what is built, nothing is rewritten.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from devcluster.build import cache_root

SOURCE = Path(__file__).resolve().parent / "peers" / "go"
BINARY = "redis-peer"


def source_hash() -> str:
    """A hash of the peer's sources and of the Go toolchain that builds them."""
    digest = hashlib.sha256()
    version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True)
    digest.update(version.stdout.encode())
    for path in sorted(SOURCE.iterdir()):
        if path.name in ("go.mod", "go.sum") or path.suffix == ".go":
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build() -> Path:
    """The peer's binary, built first if this version of its sources has none yet."""
    target = cache_root() / "bin" / f"go-peer-{source_hash()}" / BINARY
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
        cwd=SOURCE,
        env=env,
        check=True,
    )
    partial.rename(target)
    return target


if __name__ == "__main__":
    print(build())
