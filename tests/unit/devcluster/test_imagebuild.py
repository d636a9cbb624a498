"""Building the operator's image: what pip must fetch, and a build that has no network."""

from __future__ import annotations

import zipfile
from pathlib import Path

from devcluster import imagebuild
from devcluster.build import NodeBinaries

REPO = Path(__file__).resolve().parents[3]


def test_the_wheels_are_the_third_party_requirements_of_both_distributions() -> None:
    wanted = imagebuild.third_party_requirements(imagebuild.Project(REPO).pyprojects())
    names = {r.split(">")[0].split("=")[0].split("[")[0] for r in wanted}
    assert {"setuptools", "wheel", "aiohttp", "prometheus_client", "PyYAML"} <= names
    assert "kopf" not in names  # only the recorder's optional integration uses it
    assert "kubernetes_asyncio" in names  # also asked of the recorder through its extra
    assert not [n for n in names if "recorder" in n or "testbed" in n]


def test_extras_one_local_project_asks_of_another_are_followed() -> None:
    operator = {
        "build-system": {"requires": ["setuptools>=68"]},
        "project": {"name": "op", "dependencies": ["rec[a]>=0.1", "x>=1"]},
    }
    recorder = {
        "project": {
            "name": "rec",
            "dependencies": ["p>=2"],
            "optional-dependencies": {"a": ["y>=3"], "b": ["z"]},
        }
    }
    assert imagebuild.third_party_requirements([operator, recorder]) == [
        "p>=2",
        "setuptools>=68",
        "x>=1",
        "y>=3",
    ]


def _node(tmp_path: Path) -> NodeBinaries:
    return NodeBinaries(*(tmp_path / n for n in ("kl", "kp", "pause.c", "cd", "ctr", "shim")))


def test_the_daemons_run_in_a_network_namespace_of_their_own(tmp_path: Path) -> None:
    containerd = imagebuild.containerd_argv(_node(tmp_path), tmp_path / "c.toml")
    assert containerd[:3] == ["unshare", "--net", "--"]
    buildkitd = imagebuild.buildkitd_argv(tmp_path, 42, tmp_path)
    assert buildkitd[:2] == ["nsenter", "--net=/proc/42/ns/net"]
    assert "--oci-worker=false" in buildkitd and "--containerd-worker=true" in buildkitd
    # "host" is the namespace above: build containers get no network of their own.
    assert "--containerd-worker-net=host" in buildkitd


def test_the_build_takes_its_base_from_the_store_and_pip_only_the_wheels(tmp_path: Path) -> None:
    argv = imagebuild.buildctl_argv(
        tmp_path, tmp_path / "s", REPO, tmp_path / "w", "localhost/python:3", tmp_path / "o", "n"
    )
    assert "--frontend=dockerfile.v0" in argv
    for opt in (
        "--opt=image-resolve-mode=local",
        "--opt=context:wheels=local:wheels",
        "--opt=build-arg:BASE_IMAGE=localhost/python:3",
        "--opt=build-arg:PIP_NO_INDEX=1",
        "--opt=build-arg:PIP_FIND_LINKS=/wheels",
    ):
        assert opt in argv
    assert f"--local=wheels={tmp_path / 'w'}" in argv


def test_the_build_containerd_serves_no_cri(tmp_path: Path) -> None:
    config = imagebuild.containerd_config(tmp_path / "root", tmp_path / "run")
    assert '"io.containerd.grpc.v1.cri"' in config
    assert "imports = []" in config
    assert f'address = "{tmp_path / "run" / "containerd.sock"}"' in config


def test_the_dockerfile_keeps_the_public_base_for_docker_users() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines
    assert "FROM scratch AS wheels" in lines
    # Without a value: unset, pip uses its index (Docker users); the test bed sets both.
    assert {"ARG PIP_NO_INDEX", "ARG PIP_FIND_LINKS"} <= set(lines)
    assert not [line for line in lines if line.startswith("# syntax=")]  # no frontend pulled


def _wheel(directory: Path, name: str, *requires: str) -> None:
    requirements = "".join(f"Requires-Dist: {r}\n" for r in requires)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requirements}"
    with zipfile.ZipFile(directory / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata)


def test_requirements_are_evaluated_for_the_image_s_python_not_the_host_s(
    tmp_path: Path,
) -> None:
    _wheel(
        tmp_path,
        "redis",
        'async-timeout>=4.0.3; python_full_version < "3.11.3"',
        'cryptography>=36; extra == "ocsp"',
        "present",
        'pywin32; sys_platform == "win32"',
    )
    _wheel(tmp_path, "present")
    bookworm = imagebuild.target_environment("3.11.2")
    assert imagebuild.missing_for(tmp_path, bookworm) == ["async-timeout>=4.0.3"]
    assert imagebuild.missing_for(tmp_path, imagebuild.target_environment("3.11.7")) == []
