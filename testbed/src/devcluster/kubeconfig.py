"""Kubeconfig files for the local control plane's identities (all client-certificate based)."""

from __future__ import annotations

from pathlib import Path

import yaml

from devcluster.pki import KeyPair

CLUSTER_NAME = "redis-operator-dev"


def write_kubeconfig(path: Path, server: str, ca_cert: Path, user: str, identity: KeyPair) -> Path:
    """Write a kubeconfig for one identity; file paths keep it valid while the state dir lives."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority": str(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(identity.cert),
                    "client-key": str(identity.key),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
