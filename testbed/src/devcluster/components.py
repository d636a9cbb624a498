"""The command lines of the control plane's processes: every address is on this machine.

Without a real node everything is on 127.0.0.1: kwok gives its fake nodes and pods addresses in
127.0.0.0/8, the Service range is in loopback too, and the apiserver's endpoint reconciler is
off (it refuses loopback endpoints). With one, the apiserver listens on the bridge's address
instead (the ``kubernetes`` Service's endpoint, which pods reach), Services take the range
routed to the bridge, and the EndpointSlice controller and kube-proxy run (see ``realnode``).
Nothing here ever dials an address outside this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devcluster import realnode
from devcluster.layout import LOOPBACK_SERVICE_CIDR, Layout, Settings

#: The Service range of a cluster without a real node (``Settings.service_cidr``).
SERVICE_CIDR = LOOPBACK_SERVICE_CIDR
POD_CIDR = "127.64.0.0/16"
NODE_IP = "127.0.0.1"

#: Audit only writes (Metadata level): enough to count an operator's write calls.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
"""


#: A kubelet re-reports a running pod Ready once its node is back; kwok's stages only make
#: Pending pods Ready, so pods the node lifecycle controller marked NotReady during an
#: apiserver outage (the node's lease lapsed) would stay NotReady forever without this one.
POD_READY_AGAIN_STAGE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'False'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
"""


#: kwok's node-initialize stage re-runs whenever Ready is not True (a lease that lapsed under
#: load is enough) and, its ``NodeName`` being empty here, writes ``addresses:`` with no item,
#: which clears the node's addresses for good. This stage writes them back; its weight makes
#: kwok pick it over the heartbeat stage, which matches too (kwok picks one stage by weight).
NODE_ADDRESSES_AGAIN_STAGE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-addresses-again
spec:
  weight: 1
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.addresses'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  next:
    statusTemplate: |
      addresses:
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      - address: {{ .metadata.name | Quote }}
        type: Hostname
"""

#: Every stage the test bed adds to kwok's own, as one ``--config`` document stream.
EXTRA_STAGES = POD_READY_AGAIN_STAGE + "---\n" + NODE_ADDRESSES_AGAIN_STAGE


@dataclass(frozen=True)
class Component:
    """One process of the control plane, in start order."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None


def identity_kubeconfig(layout: Layout, name: str) -> Path:
    return layout.kubeconfigs / f"{name}.kubeconfig"


def node_components(layout: Layout, settings: Settings) -> list[Component]:
    """containerd, the kubelet and kube-proxy of the real node, if the cluster has one."""
    if settings.node is None:
        return []
    files = realnode.NodeFiles(layout.node)
    binaries = settings.node.binaries
    kubelet_kc = identity_kubeconfig(layout, "kubelet")
    return [
        Component(
            "containerd",
            realnode.containerd_argv(binaries, files),
            env=realnode.runtime_env(binaries),
        ),
        Component("kubelet", realnode.kubelet_argv(binaries, files, kubelet_kc)),
        Component("kube-proxy", realnode.kube_proxy_argv(binaries, files)),
    ]


def components(layout: Layout, settings: Settings) -> list[Component]:
    """All processes, in the order they must start."""
    return control_plane(layout, settings) + node_components(layout, settings)


def control_plane(layout: Layout, settings: Settings) -> list[Component]:
    """The control plane's processes and kwok, in start order."""
    b, p, pki = settings.binaries, settings.ports, layout.pki
    kcm_kc = identity_kubeconfig(layout, "kube-controller-manager")
    sched_kc = identity_kubeconfig(layout, "kube-scheduler")
    host = settings.apiserver_host
    if settings.node is None:
        # Endpoints and EndpointSlices refuse loopback addresses, and kwok's pods have only
        # loopback ones: those controllers (and the apiserver's reconciler) could only fail.
        endpoints = ["--endpoint-reconciler-type=none"]
        controllers = "*,-endpoints-controller,-endpointslice-controller,"
    else:
        endpoints = []
        controllers = "*,-endpoints-controller,"
    controllers += "-endpointslice-mirroring-controller"
    etcd_url = f"http://127.0.0.1:{p.etcd_client}"
    peer_url = f"http://127.0.0.1:{p.etcd_peer}"
    return [
        Component(
            "etcd",
            [
                str(b.etcd),
                "--name=default",
                f"--data-dir={layout.etcd_data}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        ),
        Component(
            "kube-apiserver",
            [
                str(b.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={host}",
                f"--advertise-address={host}",
                f"--secure-port={p.apiserver}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                "--anonymous-auth=false",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={settings.service_cidr}",
                # Reaching a kubelet (logs, exec) dials its InternalIP, never a resolved name.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                *endpoints,
                f"--audit-policy-file={layout.audit_policy}",
                f"--audit-log-path={layout.audit_log}",
                "--audit-log-format=json",
                "--profiling=false",
                "--v=1",
            ],
        ),
        Component(
            "kube-controller-manager",
            [
                str(b.kube_controller_manager),
                f"--kubeconfig={kcm_kc}",
                f"--authentication-kubeconfig={kcm_kc}",
                f"--authorization-kubeconfig={kcm_kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.controller_manager}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                f"--controllers={controllers}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        ),
        Component(
            "kube-scheduler",
            [
                str(b.kube_scheduler),
                f"--kubeconfig={sched_kc}",
                f"--authentication-kubeconfig={sched_kc}",
                f"--authorization-kubeconfig={sched_kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.scheduler}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
                *scheduler_rate_flags(settings),
            ],
        ),
        Component(
            "kwok",
            [
                str(b.kwok),
                f"--kubeconfig={layout.admin_kubeconfig}",
                f"--config={b.kwok_stages}",
                f"--config={layout.extra_stages}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--node-ip={NODE_IP}",
                f"--cidr={POD_CIDR}",
                # Renew node Leases (what node-heartbeat-with-lease relies on); without them
                # the node lifecycle controller marks nodes and their pods NotReady.
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{p.kwok}",
            ],
        ),
    ]


def scheduler_rate_flags(settings: Settings) -> list[str]:
    """kube-scheduler's client rate flags when the cluster raised them; none by default."""
    flags = []
    if settings.scheduler_api_qps is not None:
        flags.append(f"--kube-api-qps={settings.scheduler_api_qps:g}")
    if settings.scheduler_api_burst is not None:
        flags.append(f"--kube-api-burst={settings.scheduler_api_burst}")
    return flags


def fake_node(name: str, tainted: bool = False) -> dict[str, object]:
    """A Node that kwok manages; ``tainted`` (beside a real node) keeps pods that do not
    tolerate ``realnode.KWOK_TAINT`` off it."""
    node: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "500"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "500"},
        },
    }
    if tainted:
        node["spec"] = {"taints": [realnode.KWOK_TAINT]}
    return node
