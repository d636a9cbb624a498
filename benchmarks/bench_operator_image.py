"""Benchmark of the operator's image: its build from the Dockerfile cold and warm, its size.

Run as root with ``python benchmarks/bench_operator_image.py [--runs N]``; it prints figures
and asserts nothing. Each run uses a cache of its own in a temporary directory, holding only
links to the compiled binaries of the real cache (containerd, BuildKit): so the Debian base
image (mmdebstrap), the wheels (pip download) and BuildKit's state start empty ("cold"), then
the same build again is "warm". The binaries must be built (``dev-cluster build``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from devcluster.build import build_buildkit, cache_root, ensure_node_binaries
from devcluster.imagebuild import build_operator_image
from devcluster.images import build_python_image

REPO = Path(__file__).resolve().parents[1]
LINKED = ("buildkit", "containerd", "kubernetes-node")
TIMES = ("base image (mmdebstrap)", "image cold", "image warm")


def _private_cache(real: Path) -> Path:
    cache = Path(tempfile.mkdtemp(prefix="redis-op-bench-image-"))
    (cache / "bin").mkdir()
    for entry in (real / "bin").iterdir():
        if entry.name.rsplit("-v", 1)[0] in LINKED:
            (cache / "bin" / entry.name).symlink_to(entry)
    return cache


def sizes(archive: Path) -> dict[str, float]:
    """MB: the archive, its layers compressed and uncompressed, the base layer's share."""
    with tarfile.open(archive) as tar:
        blobs = {
            m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    (descriptor,) = json.loads(blobs["index.json"])["manifests"]
    manifest = json.loads(blobs[descriptor["digest"].split(":")[1]])
    layers = [blobs[layer["digest"].split(":")[1]] for layer in manifest["layers"]]
    mb = 1e6
    return {
        "archive": archive.stat().st_size / mb,
        "layers compressed": sum(len(layer) for layer in layers) / mb,
        "layers uncompressed": sum(len(gzip.decompress(layer)) for layer in layers) / mb,
        "base layer compressed": len(layers[0]) / mb,
    }


def one_run() -> dict[str, float]:
    real = cache_root()
    node = ensure_node_binaries()
    build_buildkit()
    cache = _private_cache(real)
    os.environ["REDIS_OPERATOR_CACHE"] = str(cache)
    try:
        started = time.monotonic()
        build_python_image()
        base = time.monotonic() - started
        started = time.monotonic()
        build_operator_image(node, REPO)
        cold = time.monotonic() - started
        started = time.monotonic()
        image = build_operator_image(node, REPO)
        warm = time.monotonic() - started
        return dict(zip(TIMES, (base, cold, warm), strict=True)) | sizes(image.archive)
    finally:
        os.environ.pop("REDIS_OPERATOR_CACHE")
        shutil.rmtree(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for key in runs[0]:
        values = [r[key] for r in runs]
        unit = "s" if key in TIMES else "MB"
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"{key:<26} median {statistics.median(values):7.1f} {unit}  ({listed})")


if __name__ == "__main__":
    main()
