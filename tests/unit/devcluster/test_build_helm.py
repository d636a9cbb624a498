"""helm is built from its Go module at a pinned version, once: the cache is keyed by version."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devcluster import build

FAKE_GO = """#!/bin/sh
echo "$@" >> "$GO_CALLS"
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    go = bindir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    monkeypatch.setenv("GO_CALLS", str(calls))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REDIS_OPERATOR_CACHE", str(tmp_path / "cache"))
    return calls


def test_helm_is_built_from_its_module_into_a_directory_per_version(fake_go: Path) -> None:
    target = build.build_helm("v4.3.2")
    assert target == build.cache_root() / "bin" / "helm-v4.3.2"
    go_mod = (build.cache_root() / "work" / "helm-v4.3.2" / "go.mod").read_text()
    assert "require helm.sh/helm/v4 v4.3.2" in go_mod
    get, compile_ = fake_go.read_text().splitlines()
    assert get == "get helm.sh/helm/v4/cmd/helm@v4.3.2"
    assert compile_.endswith(f"-o {target / 'helm'} helm.sh/helm/v4/cmd/helm")
    assert "-X helm.sh/helm/v4/internal/version.version=v4.3.2" in compile_


def test_a_built_version_is_not_built_again(fake_go: Path) -> None:
    build.build_helm("v4.3.2")
    calls = fake_go.read_text()
    assert build.build_helm("v4.3.2") == build.cache_root() / "bin" / "helm-v4.3.2"
    assert fake_go.read_text() == calls
    build.build_helm("v4.3.3")
    assert fake_go.read_text() != calls
