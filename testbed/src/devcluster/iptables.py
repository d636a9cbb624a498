"""The iptables chains a real node adds (the kubelet's and kube-proxy's), found and removed.

``up`` records the chains there are before it starts anything; teardown removes the ``KUBE-``
chains that appeared since (and the rules that jump to them), in both address families, so a
real node leaves the machine's packet filter as it found it, even after a crash. Chains that
were there before are someone else's and stay.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

FAMILIES = ("iptables", "ip6tables")
PREFIX = "KUBE-"

#: (family, table, chain)
Chain = tuple[str, str, str]


def _save(family: str) -> str:
    if shutil.which(f"{family}-save") is None:
        return ""
    return subprocess.run([f"{family}-save"], capture_output=True, text=True, check=False).stdout


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


def kube_chains() -> set[Chain]:
    """Every ``KUBE-`` chain there is now, in every table of both families."""
    found: set[Chain] = set()
    for family in FAMILIES:
        chains, _ = parse(family, _save(family))
        found |= {c for c in chains if c[2].startswith(PREFIX)}
    return found


def _target(args: list[str]) -> str | None:
    for flag in ("-j", "--jump", "-g", "--goto"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return None


def remove_new(before: set[Chain]) -> None:
    """Remove the ``KUBE-`` chains not in ``before``: first every rule jumping to one, then
    their own rules, then the chains."""
    for family in FAMILIES:
        chains, rules = parse(family, _save(family))
        new = {c for c in chains if c[2].startswith(PREFIX) and c not in before}
        if not new:
            continue
        names = {(table, chain) for _, table, chain in new}
        for table, args in rules:
            if (table, args[0]) not in names and (table, _target(args)) in names:
                cmd = [family, "-w", "-t", table, "-D", *args]
                subprocess.run(cmd, capture_output=True, check=False)
        for verb in ("-F", "-X"):
            for _, table, chain in sorted(new):
                subprocess.run(
                    [family, "-w", "-t", table, verb, chain], capture_output=True, check=False
                )
