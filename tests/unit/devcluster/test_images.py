"""Local images: honest names, and an OCI archive containerd can import, the same each time."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from devcluster.images import oci_archive, upstream_version


def test_the_tag_is_the_upstream_version_of_the_debian_package() -> None:
    assert upstream_version("5:7.0.15-1~deb12u10") == "7.0.15"
    assert upstream_version("1.2.3") == "1.2.3"


def _rootfs() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"#!/bin/true\n"
        info = tarfile.TarInfo("bin/hello")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_one_layer_oci_archive_named_for_containerd(tmp_path: Path) -> None:
    image = oci_archive(_rootfs(), "localhost/hello:1.0", ["/bin/hello"], tmp_path / "a.tar")
    assert image.name == "localhost/hello:1.0"
    files = _members(image.archive)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    (descriptor,) = json.loads(files["index.json"])["manifests"]
    assert descriptor["annotations"]["io.containerd.image.name"] == "localhost/hello:1.0"
    blob = files[f"blobs/sha256/{descriptor['digest'].split(':')[1]}"]
    assert hashlib.sha256(blob).hexdigest() == descriptor["digest"].split(":")[1]
    manifest = json.loads(blob)
    (layer,) = manifest["layers"]
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    assert config["config"]["Cmd"] == ["/bin/hello"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(_rootfs()).hexdigest()]
    assert f"blobs/sha256/{layer['digest'].split(':')[1]}" in files


def test_the_same_rootfs_gives_the_same_archive(tmp_path: Path) -> None:
    first = oci_archive(_rootfs(), "localhost/hello:1.0", ["/bin/hello"], tmp_path / "1.tar")
    second = oci_archive(_rootfs(), "localhost/hello:1.0", ["/bin/hello"], tmp_path / "2.tar")
    assert first.archive.read_bytes() == second.archive.read_bytes()
