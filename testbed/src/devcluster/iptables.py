"""The iptables chains a real node's kubelet and kube-proxy make, found and removed.

A chain is the real node's when its table and name are ones the kubelet or kube-proxy
(iptables mode) create: one real node per machine (``up`` refuses while the project's bridge
exists, and the kubelet's fixed ``HOST_PATHS`` allow one kubelet a machine), so such a chain
is this node's or one a crashed earlier run left. Teardown removes them in both address
families, jumps first, whether or not they were there at ``up``; no other chain is touched.
The test bed itself makes no chain.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

FAMILIES = ("iptables", "ip6tables")

#: (family, table, chain)
Chain = tuple[str, str, str]

#: Fixed-name chains by table, read in Kubernetes v1.36.3: the kubelet's hint and canary
#: (pkg/kubelet/kubelet_network_linux.go; its ``KUBE-FIREWALL``, which kube-proxy makes too),
#: kube-proxy's top-level chains and canary (pkg/proxy/iptables/proxier.go), both families.
FIXED_CHAINS: dict[str, frozenset[str]] = {
    "mangle": frozenset({"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"}),
    "nat": frozenset(
        {
            "KUBE-KUBELET-CANARY",
            "KUBE-PROXY-CANARY",
            "KUBE-SERVICES",
            "KUBE-NODEPORTS",
            "KUBE-POSTROUTING",
            "KUBE-MARK-MASQ",
        }
    ),
    "filter": frozenset(
        {
            "KUBE-KUBELET-CANARY",
            "KUBE-PROXY-CANARY",
            "KUBE-FIREWALL",
            "KUBE-SERVICES",
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-FORWARD",
            "KUBE-NODEPORTS",
            "KUBE-PROXY-FIREWALL",
        }
    ),
}

#: kube-proxy's per-Service and per-endpoint chains (nat only): a prefix and the first 16
#: characters of a base32 SHA-256.
SERVICE_CHAIN = re.compile(r"KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}")

#: The chains kube-proxy and the kubelet jump from: the only ones whose rules teardown deletes.
BUILT_IN = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})


def is_node_chain(table: str, chain: str) -> bool:
    """Whether the kubelet or kube-proxy could have made ``chain`` in ``table``."""
    if chain in FIXED_CHAINS.get(table, frozenset()):
        return True
    return table == "nat" and SERVICE_CHAIN.fullmatch(chain) is not None


def parse(family: str, saved: str) -> tuple[set[Chain], list[tuple[str, list[str]]]]:
    """The chains and the rules (table, ``-A`` arguments) of an ``iptables-save`` output."""
    chains: set[Chain] = set()
    rules: list[tuple[str, list[str]]] = []
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            chains.add((family, table, line[1:].split()[0]))
        elif line.startswith("-A "):
            rules.append((table, shlex.split(line)[1:]))
    return chains, rules


def _target(args: list[str]) -> str | None:
    for flag in ("-j", "--jump", "-g", "--goto"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return None


def node_chains_in(family: str, saved: str) -> set[Chain]:
    """The real node's chains in one family's ``iptables-save`` output."""
    chains, _ = parse(family, saved)
    return {c for c in chains if is_node_chain(c[1], c[2])}


def removal(family: str, saved: str) -> list[list[str]]:
    """The commands that remove the real node's chains from ``saved``: first the rules of
    built-in chains jumping to one, then their own rules (``-F``), then the chains (``-X``)."""
    _, rules = parse(family, saved)
    mine = sorted(node_chains_in(family, saved))
    names = {(table, chain) for _, table, chain in mine}
    commands = [
        [family, "-w", "-t", table, "-D", *args]
        for table, args in rules
        if args[0] in BUILT_IN and (table, _target(args)) in names
    ]
    for verb in ("-F", "-X"):
        commands += [[family, "-w", "-t", table, verb, chain] for _, table, chain in mine]
    return commands


def _save(family: str) -> str:
    if shutil.which(f"{family}-save") is None:
        return ""
    return subprocess.run([f"{family}-save"], capture_output=True, text=True, check=False).stdout


def node_chains() -> set[Chain]:
    """The real node's chains there are now, in both families."""
    return {c for family in FAMILIES for c in node_chains_in(family, _save(family))}


def remove_node_chains() -> None:
    """Remove the real node's chains and the jumps to them, in both families."""
    for family in FAMILIES:
        for command in removal(family, _save(family)):
            subprocess.run(command, capture_output=True, check=False)
