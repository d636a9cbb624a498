"""Build the local control plane's binaries from Go modules, into a cache outside the repo.

Nothing is downloaded but Go modules through the module proxy: each component is built inside a
small generated wrapper module, because the upstream main modules carry ``replace`` directives
that ``go install pkg@version`` refuses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
CONTAINERD_VERSION = "v2.3.7"
BUILDKIT_VERSION = "v0.34.2"
HELM_VERSION = "v4.3.2"

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
KUBERNETES_NODE_COMMANDS = ("kubelet", "kube-proxy")
CONTAINERD_COMMANDS = ("containerd", "ctr", "containerd-shim-runc-v2")
BUILDKIT_COMMANDS = ("buildkitd", "buildctl")

#: kwok v0.8.0 ships no built-in stages: these come from its module and are passed with --config.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)

_COMPLETE_MARKER = ".complete"


class BuildError(RuntimeError):
    """The control plane could not be built; the message says which step failed."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the built control-plane binaries and kwok's stage configuration."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_stages: Path


def cache_root() -> Path:
    """Where built binaries live: ``$REDIS_OPERATOR_CACHE`` or ``~/.cache/redis-operator``."""
    env = os.environ.get("REDIS_OPERATOR_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "redis-operator"


def log(message: str) -> None:
    print(f"[dev-cluster build] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-mod=mod")
    return env


def _run(cmd: Sequence[str], cwd: Path, what: str) -> str:
    """Run a go command, failing with its output tail when it fails."""
    if shutil.which(cmd[0]) is None:
        raise BuildError(f"{cmd[0]!r} is not on PATH; it is needed to build the control plane")
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=_go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _download(module: str, version: str, workdir: Path) -> dict[str, str]:
    out = _run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], workdir, f"download {module}"
    )
    info: dict[str, str] = json.loads(out)
    if "Error" in info:
        raise BuildError(f"download {module}@{version}: {info['Error']}")
    return info


def staging_replaces(go_mod_text: str, minor_version: str) -> list[tuple[str, str]]:
    """Staging modules a Kubernetes go.mod requires at v0.0.0, mapped to published versions.

    ``k8s.io/kubernetes`` requires its staging repositories (``k8s.io/api``, ...) at ``v0.0.0``
    with local replaces; outside its tree each must be replaced by the matching ``v0.X.Y``.
    """
    found = re.findall(r"^\s*(k8s\.io/[\w.\-/]+)\s+v0\.0\.0\s*$", go_mod_text, re.MULTILINE)
    return [(module, minor_version) for module in sorted(set(found))]


def _ldflags_kubernetes(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _wrapper(workdir: Path, module: str, version: str, replaces: Sequence[tuple[str, str]]) -> None:
    """Write a wrapper go.mod that requires ``module`` at ``version`` with the given replaces."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"module devcluster/wrapper/{module.replace('/', '_')}", "", "go 1.26.0", ""]
    lines.append(f"require {module} {version}")
    lines += [f"replace {m} => {m} {v}" for m, v in replaces]
    (workdir / "go.mod").write_text("\n".join(lines) + "\n")


def _build(
    workdir: Path,
    packages: Sequence[str],
    version: str,
    out: Path,
    ldflags: str,
    what: str,
    tags: Sequence[str] = (),
) -> None:
    started = time.monotonic()
    log(f"resolving {what} dependencies ...")
    _run(["go", "get", *(f"{p}@{version}" for p in packages)], workdir, f"go get {what}")
    log(f"compiling {what} (a cold build takes many minutes on 2 cores) ...")
    # ``-o dir/`` names each binary after its package; a single package may name its file.
    target = str(out) if len(packages) == 1 and not out.is_dir() else str(out) + "/"
    tag_args = ["-tags", ",".join(tags)] if tags else []
    _run(
        ["go", "build", "-trimpath", *tag_args, "-ldflags", ldflags, "-o", target, *packages],
        workdir,
        f"go build {what}",
    )
    log(f"{what} built in {time.monotonic() - started:.0f}s")


def component_dir(name: str, version: str) -> Path:
    return cache_root() / "bin" / f"{name}-{version}"


def _is_complete(directory: Path) -> bool:
    return (directory / _COMPLETE_MARKER).exists()


def _mark_complete(directory: Path) -> None:
    (directory / _COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))


def _kubernetes_wrapper(version: str) -> tuple[Path, Path]:
    """The wrapper module of ``k8s.io/kubernetes`` (shared by every build from it) and the
    module's own directory."""
    work = cache_root() / "work" / f"kubernetes-{version}"
    work.mkdir(parents=True, exist_ok=True)
    _wrapper(work, "k8s.io/kubernetes", version, [])
    info = _download("k8s.io/kubernetes", version, work)
    minor = "v0." + ".".join(version.lstrip("v").split(".")[1:])
    replaces = staging_replaces(Path(info["GoMod"]).read_text(), minor)
    if not replaces:
        raise BuildError(f"no staging modules found in the go.mod of k8s.io/kubernetes@{version}")
    _wrapper(work, "k8s.io/kubernetes", version, replaces)
    return work, Path(info["Dir"])


def build_kubernetes(version: str = KUBERNETES_VERSION) -> Path:
    """Build kube-apiserver, -controller-manager, -scheduler and kubectl at one release."""
    target = component_dir("kubernetes", version)
    if _is_complete(target):
        return target
    work, _ = _kubernetes_wrapper(version)
    packages = [f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS]
    target.mkdir(parents=True, exist_ok=True)
    _build(work, packages, version, target, _ldflags_kubernetes(version), "kubernetes " + version)
    _mark_complete(target)
    return target


def build_kubernetes_node(version: str = KUBERNETES_VERSION) -> Path:
    """Build kubelet and kube-proxy, and copy ``pause.c`` (the sandbox image's program) along.

    Same release and wrapper module as the control plane, so the Go build cache is shared.
    """
    target = component_dir("kubernetes-node", version)
    if _is_complete(target):
        return target
    work, module_dir = _kubernetes_wrapper(version)
    packages = [f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_NODE_COMMANDS]
    target.mkdir(parents=True, exist_ok=True)
    _build(work, packages, version, target, _ldflags_kubernetes(version), "kubelet " + version)
    shutil.copyfile(module_dir / "build" / "pause" / "linux" / "pause.c", target / "pause.c")
    _mark_complete(target)
    return target


def build_containerd(version: str = CONTAINERD_VERSION) -> Path:
    """Build containerd, ctr and the runc shim (no cgo: btrfs, which needs it, is left out)."""
    target = component_dir("containerd", version)
    if _is_complete(target):
        return target
    module = "github.com/containerd/containerd/v2"
    work = cache_root() / "work" / f"containerd-{version}"
    _wrapper(work, module, version, [])
    packages = [f"{module}/cmd/{c}" for c in CONTAINERD_COMMANDS]
    target.mkdir(parents=True, exist_ok=True)
    ldflags = f"-s -w -X {module}/version.Version={version}"
    _build(work, packages, version, target, ldflags, "containerd " + version, tags=["no_btrfs"])
    _mark_complete(target)
    return target


def build_buildkit(version: str = BUILDKIT_VERSION) -> Path:
    """Build buildkitd and buildctl (static, no cgo), which build the operator's Dockerfile."""
    target = component_dir("buildkit", version)
    if _is_complete(target):
        return target
    module = "github.com/moby/buildkit"
    work = cache_root() / "work" / f"buildkit-{version}"
    _wrapper(work, module, version, [])
    packages = [f"{module}/cmd/{c}" for c in BUILDKIT_COMMANDS]
    target.mkdir(parents=True, exist_ok=True)
    ldflags = f"-s -w -X {module}/version.Version={version}"
    tags = ["osusergo", "netgo", "static_build"]
    _build(work, packages, version, target, ldflags, "buildkit " + version, tags=tags)
    _mark_complete(target)
    return target


def build_helm(version: str = HELM_VERSION) -> Path:
    """Build helm (cmd/helm of ``helm.sh/helm/v4``), which installs the operator's chart."""
    target = component_dir("helm", version)
    if _is_complete(target):
        return target
    module = "helm.sh/helm/v4"
    work = cache_root() / "work" / f"helm-{version}"
    _wrapper(work, module, version, [])
    target.mkdir(parents=True, exist_ok=True)
    # The version variables of helm's Makefile; `helm version` reports them.
    ldflags = (
        f"-s -w -X {module}/internal/version.version={version}"
        f" -X {module}/internal/version.gitTreeState=clean"
    )
    _build(work, [f"{module}/cmd/helm"], version, target / "helm", ldflags, "helm " + version)
    _mark_complete(target)
    return target


def build_etcd(version: str = ETCD_VERSION) -> Path:
    """Build etcd; its server module's root is the main package."""
    target = component_dir("etcd", version)
    if _is_complete(target):
        return target
    work = cache_root() / "work" / f"etcd-{version}"
    _wrapper(work, "go.etcd.io/etcd/server/v3", version, [])
    target.mkdir(parents=True, exist_ok=True)
    _build(
        work, ["go.etcd.io/etcd/server/v3"], version, target / "etcd", "-s -w", "etcd " + version
    )
    _mark_complete(target)
    return target


def build_kwok(version: str = KWOK_VERSION) -> Path:
    """Build kwok and collect the stage files it needs into one --config file."""
    target = component_dir("kwok", version)
    if _is_complete(target):
        return target
    work = cache_root() / "work" / f"kwok-{version}"
    _wrapper(work, "sigs.k8s.io/kwok", version, [])
    info = _download("sigs.k8s.io/kwok", version, work)
    target.mkdir(parents=True, exist_ok=True)
    _build(
        work, ["sigs.k8s.io/kwok/cmd/kwok"], version, target / "kwok", "-s -w", "kwok " + version
    )
    module_dir = Path(info["Dir"])
    docs = [(module_dir / stage).read_text().strip() for stage in KWOK_STAGES]
    (target / "stages.yaml").write_text("\n---\n".join(docs) + "\n")
    _mark_complete(target)
    return target


@dataclass(frozen=True)
class NodeBinaries:
    """Paths of what a real node runs: kubelet, kube-proxy, containerd and the shim."""

    kubelet: Path
    kube_proxy: Path
    pause_source: Path
    containerd: Path
    ctr: Path
    containerd_shim: Path


def ensure_node_binaries() -> NodeBinaries:
    """Build the real node's binaries that are missing from the cache and return the paths."""
    node = build_kubernetes_node()
    containerd = build_containerd()
    return NodeBinaries(
        kubelet=node / "kubelet",
        kube_proxy=node / "kube-proxy",
        pause_source=node / "pause.c",
        containerd=containerd / "containerd",
        ctr=containerd / "ctr",
        containerd_shim=containerd / "containerd-shim-runc-v2",
    )


def ensure_binaries() -> Binaries:
    """Build whatever is missing from the cache (reusing what is there) and return the paths."""
    etcd = build_etcd()
    kube = build_kubernetes()
    kwok = build_kwok()
    return Binaries(
        etcd=etcd / "etcd",
        kube_apiserver=kube / "kube-apiserver",
        kube_controller_manager=kube / "kube-controller-manager",
        kube_scheduler=kube / "kube-scheduler",
        kubectl=kube / "kubectl",
        kwok=kwok / "kwok",
        kwok_stages=kwok / "stages.yaml",
    )
