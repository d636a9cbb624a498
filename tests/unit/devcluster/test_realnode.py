"""The real node's configuration keeps it on the machine and off the system's defaults."""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path

import pytest

from devcluster import realnode
from devcluster.build import NodeBinaries
from devcluster.cluster import ClusterError, DevCluster
from devcluster.components import fake_node
from devcluster.realnode import NodeFiles


def test_the_pod_network_has_no_gateway_no_masquerade_and_no_route_out(tmp_path: Path) -> None:
    """A pod's only route beyond its subnet is the Service range, through the bridge's address."""
    (bridge,) = realnode.cni_config(tmp_path)["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == realnode.BRIDGE
    assert bridge["isGateway"] is False
    assert bridge["isDefaultGateway"] is False
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == [{"dst": realnode.SERVICE_SUBNET, "gw": realnode.BRIDGE_IP}]
    (subnet,) = bridge["ipam"]["ranges"][0]
    assert subnet["subnet"] == realnode.POD_SUBNET
    assert ipaddress.ip_address(realnode.BRIDGE_IP) in ipaddress.ip_network(realnode.POD_SUBNET)


def test_the_pod_subnet_is_private_and_not_the_hosts() -> None:
    network = ipaddress.ip_network(realnode.POD_SUBNET)
    assert network.is_private and network.prefixlen == 24


def test_the_service_range_is_private_and_apart_from_the_pods() -> None:
    services = ipaddress.ip_network(realnode.SERVICE_SUBNET)
    assert services.is_private
    assert not services.overlaps(ipaddress.ip_network(realnode.POD_SUBNET))


def test_kube_proxy_changes_no_sysctl_it_need_not_and_serves_nodeports_on_the_bridge(
    tmp_path: Path,
) -> None:
    config = realnode.kube_proxy_config(tmp_path / "kc", 1, 2)
    assert config["mode"] == "iptables"
    assert config["nodePortAddresses"] == [f"{realnode.BRIDGE_IP}/32"]
    assert config["iptables"] == {"localhostNodePorts": False, "masqueradeAll": False}
    assert config["conntrack"] == {
        "maxPerCore": 0,
        "min": 0,
        "tcpEstablishedTimeout": "0s",
        "tcpCloseWaitTimeout": "0s",
    }
    assert config["healthzBindAddress"] == "127.0.0.1:1"
    assert config["metricsBindAddress"] == "127.0.0.1:2"


def test_containerd_uses_only_its_own_files_and_cannot_pull(tmp_path: Path) -> None:
    files = NodeFiles(tmp_path)
    config = tomllib.loads(realnode.containerd_config(files, "localhost/pause:v1"))
    assert config["imports"] == []
    assert "io.containerd.nri.v1.nri" in config["disabled_plugins"]
    assert config["root"].startswith(str(tmp_path)) and config["state"].startswith(str(tmp_path))
    assert config["grpc"]["address"] == str(files.containerd_socket)
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    assert runtime["cni"]["conf_dir"] == str(files.cni_conf_dir)
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "localhost/pause:v1"
    assert images["registry"]["config_path"] == str(files.registry_hosts)


def test_prepare_points_every_registry_at_a_closed_loopback_port(tmp_path: Path) -> None:
    files = NodeFiles(tmp_path / "node")
    ca = tmp_path / "ca.crt"
    realnode.prepare(files, ca, (tmp_path / "k.crt", tmp_path / "k.key"), "p:1", 10250, 10248, {})
    hosts = tomllib.loads((files.registry_hosts / "_default" / "hosts.toml").read_text())
    assert hosts["server"].startswith("http://127.0.0.1:")
    assert files.resolv_conf.read_text() == ""
    (conflist,) = files.cni_conf_dir.iterdir()
    ipam = json.loads(conflist.read_text())["plugins"][0]["ipam"]
    assert ipam["dataDir"] == str(files.cni_ipam_dir)
    created = json.loads(files.created_host_paths.read_text())
    assert set(created) <= {str(p) for p in realnode.HOST_PATHS}


def test_the_kubelet_config_fits_a_cgroup_v1_host_without_cap_sys_resource(
    tmp_path: Path,
) -> None:
    files = NodeFiles(tmp_path)
    config = realnode.kubelet_config(
        files, tmp_path / "ca.crt", (tmp_path / "c", tmp_path / "k"), 10250, 10248
    )
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["oomScoreAdj"] == 0
    assert config["address"] == realnode.BRIDGE_IP
    assert config["readOnlyPort"] == 0
    assert config["resolvConf"] == str(files.resolv_conf)
    assert config["authentication"]["anonymous"] == {"enabled": False}


def test_the_kubelet_registers_with_its_node_ip_on_the_bridge(tmp_path: Path) -> None:
    binaries = NodeBinaries(*(tmp_path / n for n in "abcdef"))
    argv = realnode.kubelet_argv(binaries, NodeFiles(tmp_path), tmp_path / "kc")
    assert f"--node-ip={realnode.BRIDGE_IP}" in argv
    assert f"--hostname-override={realnode.NODE_NAME}" in argv


def test_kwok_nodes_are_tainted_only_beside_a_real_node() -> None:
    assert "spec" not in fake_node("kwok-node-0")
    assert fake_node("kwok-node-0", tainted=True)["spec"] == {"taints": [realnode.KWOK_TAINT]}


def test_a_real_node_without_root_is_refused_before_any_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr(
        "devcluster.cluster.ensure_binaries", lambda: pytest.fail("built before refusing")
    )
    with pytest.raises(ClusterError, match=r"needs root.*--real-nodes 0"):
        DevCluster(state_dir=tmp_path / "c").up(real_nodes=1)
    assert not (tmp_path / "c").exists()


def test_more_than_one_real_node_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="one real node per machine"):
        DevCluster(state_dir=tmp_path / "c").up(real_nodes=2)
