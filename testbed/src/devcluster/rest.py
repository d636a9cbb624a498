"""A tiny synchronous HTTPS client for bootstrapping the local cluster (readyz, nodes).

The operator itself uses kubernetes_asyncio; this stays on the standard library so that bringing
a cluster up needs no event loop and no client configuration.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """An apiserver address and a client identity (paths to PEM files)."""

    port: int
    ca_cert: Path
    client_cert: Path
    client_key: Path
    #: 127.0.0.1, or the real node's bridge address when the cluster has one.
    host: str = "127.0.0.1"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 5.0
    ) -> tuple[int, Any]:
        """Send one request to the apiserver; return the status and the decoded body."""
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self._context(), timeout=timeout
        )
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw
