"""Build the operator's image from its Dockerfile with BuildKit, offline, into an OCI archive.

No Docker and no registry: the base is ``localhost/python`` (``images.build_python_image``),
passed as the Dockerfile's ``BASE_IMAGE``; the dependencies are wheels downloaded beforehand
with pip (the one client allowed to reach its index) into a wheelhouse handed to the build as
the ``wheels`` context, so pip inside the build installs with ``--no-index``. The build runs in
a containerd of its own (the real node's binary, its own root in the cache) and buildkitd with
the containerd worker, both in a network namespace that has nothing but a loopback that is
down: no step of the build can send a packet anywhere. The result is an OCI archive named
``localhost/redis-operator:<version>`` that ``ctr images import`` takes into the real node's
containerd; BuildKit's cache (kept under the cache root) makes a rebuild of unchanged sources
quick and gives the same digest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from devcluster.build import (
    BUILDKIT_VERSION,
    BuildError,
    NodeBinaries,
    build_buildkit,
    cache_root,
    component_dir,
    log,
)
from devcluster.images import REPRODUCIBLE_EPOCH, Image, build_python_image
from devcluster.realnode import runtime_env
from devcluster.teardown import CGROUP_ROOT, shim_processes

IMAGE_REPOSITORY = "localhost/redis-operator"
#: The containerd namespace the build's images and snapshots live in.
BUILD_NAMESPACE = "buildkit"
#: The Python the base image has: the wheels are downloaded for it.
WHEEL_PLATFORMS = (
    "manylinux_2_36_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
_READY_TIMEOUT = 60.0
#: The cgroup BuildKit's containerd worker puts its build containers under.
BUILD_CGROUP = "buildkit"


@dataclass(frozen=True)
class Project:
    """The local distributions the Dockerfile installs (the operator and the recorder)."""

    root: Path

    def pyprojects(self) -> list[dict[str, object]]:
        files = [self.root / "pyproject.toml", self.root / "event-recorder" / "pyproject.toml"]
        return [tomllib.loads(f.read_text()) for f in files]

    @property
    def version(self) -> str:
        project = self.pyprojects()[0]["project"]
        assert isinstance(project, dict)
        return str(project["version"])


def third_party_requirements(pyprojects: list[dict[str, object]]) -> list[str]:
    """What pip needs from an index to install these projects: their build backends and their
    dependencies (with the extras one asks of another), less the projects themselves."""
    projects: dict[str, dict[str, object]] = {}
    for data in pyprojects:
        project = data["project"]
        assert isinstance(project, dict)
        projects[canonicalize_name(project["name"])] = project
    wanted: set[str] = set()
    for data in pyprojects:
        build_system = data.get("build-system", {})
        assert isinstance(build_system, dict)
        wanted.update(build_system.get("requires", []))
    pending = [Requirement(r) for p in projects.values() for r in p.get("dependencies", [])]  # type: ignore[attr-defined]
    while pending:
        requirement = pending.pop()
        local = projects.get(canonicalize_name(requirement.name))
        if local is None:
            wanted.add(str(requirement))
            continue
        extras = local.get("optional-dependencies", {})
        assert isinstance(extras, dict)
        pending += [Requirement(r) for e in requirement.extras for r in extras.get(e, [])]
    return sorted(wanted)


def python_tag(python_version: str) -> str:
    """``3.11.2`` -> ``3.11``: what wheels are chosen for."""
    return ".".join(python_version.split(".")[:2])


def download_wheels(requirements: list[str], python_version: str) -> Path:
    """A wheelhouse with every requirement as a wheel for the base's Python
    (``python_version``, e.g. ``3.11.2``) on linux/amd64, cached by the requirement list (pip
    picks the newest versions when the list changes).

    pip download chooses wheels for ``--python-version`` but evaluates the dependencies'
    environment markers for the Python running it: a dependency only an older Python needs
    (redis-py's ``async-timeout; python_full_version < "3.11.3"`` on bookworm's 3.11.2) is left
    out. So the wheels' own requirements are read back and evaluated for the target, and what
    is missing is downloaded too, until nothing is.
    """
    python = python_tag(python_version)
    key = hashlib.sha256(json.dumps([python_version, requirements]).encode()).hexdigest()[:16]
    target = component_dir("wheels", key)
    if (target / ".complete").exists():
        return target
    log(f"downloading {len(requirements)} requirements as wheels for Python {python_version} ...")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    abi = "cp" + python.replace(".", "")
    wanted = list(requirements)
    while wanted:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(target)]
        cmd += ["--only-binary=:all:", "--python-version", python_version]
        cmd += ["--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
        proc = subprocess.run([*cmd, *platforms, *wanted], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise BuildError(f"pip download of the image's wheels failed:\n{tail}")
        wanted = missing_for(target, target_environment(python_version))
    (target / ".complete").write_text(json.dumps(requirements) + "\n")
    return target


def target_environment(python_version: str) -> dict[str, str]:
    """The marker environment of the image's CPython ``python_version`` on linux/amd64."""
    environment = {key: str(value) for key, value in default_environment().items()}
    environment.update(
        python_full_version=python_version,
        python_version=python_tag(python_version),
        implementation_name="cpython",
        implementation_version=python_version,
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        os_name="posix",
    )
    return environment


def missing_for(wheelhouse: Path, environment: dict[str, str]) -> list[str]:
    """Requirements of the wheels in ``wheelhouse`` that hold in ``environment`` and that no
    wheel there provides (their markers dropped: they were evaluated here)."""
    wheels = sorted(wheelhouse.glob("*.whl"))
    have = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    missing: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = archive.read(name).decode()
        for line in metadata.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.partition(":")[2].strip())
            held = requirement.marker is None or requirement.marker.evaluate(
                {**environment, "extra": ""}
            )
            project = canonicalize_name(requirement.name)
            if held and project not in have:
                requirement.marker = None
                missing.setdefault(project, str(requirement))
    return sorted(missing.values())


@dataclass(frozen=True)
class Daemons:
    """The build's containerd and buildkitd, and where they listen (unix sockets)."""

    runtime: Path
    containerd: subprocess.Popen[bytes]
    buildkitd: subprocess.Popen[bytes] | None

    @property
    def containerd_socket(self) -> Path:
        return self.runtime / "containerd.sock"

    @property
    def buildkit_socket(self) -> Path:
        return self.runtime / "buildkitd.sock"


def build_state() -> Path:
    """containerd's and buildkitd's roots (images, snapshots, BuildKit's cache), kept warm."""
    return cache_root() / "build" / f"buildkit-{BUILDKIT_VERSION}"


def containerd_config(root: Path, runtime: Path) -> str:
    """The build's containerd: no CRI (nothing but BuildKit uses it), nothing imported."""
    return f"""\
version = 3
root = "{root}"
state = "{runtime / "state"}"
imports = []
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{runtime / "containerd.sock"}"

[ttrpc]
  address = "{runtime / "containerd.sock"}.ttrpc"
"""


def containerd_argv(node: NodeBinaries, config: Path) -> list[str]:
    """containerd in a new network namespace (only a loopback, down): so are its shims and
    every build container, which BuildKit runs in the host (that is: this) namespace."""
    return ["unshare", "--net", "--", str(node.containerd), f"--config={config}"]


def buildkitd_argv(buildkit: Path, containerd_pid: int, daemons_runtime: Path) -> list[str]:
    root = build_state() / "buildkitd"
    return [
        "nsenter",
        f"--net=/proc/{containerd_pid}/ns/net",
        "--",
        str(buildkit / "buildkitd"),
        f"--config={daemons_runtime / 'buildkitd.toml'}",
        f"--root={root}",
        f"--addr=unix://{daemons_runtime / 'buildkitd.sock'}",
        "--oci-worker=false",
        "--containerd-worker=true",
        f"--containerd-worker-addr={daemons_runtime / 'containerd.sock'}",
        f"--containerd-worker-namespace={BUILD_NAMESPACE}",
        "--containerd-worker-net=host",
    ]


def _wait(check: object, what: str, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while not (callable(check) and check()):
        for proc in procs:
            if proc.poll() is not None:
                raise BuildError(f"{what}: a build daemon exited; see {logs}")
        if time.monotonic() > deadline:
            raise BuildError(f"{what}: not ready within {_READY_TIMEOUT:.0f}s; see {logs}")
        time.sleep(0.1)


def _ok(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _mounts_under(prefixes: list[Path]) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    found = [m for m in points if any(m.startswith(str(p) + "/") for p in prefixes)]
    return sorted(set(found), key=len, reverse=True)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_cgroups() -> list[Path]:
    """Every cgroup at or below ``/buildkit`` in every v1 hierarchy, deepest first."""
    found: list[Path] = []
    if CGROUP_ROOT.exists():
        for hierarchy in CGROUP_ROOT.iterdir():
            top = hierarchy / BUILD_CGROUP
            if top.is_dir():
                found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def leftovers(runtime: Path) -> list[str]:
    """What a build may leave, still present: empty once ``daemons`` has cleaned up."""
    left = []
    if shims := shim_processes(runtime / "containerd.sock"):
        left.append(f"shims {shims}")
    if mounts := _mounts_under([runtime, build_state()]):
        left.append(f"mounts {mounts}")
    if runtime.exists():
        left.append(f"runtime dir {runtime}")
    if cgroups := build_cgroups():
        left.append(f"cgroups {[str(c) for c in cgroups[-3:]]}")
    return left


@contextlib.contextmanager
def daemons(node: NodeBinaries, buildkit: Path) -> Iterator[Daemons]:
    """Run the build's containerd and buildkitd for the ``with`` block, then stop them by pid
    and remove what they leave (shims, mounts, the runtime directory). One build at a time per
    machine: the roots in the cache are theirs alone (a lock file waits for another build)."""
    state = build_state()
    state.mkdir(parents=True, exist_ok=True)
    with (state / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _daemons(node, buildkit, state) as running:
            yield running


@contextlib.contextmanager
def _daemons(node: NodeBinaries, buildkit: Path, state: Path) -> Iterator[Daemons]:
    runtime = Path(tempfile.mkdtemp(prefix="redis-op-build-"))
    config = runtime / "containerd.toml"
    config.write_text(containerd_config(state / "containerd", runtime))
    (runtime / "buildkitd.toml").write_text("")
    logs = runtime / "daemons.log"
    out = logs.open("ab")
    containerd = subprocess.Popen(
        containerd_argv(node, config),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=runtime_env(node),
    )
    running = Daemons(runtime, containerd, None)
    try:
        ctr = [str(node.ctr), f"--address={running.containerd_socket}", "version"]
        _wait(lambda: _ok(ctr), "the build's containerd", [containerd], logs)
        buildkitd = subprocess.Popen(
            buildkitd_argv(buildkit, containerd.pid, runtime),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=runtime_env(node),
        )
        running = Daemons(runtime, containerd, buildkitd)
        workers = [
            str(buildkit / "buildctl"),
            f"--addr=unix://{running.buildkit_socket}",
            "debug",
            "workers",
        ]
        _wait(lambda: _ok(workers), "buildkitd", [containerd, buildkitd], logs)
        yield running
    except BuildError as exc:
        tail = "\n".join(logs.read_text(errors="replace").splitlines()[-15:])
        raise BuildError(f"{exc}\n{tail}") from exc
    finally:
        out.close()
        _stop(running.buildkitd)
        _stop(containerd)
        for shim in shim_processes(running.containerd_socket):
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, signal.SIGKILL)
        for point in _mounts_under([runtime, state]):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        for cgroup in build_cgroups():
            with contextlib.suppress(OSError):
                cgroup.rmdir()
        shutil.rmtree(runtime, ignore_errors=True)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def buildctl_argv(
    buildkit: Path, socket: Path, context: Path, wheels: Path, base: str, dest: Path, name: str
) -> list[str]:
    """The Dockerfile, built by BuildKit's own Dockerfile frontend (no frontend image pulled):
    the base from containerd's store, never resolved on a registry."""
    opts = {
        "context:wheels": "local:wheels",
        "build-arg:BASE_IMAGE": base,
        "build-arg:PIP_NO_INDEX": "1",
        "build-arg:PIP_FIND_LINKS": "/wheels",
        "build-arg:SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH,
        "image-resolve-mode": "local",
    }
    return [
        str(buildkit / "buildctl"),
        f"--addr=unix://{socket}",
        "build",
        "--progress=plain",
        "--frontend=dockerfile.v0",
        f"--local=context={context}",
        f"--local=dockerfile={context}",
        f"--local=wheels={wheels}",
        *(f"--opt={k}={v}" for k, v in opts.items()),
        f"--output=type=oci,dest={dest},name={name},rewrite-timestamp=true",
    ]


def default_context() -> Path:
    """The source tree this test bed was installed from (editable), else the current directory."""
    tree = Path(__file__).resolve().parents[3]
    return tree if (tree / "Dockerfile").exists() else Path.cwd()


def build_operator_image(node: NodeBinaries, context: Path) -> Image:
    """``localhost/redis-operator:<version>`` from ``context``'s Dockerfile, as an OCI archive
    in the cache (replaced only when its content changed)."""
    project = Project(context)
    if not (context / "Dockerfile").exists():
        raise BuildError(f"no Dockerfile in {context}: pass the operator's source tree")
    buildkit = build_buildkit()
    base = build_python_image()
    wheels = download_wheels(
        third_party_requirements(project.pyprojects()), base.name.rsplit(":", 1)[1]
    )
    name = f"{IMAGE_REPOSITORY}:{project.version}"
    target = component_dir("image-operator", project.version)
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "image.tar"
    partial = target / "image.tar.partial"
    started = time.monotonic()
    log(f"building {name} from {context / 'Dockerfile'} with BuildKit {BUILDKIT_VERSION} ...")
    with daemons(node, buildkit) as running:
        ctr = [str(node.ctr), f"--address={running.containerd_socket}", "-n", BUILD_NAMESPACE]
        _run([*ctr, "images", "import", "--local", str(base.archive)], "import of the base")
        _run(
            buildctl_argv(
                buildkit, running.buildkit_socket, context, wheels, base.name, partial, name
            ),
            "buildctl build",
        )
    if archive.exists() and archive.read_bytes() == partial.read_bytes():
        partial.unlink()
    else:
        partial.rename(archive)
    log(f"{name} built in {time.monotonic() - started:.0f}s")
    return Image(name, archive)
