"""Each component is built from its Go module at a pinned version, once: the cache is keyed by
name and version, and every build goes through the same wrapper module and ``go`` calls."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devcluster import build

#: Records its arguments; ``go mod download -json`` answers with a module at ``$GO_MODULE``.
FAKE_GO = """#!/bin/sh
echo "$@" >> "$GO_CALLS"
if [ "$1" = mod ]; then
  printf '{"Dir": "%s", "GoMod": "%s/go.mod"}' "$GO_MODULE" "$GO_MODULE"
fi
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
    monkeypatch.setenv("GO_MODULE", str(tmp_path / "module"))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REDIS_OPERATOR_CACHE", str(tmp_path / "cache"))
    return calls


def _builds(calls: Path) -> list[str]:
    return [c for c in calls.read_text().splitlines() if c.startswith("build ")]


def test_helm_is_built_from_its_module_into_a_directory_per_version(fake_go: Path) -> None:
    target = build.build_helm("v4.3.2")
    assert target == build.cache_root() / "bin" / "helm-v4.3.2"
    go_mod = (build.cache_root() / "work" / "helm-v4.3.2" / "go.mod").read_text()
    assert "require helm.sh/helm/v4 v4.3.2" in go_mod
    get, compile_ = fake_go.read_text().splitlines()
    assert get == "get helm.sh/helm/v4/cmd/helm@v4.3.2"
    assert compile_.endswith(f"-o {target / 'helm'} helm.sh/helm/v4/cmd/helm")
    assert "-X helm.sh/helm/v4/internal/version.version=v4.3.2" in compile_
    assert (target / ".complete").exists()


def test_a_built_version_is_not_built_again(fake_go: Path) -> None:
    build.build_helm("v4.3.2")
    calls = fake_go.read_text()
    assert build.build_helm("v4.3.2") == build.cache_root() / "bin" / "helm-v4.3.2"
    assert fake_go.read_text() == calls
    build.build_helm("v4.3.3")
    assert fake_go.read_text() != calls


def test_several_commands_of_one_module_go_into_one_directory_a_file_each(fake_go: Path) -> None:
    target = build.build_containerd("v2.3.7")
    (compile_,) = _builds(fake_go)
    module = "github.com/containerd/containerd/v2"
    assert f"-tags no_btrfs -ldflags -s -w -X {module}/version.Version=v2.3.7" in compile_
    packages = " ".join(f"{module}/cmd/{c}" for c in build.CONTAINERD_COMMANDS)
    assert compile_.endswith(f"-o {target}/ {packages}")
    go_mod = (build.cache_root() / "work" / "containerd-v2.3.7" / "go.mod").read_text()
    assert f"require {module} v2.3.7" in go_mod


def test_etcd_is_its_server_modules_root_package_in_a_file_of_its_own(fake_go: Path) -> None:
    target = build.build_etcd("v3.6.16")
    (compile_,) = _builds(fake_go)
    assert compile_.endswith(f"-ldflags -s -w -o {target / 'etcd'} go.etcd.io/etcd/server/v3")


def test_kwok_keeps_its_stages_from_the_module_beside_the_binary(
    fake_go: Path, tmp_path: Path
) -> None:
    for i, stage in enumerate(build.KWOK_STAGES):
        path = tmp_path / "module" / stage
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"kind: Stage\nname: s{i}\n")
    target = build.build_kwok("v0.8.0")
    (compile_,) = _builds(fake_go)
    assert compile_.endswith(f"-o {target / 'kwok'} sigs.k8s.io/kwok/cmd/kwok")
    stages = (target / "stages.yaml").read_text().split("\n---\n")
    assert [s.splitlines()[1] for s in stages] == [f"name: s{i}" for i in range(len(stages))]
    assert len(stages) == len(build.KWOK_STAGES)


def test_the_node_shares_the_kubernetes_wrapper_with_its_staging_replaces_and_copies_pause(
    fake_go: Path, tmp_path: Path
) -> None:
    module = tmp_path / "module"
    (module / "build" / "pause" / "linux").mkdir(parents=True)
    (module / "build" / "pause" / "linux" / "pause.c").write_text("int main(){}\n")
    (module / "go.mod").write_text("module k8s.io/kubernetes\nrequire (\n\tk8s.io/api v0.0.0\n)\n")
    control_plane = build.build_kubernetes("v1.36.3")
    node = build.build_kubernetes_node("v1.36.3")
    assert node == build.cache_root() / "bin" / "kubernetes-node-v1.36.3"
    assert (node / "pause.c").read_text() == "int main(){}\n"
    go_mod = (build.cache_root() / "work" / "kubernetes-v1.36.3" / "go.mod").read_text()
    assert "replace k8s.io/api => k8s.io/api v0.36.3" in go_mod
    first, second = _builds(fake_go)
    assert first.endswith(
        f"-o {control_plane}/ "
        + " ".join(f"k8s.io/kubernetes/cmd/{c}" for c in build.KUBERNETES_COMMANDS)
    )
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in second
    assert second.endswith("k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy")
