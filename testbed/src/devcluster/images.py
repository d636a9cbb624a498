"""The real node's container images, built locally and cached: no registry is ever pulled from.

``localhost/redis:<version>`` is a Debian rootfs made by ``mmdebstrap`` (the mirror apt uses)
with ``redis-server``, packed as a one-layer OCI image; ``localhost/python:<version>`` is the
same with Debian's Python (the operator's Dockerfile builds on it here, see ``imagebuild``);
``localhost/pause:<kubernetes version>`` is ``pause.c`` from the ``k8s.io/kubernetes`` module
compiled with ``gcc -static``. Each is an OCI archive that ``ctr images import`` takes, keyed in
the cache by the versions it was built from. The names say honestly that they are local builds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devcluster.build import KUBERNETES_VERSION, BuildError, component_dir, log

REDIS_PACKAGE = "redis-server"
#: The operator's base: Debian's Python, its venv module (the Dockerfile installs into a venv)
#: and ``passwd`` (the Dockerfile's ``useradd``).
PYTHON_PACKAGES = ("python3.11", "python3-venv", "passwd")
DEBIAN_SUITE = "bookworm"
#: Every file time in the rootfs (mmdebstrap's SOURCE_DATE_EPOCH): 2024-01-01T00:00:00Z.
REPRODUCIBLE_EPOCH = "1704067200"
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    """An OCI archive on disk and the name it is imported under."""

    name: str
    archive: Path


def upstream_version(debian_version: str) -> str:
    """``5:7.0.15-1~deb12u10`` -> ``7.0.15``: the epoch and the Debian revision dropped."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def candidate_version(package: str) -> str:
    """The version apt would install (``apt-cache policy``'s Candidate)."""
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate" and value.strip() not in ("", "(none)"):
            return value.strip()
    raise BuildError(f"apt knows no candidate version of {package} (run 'apt-get update')")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = _sha256(data)
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def oci_archive(rootfs_tar: bytes, name: str, cmd: list[str], out: Path) -> Image:
    """Pack one uncompressed rootfs tar as a one-layer linux/amd64 OCI image archive.

    gzip without a timestamp and a config without dates: the same rootfs gives the same digest.
    """
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp)
        (layout / "blobs" / "sha256").mkdir(parents=True)
        layer = gzip.compress(rootfs_tar, compresslevel=6, mtime=0)
        layer_desc: dict[str, object] = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}
        layer_desc |= _blob(layout, layer)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [_PATH], "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [_sha256(rootfs_tar)]},
        }
        config_desc: dict[str, object] = {"mediaType": "application/vnd.oci.image.config.v1+json"}
        config_desc |= _blob(layout, json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        manifest_desc: dict[str, object] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json"
        }
        manifest_desc |= _blob(layout, json.dumps(manifest, sort_keys=True).encode())
        manifest_desc["annotations"] = {
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
        }
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifest_desc],
        }
        (layout / "index.json").write_text(json.dumps(index, sort_keys=True))
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        partial = out.with_suffix(".partial")
        with tarfile.open(partial, "w") as archive:
            for path in sorted(layout.rglob("*")):
                info = archive.gettarinfo(str(path), str(path.relative_to(layout)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if path.is_file():
                    with path.open("rb") as f:
                        archive.addfile(info, f)
                else:
                    archive.addfile(info)
        partial.rename(out)
    return Image(name, out)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _cache_key(versions: list[str]) -> str:
    return "_".join(v.replace(":", "_").replace("~", "_").replace("+", "_") for v in versions)


def _debian_image(name: str, packages: dict[str, str], cmd: list[str], target: Path) -> Image:
    """A one-layer image of a Debian rootfs with ``packages`` (name -> version) and their
    dependencies: mmdebstrap's essential variant, docs left out, reproducible."""
    archive = target / "image.tar"
    if archive.exists():
        return Image(name, archive)
    target.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f"{p} {v}" for p, v in packages.items())
    log(f"building {name} with mmdebstrap ({listed}) ...")
    rootfs = target / "rootfs.tar"
    _run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=essential",
            "--include=" + ",".join(f"{p}={v}" for p, v in packages.items()),
            "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
            DEBIAN_SUITE,
            str(rootfs),
        ],
        "mmdebstrap",
        # mmdebstrap's reproducible mode: the same packages give the same rootfs, byte for byte.
        env={**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH},
    )
    oci_archive(rootfs.read_bytes(), name, cmd, archive)
    rootfs.unlink()
    return Image(name, archive)


def build_redis_image() -> Image:
    """``localhost/redis:<upstream version>``, built once per Debian package version."""
    debian_version = candidate_version(REDIS_PACKAGE)
    name = f"localhost/redis:{upstream_version(debian_version)}"
    target = component_dir("image-redis", _cache_key([debian_version]))
    return _debian_image(name, {REDIS_PACKAGE: debian_version}, ["redis-server"], target)


def build_python_image() -> Image:
    """``localhost/python:<upstream version>``, built once per set of Debian package versions."""
    versions = {package: candidate_version(package) for package in PYTHON_PACKAGES}
    name = f"localhost/python:{upstream_version(versions[PYTHON_PACKAGES[0]])}"
    target = component_dir("image-python", _cache_key(list(versions.values())))
    return _debian_image(name, versions, ["python3"], target)


def build_pause_image(pause_source: Path, version: str = KUBERNETES_VERSION) -> Image:
    """``localhost/pause:<kubernetes version>``: the sandbox image, one static binary."""
    name = f"localhost/pause:{version}"
    target = component_dir("image-pause", version)
    archive = target / "image.tar"
    if archive.exists():
        return Image(name, archive)
    if shutil.which("gcc") is None:
        raise BuildError("gcc is needed to build the pause image (apt-get install gcc)")
    target.mkdir(parents=True, exist_ok=True)
    binary = target / "pause"
    _run(
        [
            "gcc",
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION={version}",
            "-o",
            str(binary),
            str(pause_source),
        ],
        "gcc pause.c",
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as rootfs:
        info = rootfs.gettarinfo(str(binary), "pause")
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        with binary.open("rb") as f:
            rootfs.addfile(info, f)
    oci_archive(buf.getvalue(), name, ["/pause"], archive)
    return Image(name, archive)
