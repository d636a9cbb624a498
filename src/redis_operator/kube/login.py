"""kopf's login: the connection of the operator's own client, handed to kopf's.

kopf has an API client of its own and, left alone, reads the kubeconfig itself from
``$KUBECONFIG``. Handing it the connection that kubernetes_asyncio has already loaded means one
reading of one kubeconfig: both clients reach the same server with the same credentials
whatever ``--kubeconfig`` names, and the process environment stays as it was.
"""

from __future__ import annotations

import kopf
from kubernetes_asyncio import client

#: The key under which kubernetes_asyncio's loaders keep the Authorization header's value.
_AUTHORIZATION_KEY = "BearerToken"


async def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """kopf's :class:`kopf.ConnectionInfo` for a loaded kubernetes_asyncio ``Configuration``.

    The token is read the way the client reads it for a request (a refresh hook, if the
    loader set one, runs first). No default namespace: kopf needs one only for the Events of
    cluster-scoped objects, and it posts no Events here.
    """
    authorization = await configuration.get_api_key_with_prefix(_AUTHORIZATION_KEY)
    scheme: str | None = None
    token: str | None = None
    if authorization:
        # "Bearer <token>", "Basic <credentials>", or a bare token (kopf then sends Bearer).
        scheme, _, token = str(authorization).rpartition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=None,
        proxy_url=configuration.proxy,
    )
