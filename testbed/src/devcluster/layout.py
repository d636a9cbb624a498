"""Where a local cluster keeps its state, and the settings its supervisor reads back."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devcluster import realnode
from devcluster.build import Binaries, NodeBinaries
from devcluster.ports import Ports

#: The Service range of a cluster without a real node: loopback, so nothing can leave.
LOOPBACK_SERVICE_CIDR = "127.96.0.0/16"


def default_state_root() -> Path:
    """``$REDIS_OPERATOR_STATE`` or ``~/.local/state/redis-operator``."""
    env = os.environ.get("REDIS_OPERATOR_STATE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "redis-operator"


@dataclass(frozen=True)
class NodeSettings:
    """What the real node runs: its binaries, the local images and the kubelet's ports."""

    binaries: NodeBinaries
    pause_image: str
    redis_image: str
    image_archives: tuple[Path, ...]
    kubelet_port: int
    kubelet_healthz_port: int
    kube_proxy_healthz_port: int
    kube_proxy_metrics_port: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeSettings:
        return cls(
            binaries=NodeBinaries(**{k: Path(v) for k, v in data["binaries"].items()}),
            pause_image=data["pause_image"],
            redis_image=data["redis_image"],
            image_archives=tuple(Path(p) for p in data["image_archives"]),
            kubelet_port=data["kubelet_port"],
            kubelet_healthz_port=data["kubelet_healthz_port"],
            # Absent from a cluster started before kube-proxy ran: its down still tears it down.
            kube_proxy_healthz_port=data.get("kube_proxy_healthz_port", 0),
            kube_proxy_metrics_port=data.get("kube_proxy_metrics_port", 0),
        )


@dataclass(frozen=True)
class Settings:
    """What ``up`` decided and the supervisor needs: ports, binaries, nodes, owner pid."""

    ports: Ports
    binaries: Binaries
    nodes: int
    owner_pid: int | None
    #: The real node, when the cluster has one (``up --real-nodes 1``).
    node: NodeSettings | None = None
    #: kube-scheduler's client rate (``--kube-api-qps``/``--kube-api-burst``); None keeps its
    #: defaults (50 QPS, burst 100), which bound how fast pods are bound (``up
    #: --scheduler-api-qps``).
    scheduler_api_qps: float | None = None
    scheduler_api_burst: int | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text())
        return cls(
            ports=Ports(**data["ports"]),
            binaries=Binaries(**{k: Path(v) for k, v in data["binaries"].items()}),
            nodes=data["nodes"],
            owner_pid=data["owner_pid"],
            node=NodeSettings.from_json(data["node"]) if data.get("node") else None,
            scheduler_api_qps=data.get("scheduler_api_qps"),
            scheduler_api_burst=data.get("scheduler_api_burst"),
        )

    @property
    def real_nodes(self) -> int:
        return 0 if self.node is None else 1

    @property
    def apiserver_host(self) -> str:
        """Where the apiserver listens: 127.0.0.1, or with a real node the bridge's address
        (pods reach it there, through the ``kubernetes`` Service; the host reaches it too)."""
        return realnode.BRIDGE_IP if self.node is not None else "127.0.0.1"

    @property
    def service_cidr(self) -> str:
        """Services on loopback, or with a real node a range routed to its bridge."""
        return realnode.SERVICE_SUBNET if self.node is not None else LOOPBACK_SERVICE_CIDR


@dataclass(frozen=True)
class Layout:
    """Paths inside one cluster's state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    @property
    def extra_stages(self) -> Path:
        return self.root / "kwok-stages.yaml"

    @property
    def ready_marker(self) -> Path:
        return self.root / "ready"

    @property
    def node(self) -> Path:
        """The real node's runtime state and configuration (see ``realnode.NodeFiles``)."""
        return self.root / "node"

    @property
    def janitor_pid(self) -> Path:
        """Outside ``pids/``: the janitor is no component and outlives them (see supervisor)."""
        return self.root / "janitor.pid"

    @property
    def supervisor_pid(self) -> Path:
        return self.pids / "supervisor.pid"

    @property
    def control(self) -> Path:
        """One empty file per component that is to stay stopped (see ``stop_component``)."""
        return self.root / "control"

    def stopped_components(self) -> set[str]:
        if not self.control.exists():
            return set()
        return {f.name for f in self.control.iterdir()}

    def pid_file(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def server(self, settings: Settings) -> str:
        return f"https://{settings.apiserver_host}:{settings.ports.apiserver}"
