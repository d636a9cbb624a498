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
from collections.abc import Callable, Sequence
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


def _component(
    name: str,
    version: str,
    wrapper: Callable[[], Path],
    packages: Sequence[str],
    ldflags: str = "-s -w",
    *,
    binary: str | None = None,
    tags: Sequence[str] = (),
    finish: Callable[[Path, Path], None] | None = None,
) -> Path:
    """The cache directory of ``name`` at ``version``, built unless complete: ``packages`` in
    the work directory ``wrapper()`` writes, into one file ``binary`` or a file per package;
    ``finish(work, target)`` adds what else the directory holds."""
    target = component_dir(name, version)
    if _is_complete(target):
        return target
    work = wrapper()
    target.mkdir(parents=True, exist_ok=True)
    out = target / binary if binary else target
    _build(work, packages, version, out, ldflags, f"{name} {version}", tags=tags)
    if finish is not None:
        finish(work, target)
    _mark_complete(target)
    return target


def _plain_wrapper(name: str, module: str, version: str) -> Callable[[], Path]:
    """A wrapper module of ``module`` with no replaces, in the work directory of ``name``."""

    def write() -> Path:
        work = cache_root() / "work" / f"{name}-{version}"
        _wrapper(work, module, version, [])
        return work

    return write


def _kubernetes_wrapper(version: str) -> Path:
    """The wrapper module of ``k8s.io/kubernetes``, shared by every build from it (and so is
    the Go build cache)."""
    work = cache_root() / "work" / f"kubernetes-{version}"
    work.mkdir(parents=True, exist_ok=True)
    _wrapper(work, "k8s.io/kubernetes", version, [])
    info = _download("k8s.io/kubernetes", version, work)
    minor = "v0." + ".".join(version.lstrip("v").split(".")[1:])
    replaces = staging_replaces(Path(info["GoMod"]).read_text(), minor)
    if not replaces:
        raise BuildError(f"no staging modules found in the go.mod of k8s.io/kubernetes@{version}")
    _wrapper(work, "k8s.io/kubernetes", version, replaces)
    return work


def build_kubernetes(version: str = KUBERNETES_VERSION) -> Path:
    """Build kube-apiserver, -controller-manager, -scheduler and kubectl at one release."""
    return _component(
        "kubernetes",
        version,
        lambda: _kubernetes_wrapper(version),
        [f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS],
        _ldflags_kubernetes(version),
    )


def build_kubernetes_node(version: str = KUBERNETES_VERSION) -> Path:
    """Build kubelet and kube-proxy, and copy ``pause.c`` (the sandbox image's program) along."""

    def copy_pause(work: Path, target: Path) -> None:
        module_dir = Path(_download("k8s.io/kubernetes", version, work)["Dir"])
        shutil.copyfile(module_dir / "build" / "pause" / "linux" / "pause.c", target / "pause.c")

    return _component(
        "kubernetes-node",
        version,
        lambda: _kubernetes_wrapper(version),
        [f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_NODE_COMMANDS],
        _ldflags_kubernetes(version),
        finish=copy_pause,
    )


def build_containerd(version: str = CONTAINERD_VERSION) -> Path:
    """Build containerd, ctr and the runc shim (no cgo: btrfs, which needs it, is left out)."""
    module = "github.com/containerd/containerd/v2"
    return _component(
        "containerd",
        version,
        _plain_wrapper("containerd", module, version),
        [f"{module}/cmd/{c}" for c in CONTAINERD_COMMANDS],
        f"-s -w -X {module}/version.Version={version}",
        tags=["no_btrfs"],
    )


def build_buildkit(version: str = BUILDKIT_VERSION) -> Path:
    """Build buildkitd and buildctl (static, no cgo), which build the operator's Dockerfile."""
    module = "github.com/moby/buildkit"
    return _component(
        "buildkit",
        version,
        _plain_wrapper("buildkit", module, version),
        [f"{module}/cmd/{c}" for c in BUILDKIT_COMMANDS],
        f"-s -w -X {module}/version.Version={version}",
        tags=["osusergo", "netgo", "static_build"],
    )


def build_helm(version: str = HELM_VERSION) -> Path:
    """Build helm (cmd/helm of ``helm.sh/helm/v4``), which installs the operator's chart."""
    module = "helm.sh/helm/v4"
    # The version variables of helm's Makefile; `helm version` reports them.
    ldflags = (
        f"-s -w -X {module}/internal/version.version={version}"
        f" -X {module}/internal/version.gitTreeState=clean"
    )
    wrapper = _plain_wrapper("helm", module, version)
    return _component("helm", version, wrapper, [f"{module}/cmd/helm"], ldflags, binary="helm")


def build_etcd(version: str = ETCD_VERSION) -> Path:
    """Build etcd; its server module's root is the main package."""
    module = "go.etcd.io/etcd/server/v3"
    wrapper = _plain_wrapper("etcd", module, version)
    return _component("etcd", version, wrapper, [module], binary="etcd")


def build_kwok(version: str = KWOK_VERSION) -> Path:
    """Build kwok and collect the stage files it needs into one --config file."""
    module = "sigs.k8s.io/kwok"

    def collect_stages(work: Path, target: Path) -> None:
        module_dir = Path(_download(module, version, work)["Dir"])
        docs = [(module_dir / stage).read_text().strip() for stage in KWOK_STAGES]
        (target / "stages.yaml").write_text("\n---\n".join(docs) + "\n")

    return _component(
        "kwok",
        version,
        _plain_wrapper("kwok", module, version),
        [f"{module}/cmd/kwok"],
        binary="kwok",
        finish=collect_stages,
    )


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
