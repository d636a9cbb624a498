"""A small synchronous JSON client of a dev cluster's apiserver, as its admin.

For benchmark drivers that act and look between waits: plain dicts in and out, no event loop,
no models. devcluster's own ``Endpoint`` cannot send a merge patch; this can.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
from typing import Any

from devcluster.cluster import DevCluster
from devcluster.layout import Settings
from devcluster.supervisor import admin_endpoint

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"


class ApiFailure(Exception):
    """The apiserver answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message", "") if isinstance(body, dict) else str(body)[:200]
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status


class AdminApi:
    """Requests to the cluster's apiserver on 127.0.0.1 with the admin's client certificate."""

    def __init__(self, cluster: DevCluster, timeout: float = 10.0) -> None:
        endpoint = admin_endpoint(cluster.layout, Settings.load(cluster.layout.settings))
        self.port = endpoint.port
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=str(endpoint.ca_cert))
        self._context.load_cert_chain(str(endpoint.client_cert), str(endpoint.client_key))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        tries: int = 10,
    ) -> Any:
        """One request; refused connections (an apiserver restarting) are tried again, up to
        ``tries`` times a second apart: such a request never reached the server."""
        payload = None if body is None else json.dumps(body)
        for attempt in range(tries):
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self._context, timeout=self.timeout
            )
            try:
                headers = {"Content-Type": content_type} if payload is not None else {}
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read().decode()
            except ConnectionRefusedError:
                if attempt == tries - 1:
                    raise
                time.sleep(1)
                continue
            finally:
                connection.close()
            try:
                decoded: Any = json.loads(raw)
            except ValueError:
                decoded = raw
            if response.status >= 400:
                raise ApiFailure(method, path, response.status, decoded)
            return decoded
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def get(self, path: str) -> Obj:
        result: Obj = self.call("GET", path)
        return result

    def items(self, path: str, **query: str) -> list[Obj]:
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        items: list[Obj] = self.get(path + suffix).get("items") or []
        return items

    def create(self, path: str, body: Obj) -> Obj:
        result: Obj = self.call("POST", path, body)
        return result

    def merge_patch(self, path: str, body: Obj) -> Obj:
        result: Obj = self.call("PATCH", path, body, content_type=MERGE_PATCH)
        return result

    def delete(self, path: str) -> None:
        self.call("DELETE", path)
