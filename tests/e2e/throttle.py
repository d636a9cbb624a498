"""An admission webhook that answers Event writes in one namespace with 429 while told to.

The apiserver's own flow control admits a request whenever its priority level is idle, so it
cannot be made to refuse a lone recorder; a webhook's denial carries the code it chooses. It
serves on 127.0.0.1 with a certificate from a CA of its own (devcluster's pki), in a thread of
the test process.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devcluster import pki
from tests.support.kube import Kubectl, wait_for


class TooManyRequests:
    """Denies (429) creates and updates of Events in ``namespace`` while ``refusing``."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.name = f"conformance-429-{namespace}"
        self.refusing = False
        self.reviews = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self, kubectl: Kubectl) -> None:
        """Serve, register, and wait until the apiserver calls it."""
        directory = Path(tempfile.mkdtemp(prefix="conformance-webhook-"))
        ca = pki.create_ca(directory)
        pair = pki.issue(
            ca, directory, "webhook", "webhook", server_names=["127.0.0.1"], client=False
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert, pair.key)
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                webhook.reviews += 1
                answer: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": True}
                if webhook.refusing:
                    answer["allowed"] = False
                    answer["status"] = {"code": 429, "message": "slow down (conformance test)"}
                body = json.dumps({**review, "response": answer}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        kubectl.apply(self._configuration(server.server_address[1], ca.cert.read_bytes()))
        wait_for(lambda: self._probe(kubectl), "the apiserver to call the 429 webhook", 30)

    def _configuration(self, port: int, ca: bytes) -> dict[str, Any]:
        rule = {
            "operations": ["CREATE", "UPDATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["events"],
            "scope": "Namespaced",
        }
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [
                {
                    "name": "too-many-requests.conformance.test",
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port}/",
                        "caBundle": base64.b64encode(ca).decode(),
                    },
                    "rules": [rule],
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                    },
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 5,
                }
            ],
        }

    def _probe(self, kubectl: Kubectl) -> bool:
        """A server-side dry-run Event create reaches the webhook (dry runs have no effect)."""
        before = self.reviews
        probe = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "probe", "namespace": self.namespace},
            "involvedObject": {"kind": "Pod", "name": "probe", "namespace": self.namespace},
            "reason": "Probe",
            "message": "probe",
            "type": "Normal",
        }
        kubectl.run("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False)
        return self.reviews > before

    def stop(self, kubectl: Kubectl) -> None:
        kubectl.run("delete", "validatingwebhookconfiguration", self.name, check=False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
