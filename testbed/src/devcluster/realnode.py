"""A real node beside the kwok ones: containerd, a kubelet and a bridge of the project's own.

Network safety is the design: the pods live on ``BRIDGE`` with addresses in ``POD_SUBNET`` and
no default route (CNI bridge plugin, ``isGateway: false``, no masquerade, ``ip_forward`` left as
found), so a pod reaches its peers and the host, and nothing else. Services get addresses in
``SERVICE_SUBNET``, routed to the bridge on the host and through the bridge's address in a pod;
kube-proxy (iptables mode) turns them into the endpoints' addresses: the ``kubernetes`` Service
into the apiserver, which listens on the bridge's address. The kubelet's node IP is the
bridge's own address, pods get an empty resolv.conf (no outside resolver), and containerd
resolves every registry to a closed loopback port, so even a pod naming an image that is not
imported fails locally instead of reaching out. containerd keeps its root, state, sockets, CNI
configuration and network namespaces under the cluster's state directory.

One real node per machine: the kubelet still writes a few fixed paths (``HOST_PATHS``).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.build import NodeBinaries

BRIDGE = "rodev0"
POD_SUBNET = "10.244.77.0/24"
BRIDGE_IP = "10.244.77.1"
#: The Service range of a cluster with a real node (``--service-cluster-ip-range``).
SERVICE_SUBNET = "10.244.78.0/24"
NODE_NAME = "real-node-0"
RUNC = Path("/usr/sbin/runc")
CNI_BIN_DIR = Path("/usr/lib/cni")

#: Paths the kubelet, containerd or the CNI plugins create whatever their configuration says.
HOST_PATHS = (
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/var/lib/cni"),
)

#: A Node taint kwok's documentation uses for fake nodes: in a cluster with a real node, a pod
#: lands on a kwok node only if it tolerates this (benchmarks at scale do); others run for real.
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}

#: Every registry resolves to this closed port: a pull fails on loopback, never leaves.
_NO_REGISTRY = "http://127.0.0.1:9"


@dataclass(frozen=True)
class NodeFiles:
    """Where one real node's runtime state and configuration live (under the state dir)."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def registry_hosts(self) -> Path:
        return self.root / "containerd" / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def created_host_paths(self) -> Path:
        """The ``HOST_PATHS`` that did not exist before ``up``: the ones teardown removes."""
        return self.root / "created-host-paths.json"


def containerd_config(files: NodeFiles, pause_image: str) -> str:
    """containerd's config: nothing imported, nothing from the system defaults, NRI off."""
    return f"""\
version = 3
root = "{files.containerd_root}"
state = "{files.containerd_state}"
imports = []
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{files.containerd_socket}"

[ttrpc]
  address = "{files.containerd_socket}.ttrpc"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{files.cni_conf_dir}"
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{pause_image}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{files.registry_hosts}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_config(ipam_dir: Path) -> dict[str, Any]:
    """The pod network: the project's bridge, no gateway, no masquerade, no default route."""
    return {
        "cniVersion": "1.0.0",
        "name": "redis-operator-dev",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": False,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": BRIDGE_IP}]],
                    # The Service range through the host (where kube-proxy's rules are); no
                    # other route, no default one.
                    "routes": [{"dst": SERVICE_SUBNET, "gw": BRIDGE_IP}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }


def kubelet_config(
    files: NodeFiles, ca_cert: Path, serving: tuple[Path, Path], port: int, healthz_port: int
) -> dict[str, object]:
    """The kubelet's configuration for a cgroup v1 host without systemd or CAP_SYS_RESOURCE."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "oomScoreAdj": 0,
        "address": BRIDGE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{files.containerd_socket}",
        "resolvConf": str(files.resolv_conf),
        "podLogsDir": str(files.pod_logs),
        "failSwapOn": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%"},
        "maxPods": 50,
    }


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, object]:
    """kube-proxy in iptables mode, changing nothing of the machine it need not change.

    NodePorts only on the bridge's address, none on localhost (which would set
    ``route_localnet``); conntrack sysctls left as found (zero means "do not set").
    """
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        # As the kubelet's: root here may not lower an oom_score_adj (no CAP_SYS_RESOURCE).
        "oomScoreAdj": 0,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{BRIDGE_IP}/32"],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def prepare(
    files: NodeFiles,
    ca_cert: Path,
    serving: tuple[Path, Path],
    pause_image: str,
    port: int,
    healthz_port: int,
    kube_proxy: dict[str, object],
) -> None:
    """Write the node's configuration files and note which ``HOST_PATHS`` are new."""
    for directory in (
        files.cni_conf_dir,
        files.cni_ipam_dir,
        files.kubelet_root,
        files.pod_logs,
        files.registry_hosts / "_default",
    ):
        directory.mkdir(parents=True, exist_ok=True)
    files.containerd_config.write_text(containerd_config(files, pause_image))
    (files.registry_hosts / "_default" / "hosts.toml").write_text(f'server = "{_NO_REGISTRY}"\n')
    conf = cni_config(files.cni_ipam_dir)
    (files.cni_conf_dir / "10-redis-operator-dev.conflist").write_text(json.dumps(conf, indent=2))
    files.kubelet_config.write_text(
        json.dumps(kubelet_config(files, ca_cert, serving, port, healthz_port), indent=2)
    )
    files.kube_proxy_config.write_text(json.dumps(kube_proxy, indent=2))
    files.resolv_conf.write_text("")
    new = [str(p) for p in HOST_PATHS if not p.exists()]
    files.created_host_paths.write_text(json.dumps(new))


def containerd_argv(binaries: NodeBinaries, files: NodeFiles) -> list[str]:
    return [str(binaries.containerd), f"--config={files.containerd_config}", "--log-level=warn"]


def kubelet_argv(binaries: NodeBinaries, files: NodeFiles, kubeconfig: Path) -> list[str]:
    return [
        str(binaries.kubelet),
        f"--config={files.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={files.kubelet_root}",
        f"--node-ip={BRIDGE_IP}",
        f"--hostname-override={NODE_NAME}",
        "--v=1",
    ]


def kube_proxy_argv(binaries: NodeBinaries, files: NodeFiles) -> list[str]:
    return [str(binaries.kube_proxy), f"--config={files.kube_proxy_config}", "--v=1"]


def runtime_env(binaries: NodeBinaries) -> dict[str, str]:
    """containerd finds its shim on PATH: the shim's directory goes first."""
    path = f"{binaries.containerd_shim.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {**os.environ, "PATH": path}


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def bridge_exists() -> bool:
    return _ip("link", "show", "dev", BRIDGE).returncode == 0


def bridge_up() -> None:
    """Create the bridge with the node's address, and route the Service range to it (the
    route goes with the bridge); IPv6 off on it (no router solicitations)."""
    create: tuple[tuple[str, ...], ...] = (
        ("link", "add", BRIDGE, "type", "bridge"),
        ("addr", "add", f"{BRIDGE_IP}/{POD_SUBNET.split('/')[1]}", "dev", BRIDGE),
    )
    for args in create:
        result = _ip(*args)
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
    up: tuple[tuple[str, ...], ...] = (
        ("link", "set", BRIDGE, "up"),
        ("route", "add", SERVICE_SUBNET, "dev", BRIDGE, "src", BRIDGE_IP),
    )
    for args in up:
        result = _ip(*args)
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def import_images(ctr: Path, files: NodeFiles, archives: list[Path]) -> None:
    """Import the local images into containerd's ``k8s.io`` namespace (the CRI's)."""
    for archive in archives:
        result = subprocess.run(
            [
                str(ctr),
                f"--address={files.containerd_socket}",
                "-n",
                "k8s.io",
                "images",
                "import",
                "--local",
                str(archive),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr images import {archive}: {result.stderr.strip()}")
