"""A local Kubernetes control plane: bring it up, issue identities, tear it down.

``up`` builds what is missing, lays out certificates and kubeconfigs, then hands the processes
to a detached supervisor (see ``supervisor.py``) and waits until it reports the cluster ready.
``down`` stops processes by the pids it recorded (checking each is still ours), never by name.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devcluster import pki, realnode
from devcluster.build import Binaries, ensure_binaries, ensure_node_binaries
from devcluster.components import (
    AUDIT_POLICY,
    EXTRA_STAGES,
    components,
    identity_kubeconfig,
)
from devcluster.hostpkgs import ensure_host_packages, require_root
from devcluster.images import build_pause_image, build_redis_image
from devcluster.kubeconfig import write_kubeconfig
from devcluster.layout import Layout, NodeSettings, Settings, default_state_root
from devcluster.ports import Ports, free_port
from devcluster.supervisor import admin_endpoint, pid_alive
from devcluster.teardown import teardown

_IDENTITIES = {
    # file stem: (user, groups)
    "admin": ("kubernetes-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    # Allowed by the Node authorizer; the apiserver's identity towards kubelets.
    "kubelet": (f"system:node:{realnode.NODE_NAME}", ("system:nodes",)),
    # Bound to system:node-proxier by the apiserver's default RBAC policy.
    "kube-proxy": ("system:kube-proxy", ()),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
}
_USER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9:._@-]*$")


class ClusterError(RuntimeError):
    """The cluster could not be brought up or used; the message says why."""


@dataclass(frozen=True)
class Status:
    """What ``status`` reports about one cluster."""

    state_dir: Path
    running: bool
    ready: bool
    kubeconfig: Path | None
    processes: dict[str, int | None]


class DevCluster:
    """One local cluster, identified by its state directory."""

    def __init__(self, state_dir: Path | None = None, name: str = "dev") -> None:
        self.layout = Layout(state_dir or default_state_root() / name)

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    def binaries(self) -> Binaries:
        return Settings.load(self.layout.settings).binaries

    def kubectl_path(self) -> Path:
        return self.binaries().kubectl

    # -- lifecycle -----------------------------------------------------------------------

    def up(
        self,
        nodes: int = 1,
        owner_pid: int | None = None,
        timeout: float = 300.0,
        real_nodes: int = 0,
        scheduler_api_qps: float | None = None,
        scheduler_api_burst: int | None = None,
    ) -> Path:
        """Start the cluster (idempotent) and return the admin kubeconfig path.

        ``nodes`` kwok nodes, and ``real_nodes`` (0 or 1) real ones: see ``realnode``.
        ``scheduler_api_qps``/``scheduler_api_burst`` raise kube-scheduler's client rate
        (default 50 QPS, burst 100), so that binding pods is not what bounds a benchmark.
        """
        if self.is_ready():
            return self.kubeconfig
        if self._supervisor_pid() is not None:
            self.down()
        if real_nodes not in (0, 1):
            raise ClusterError(
                f"--real-nodes {real_nodes}: one real node per machine at most (the kubelet "
                "writes fixed paths such as /var/lib/kubelet)"
            )
        if real_nodes:
            self._check_real_node_host()
        binaries = ensure_binaries()
        node = self._node_settings() if real_nodes else None
        rate = (scheduler_api_qps, scheduler_api_burst)
        self._prepare(binaries, nodes, owner_pid, node, rate)
        log = self.layout.log_file("supervisor").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "devcluster.supervisor", str(self.layout.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.layout.ready_marker.exists():
            if proc.poll() is not None:
                raise ClusterError(
                    f"the control plane failed to start:\n{self.log_tail('supervisor')}"
                )
            if time.monotonic() > deadline:
                self.down()
                raise ClusterError(f"the control plane was not ready within {timeout:.0f}s")
            time.sleep(0.2)
        return self.kubeconfig

    def _check_real_node_host(self) -> None:
        """Refuse early, before any build, what cannot host a real node."""
        try:
            require_root()
        except RuntimeError as exc:
            raise ClusterError(str(exc)) from exc
        if realnode.bridge_exists():
            raise ClusterError(
                f"the bridge {realnode.BRIDGE} exists: another cluster with a real node runs on "
                "this machine (one at a time); stop it with 'dev-cluster down'"
            )

    def _node_settings(self) -> NodeSettings:
        """Build what the real node needs (cached) and pick the kubelet's ports."""
        ensure_host_packages()
        binaries = ensure_node_binaries()
        pause = build_pause_image(binaries.pause_source)
        redis = build_redis_image()
        return NodeSettings(
            binaries=binaries,
            pause_image=pause.name,
            redis_image=redis.name,
            image_archives=(pause.archive, redis.archive),
            kubelet_port=free_port(),
            kubelet_healthz_port=free_port(),
            kube_proxy_healthz_port=free_port(),
            kube_proxy_metrics_port=free_port(),
        )

    def _prepare(
        self,
        binaries: Binaries,
        nodes: int,
        owner_pid: int | None,
        node: NodeSettings | None,
        scheduler_rate: tuple[float | None, int | None] = (None, None),
    ) -> None:
        layout = self.layout
        if layout.root.exists():
            shutil.rmtree(layout.root)
        for directory in (layout.root, layout.pki, layout.logs, layout.pids, layout.kubeconfigs):
            directory.mkdir(parents=True, exist_ok=True)
        layout.root.chmod(0o700)
        ports = Ports.allocate()
        qps, burst = scheduler_rate
        settings = Settings(ports, binaries, nodes, owner_pid, node, qps, burst)
        settings.save(layout.settings)
        layout.audit_policy.write_text(AUDIT_POLICY)
        layout.extra_stages.write_text(EXTRA_STAGES)
        ca = pki.create_ca(layout.pki)
        service_ip = str(ipaddress.ip_network(settings.service_cidr)[1])
        pki.issue(
            ca,
            layout.pki,
            "apiserver",
            "kube-apiserver",
            server_names=[
                *([settings.apiserver_host] if settings.node is not None else []),
                "127.0.0.1",
                "localhost",
                service_ip,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            client=False,
        )
        pki.create_service_account_keys(layout.pki)
        server = layout.server(settings)
        for stem, (user, groups) in _IDENTITIES.items():
            pair = pki.issue(ca, layout.pki, stem, user, groups)
            target = (
                layout.admin_kubeconfig if stem == "admin" else identity_kubeconfig(layout, stem)
            )
            write_kubeconfig(target, server, ca.cert, user, pair)
        if node is not None:
            serving = pki.issue(
                ca,
                layout.pki,
                "kubelet-serving",
                f"system:node:{realnode.NODE_NAME}",
                server_names=[realnode.BRIDGE_IP, realnode.NODE_NAME],
                client=False,
            )
            realnode.prepare(
                realnode.NodeFiles(layout.node),
                ca.cert,
                (serving.cert, serving.key),
                node.pause_image,
                node.kubelet_port,
                node.kubelet_healthz_port,
                realnode.kube_proxy_config(
                    identity_kubeconfig(layout, "kube-proxy"),
                    node.kube_proxy_healthz_port,
                    node.kube_proxy_metrics_port,
                ),
            )

    def _has_real_node(self) -> bool:
        try:
            return Settings.load(self.layout.settings).node is not None
        except (OSError, ValueError, KeyError):
            return False

    def _wait_janitor(self, timeout: float = 60.0) -> None:
        """A janitor tearing down after a crashed supervisor: let it finish first."""
        pid = self._owned_pid(self.layout.janitor_pid)
        deadline = time.monotonic() + timeout
        while pid is not None and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def down(self) -> None:
        """Stop every process of this cluster (by recorded pid) and remove its state."""
        supervisor = self._supervisor_pid()
        if supervisor is not None:
            os.kill(supervisor, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while pid_alive(supervisor) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(supervisor):
                os.kill(supervisor, signal.SIGKILL)
        for pid in self.component_pids().values():
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        if self._has_real_node():
            self._wait_janitor()
            try:
                teardown(self.layout.root)
            except RuntimeError as exc:
                raise ClusterError(f"{exc}; state kept at {self.layout.root}") from exc
        if self.layout.root.exists():
            shutil.rmtree(self.layout.root)

    def _control(self, component: str, stop: bool, timeout: float) -> None:
        names = {c.name for c in components(self.layout, Settings.load(self.layout.settings))}
        if component not in names:
            raise ClusterError(f"unknown component {component!r}; one of {sorted(names)}")
        supervisor = self._supervisor_pid()
        if supervisor is None:
            raise ClusterError(f"no cluster running at {self.layout.root}")
        self.layout.control.mkdir(exist_ok=True)
        marker = self.layout.control / component
        if stop:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
        os.kill(supervisor, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while (self.component_pids().get(component) is None) == (not stop):
            if time.monotonic() > deadline:
                state = "stop" if stop else "start"
                raise ClusterError(f"{component} did not {state} within {timeout:.0f}s")
            time.sleep(0.1)

    def stop_component(self, component: str, timeout: float = 30.0) -> None:
        """Stop one component (e.g. kube-apiserver, to test an outage); it stays stopped."""
        self._control(component, stop=True, timeout=timeout)

    def start_component(self, component: str, timeout: float = 60.0) -> None:
        """Start a component stopped by ``stop_component``; for the apiserver, wait /readyz."""
        self._control(component, stop=False, timeout=timeout)
        if component == "kube-apiserver":
            endpoint = admin_endpoint(self.layout, Settings.load(self.layout.settings))
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if endpoint.request("GET", "/readyz")[0] == 200:
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ClusterError(f"kube-apiserver not ready within {timeout:.0f}s")
                time.sleep(0.2)

    def import_image(self, archive: Path) -> None:
        """Import an OCI archive into the real node's containerd (namespace ``k8s.io``)."""
        settings = Settings.load(self.layout.settings)
        if settings.node is None:
            raise ClusterError(f"the cluster at {self.layout.root} has no real node")
        files = realnode.NodeFiles(self.layout.node)
        try:
            realnode.import_images(settings.node.binaries.ctr, files, [archive])
        except RuntimeError as exc:
            raise ClusterError(str(exc)) from exc

    # -- inspection ----------------------------------------------------------------------

    def _owned_pid(self, pid_file: Path) -> int | None:
        """The pid in a pid file, if that process is alive and still one of ours."""
        try:
            pid = int(pid_file.read_text().strip())
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            return None
        # Ours: its command line names this cluster's state dir (every component's does).
        root = str(self.layout.root)
        return pid if any(a == root or root + "/" in a for a in args) else None

    def _supervisor_pid(self) -> int | None:
        return self._owned_pid(self.layout.supervisor_pid)

    def component_pids(self) -> dict[str, int | None]:
        if not self.layout.pids.exists():
            return {}
        return {
            f.stem: self._owned_pid(f)
            for f in sorted(self.layout.pids.glob("*.pid"))
            if f.stem != "supervisor"
        }

    def is_ready(self) -> bool:
        return self.layout.ready_marker.exists() and self._supervisor_pid() is not None

    def status(self) -> Status:
        processes = {"supervisor": self._supervisor_pid(), **self.component_pids()}
        return Status(
            state_dir=self.layout.root,
            running=processes["supervisor"] is not None,
            ready=self.is_ready(),
            kubeconfig=self.kubeconfig if self.kubeconfig.exists() else None,
            processes=processes,
        )

    def log_tail(self, component: str, lines: int = 40) -> str:
        """The last lines of a component's log (or the supervisor's), for failure messages."""
        try:
            text = self.layout.log_file(component).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- identities ----------------------------------------------------------------------

    def issue_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for a non-admin identity (client certificate with CN=user, O=groups)."""
        if not _USER_NAME.match(user):
            raise ClusterError(f"invalid user name {user!r}")
        if not self.layout.settings.exists():
            raise ClusterError(f"no cluster at {self.layout.root}; run 'dev-cluster up' first")
        settings = Settings.load(self.layout.settings)
        stem = "user-" + user.replace(":", "_")
        ca = pki.KeyPair(self.layout.pki / "ca.crt", self.layout.pki / "ca.key")
        pair = pki.issue(ca, self.layout.pki, stem, user, groups)
        path = self.layout.kubeconfigs / f"{stem}.kubeconfig"
        return write_kubeconfig(path, self.layout.server(settings), ca.cert, user, pair)
