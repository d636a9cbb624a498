"""The operator's image, built from the Dockerfile by BuildKit here: what it holds, and that its
build has no network at all.

Needs root (the build runs containerd); no cluster. The image itself running as a pod on the
real node is in test_real_node.py.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from devcluster import imagebuild
from devcluster.build import build_buildkit, ensure_node_binaries
from devcluster.images import Image
from tests.e2e.operator import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def image() -> Image:
    return imagebuild.build_operator_image(ensure_node_binaries(), REPO)


def _blobs(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _manifest(blobs: dict[str, bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    (descriptor,) = json.loads(blobs["index.json"])["manifests"]
    manifest: dict[str, Any] = json.loads(blobs[descriptor["digest"].split(":")[1]])
    config: dict[str, Any] = json.loads(blobs[manifest["config"]["digest"].split(":")[1]])
    return manifest, config


def _paths(blobs: dict[str, bytes], manifest: dict[str, Any]) -> list[str]:
    paths = []
    for layer in manifest["layers"]:
        data = gzip.decompress(blobs[layer["digest"].split(":")[1]])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            paths += tar.getnames()
    return paths


def test_the_image_holds_the_operator_and_its_dependencies_and_nothing_of_the_test_bed(
    image: Image,
) -> None:
    assert image.name.startswith("localhost/redis-operator:")
    blobs = _blobs(image.archive)
    (descriptor,) = json.loads(blobs["index.json"])["manifests"]
    assert descriptor["annotations"]["io.containerd.image.name"] == image.name
    manifest, config = _manifest(blobs)
    assert config["config"]["Entrypoint"] == ["redis-operator", "run"]
    assert config["config"]["User"] == "10001:10001"
    paths = _paths(blobs, manifest)
    site = "opt/redis-operator/lib/python3.11/site-packages/"
    for expected in (
        "opt/redis-operator/bin/redis-operator",
        site + "redis_operator/cli.py",
        site + "event_recorder/__init__.py",
        site + "aiohttp/__init__.py",
        site + "kubernetes_asyncio/__init__.py",
    ):
        assert expected in paths
    for unwanted in ("devcluster", "testbed", site + "kopf/", site + "tests/", ".git/", "/.venv/"):
        assert not [p for p in paths if unwanted in p], unwanted
    assert not [p for p in paths if p.startswith(("build/", "wheels/"))]


def test_a_rebuild_of_the_same_sources_is_the_same_image(image: Image) -> None:
    before = json.loads(_blobs(image.archive)["index.json"])
    again = imagebuild.build_operator_image(ensure_node_binaries(), REPO)
    assert json.loads(_blobs(again.archive)["index.json"]) == before


def _in_netns(pid: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", *argv], capture_output=True, text=True, check=False
    )


def test_the_build_runs_where_there_is_no_network_and_leaves_nothing() -> None:
    """containerd (so its shims and every build container) and buildkitd share a network
    namespace with only a loopback, down: no route at all, 192.0.2.1 unreachable."""
    node = ensure_node_binaries()
    with imagebuild.daemons(node, build_buildkit()) as running:
        assert running.buildkitd is not None
        containerd, buildkitd = running.containerd.pid, running.buildkitd.pid
        own = Path(f"/proc/{containerd}/ns/net").readlink()
        assert own != Path("/proc/self/ns/net").readlink()
        assert Path(f"/proc/{buildkitd}/ns/net").readlink() == own
        links = _in_netns(containerd, "ip", "-o", "link", "show").stdout.splitlines()
        assert len(links) == 1 and links[0].split()[1] == "lo:", links
        assert "state DOWN" in links[0]
        assert _in_netns(containerd, "ip", "route", "show").stdout == ""
        way_out = _in_netns(containerd, "ip", "route", "get", "192.0.2.1")
        assert way_out.returncode != 0 and "Network is unreachable" in way_out.stderr
        runtime = running.runtime
    assert imagebuild.leftovers(runtime) == []
