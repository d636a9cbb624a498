"""Running the operator's admission webhook in e2e tests, and registering it with the apiserver.

The operator serves a self-signed webhook on 127.0.0.1 and writes the matching
ValidatingWebhookConfiguration (``--webhook-config-out``); tests register it scoped to their
namespace and remove it at the end.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devcluster.ports import free_port
from tests.e2e.operator import Start
from tests.support.kube import Kubectl, wait_for

Register = Callable[[dict[str, Any]], None]

#: What registering waits to see refused; tests that register run with ``redis:`` allowed.
DISALLOWED_PROBE = {
    "apiVersion": "myapp.tangx.in/v1",
    "kind": "Redis",
    "metadata": {"name": "probe"},
    "spec": {"replicas": 1, "image": "evil.io/redis:7", "port": 8333},
}


def wait_refusing(
    kubectl: Kubectl,
    namespace: str,
    manifest: dict[str, Any] = DISALLOWED_PROBE,
    timeout: float = 60,
) -> str:
    """Server-side dry runs of ``manifest`` until the webhook refuses it; the refusal's stderr.

    The apiserver takes a configuration and its caBundle up from a watch and reaches the
    webhook through its Service's endpoints; until all of that has landed, failurePolicy
    Ignore lets writes through. A dry run has no effect (the webhook declares sideEffects None).
    """
    body = json.dumps(manifest)

    def refused() -> str | None:
        result = kubectl.run(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=body, check=False
        )
        if result.returncode != 0 and "not from an allowed registry" in result.stderr:
            return result.stderr
        return None

    stderr: str = wait_for(refused, "the webhook to refuse a disallowed image", timeout)
    return stderr


def listening(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_webhook(start: Start, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Start the operator with a self-signed webhook; the configuration it writes, once up."""
    port = free_port()
    out = tmp_path / f"webhook-{port}.json"
    operator = start(
        f"--webhook-port={port}",
        "--webhook-address=127.0.0.1",
        f"--webhook-config-out={out}",
        *args,
    )
    wait_for(
        lambda: out.exists() or not operator.alive, "the webhook configuration file", timeout=60
    )
    assert operator.alive, operator.log()[-3000:]
    wait_for(lambda: listening(port), f"the webhook on 127.0.0.1:{port}")
    config: dict[str, Any] = json.loads(out.read_text())
    return port, config
