"""deploy/base's namespace, CRD and RBAC in a benchmark's cluster, the CRD established.

The benchmarks run the operator (or a peer) themselves, so deploy/'s Deployment, Services and
webhook stay out. One place for every benchmark script (they import it as a sibling).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from devcluster.cluster import DevCluster
from redis_operator import api

BASE = Path(__file__).resolve().parents[1] / "deploy" / "base"
MANIFESTS = ("namespace.yaml", "crd.yaml", "rbac.yaml")


def install(cluster: DevCluster) -> None:
    """Apply the manifests (idempotent) and wait until the API serves the CRD."""
    kubectl = [str(cluster.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}"]
    files = [arg for name in MANIFESTS for arg in ("-f", str(BASE / name))]
    for args in (
        ["apply", *files],
        ["wait", "--for=condition=Established", f"crd/{api.CRD_NAME}", "--timeout=60s"],
    ):
        subprocess.run([*kubectl, *args], check=True, capture_output=True, text=True)
