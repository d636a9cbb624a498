"""helm, built from its Go module by the test bed, run against the chart in charts/.

Every run gets its own HOME and Helm directories (no repositories, no plugins, nothing of the
machine's), and talks to a cluster only through the kubeconfig it is given: the test bed's,
whose server is on 127.0.0.1 or on the project's bridge.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from devcluster import realnode
from devcluster.build import build_helm
from tests.support.tool import run_tool

CHART = Path(__file__).resolve().parents[2] / "charts" / "redis-operator"
RELEASE = "redis-operator"


class Helm:
    """Runs the test bed's helm in a private home, with one kubeconfig (or none)."""

    def __init__(self, home: Path, kubeconfig: Path | None = None) -> None:
        self.binary = build_helm() / "helm"
        self.kubeconfig = kubeconfig
        if kubeconfig is not None:
            servers = [
                c["cluster"]["server"] for c in yaml.safe_load(kubeconfig.read_text())["clusters"]
            ]
            # Loopback, or the project's bridge (where a cluster with the real node listens).
            local = ("https://127.0.0.1:", f"https://{realnode.BRIDGE_IP}:")
            assert all(s.startswith(local) for s in servers), servers
        home.mkdir(parents=True, exist_ok=True)
        self._files = 0
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            # No kubeconfig at all for `helm template`: it must not need a cluster.
            "KUBECONFIG": str(kubeconfig) if kubeconfig else str(home / "no-kubeconfig"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool("helm", [str(self.binary)], args, timeout=300, env=self.env, check=check)

    def template(
        self, values: dict[str, Any] | None = None, namespace: str = "redis-operator-system"
    ) -> list[dict[str, Any]]:
        """The objects the chart renders with these values (CRD included), as data."""
        args = ["template", *self.chart_args(values), "-n", namespace, "--include-crds"]
        return [doc for doc in yaml.safe_load_all(self.run(*args).stdout) if doc]

    def chart_args(self, values: dict[str, Any] | None = None) -> list[str]:
        """The release name, the chart and a values file holding ``values``."""
        args = [RELEASE, str(CHART)]
        if values:
            self._files += 1
            path = Path(self.env["HOME"]) / f"values-{self._files}.yaml"
            path.write_text(yaml.safe_dump(values))
            args += ["-f", str(path)]
        return args
