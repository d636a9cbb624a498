"""Serving the webhook over HTTPS: kopf's ``WebhookServer`` with the operator's certificate.

In a cluster the certificate comes from files (a cert-manager Secret) or from the operator's
own Secret (``keeper.py``, which writes the file served); for local development a self-signed
one for the loopback names is generated, and ``--webhook-config-out`` writes the matching
configuration for ``kubectl apply``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import kopf

from redis_operator.settings import WebhookSettings
from redis_operator.webhook.certificates import new_ca
from redis_operator.webhook.configuration import WEBHOOK_PATH, local_configuration
from redis_operator.webhook.keeper import CertificateKeeper

log = logging.getLogger(__name__)

#: Names a self-signed certificate is valid for: the loopback addresses and name, i.e. the
#: URL a local control plane calls (``https://127.0.0.1:<port>/...``).
SELF_SIGNED_NAMES = ("127.0.0.1", "::1", "localhost")


def _is_unspecified(address: str) -> bool:
    try:
        return not address or ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def local_url(address: str, port: int) -> str:
    """The base URL a client on this machine reaches the server at (127.0.0.1 for 0.0.0.0)."""
    host = "127.0.0.1" if _is_unspecified(address) else address
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}"


class WebhookServing:
    """kopf's HTTPS ``WebhookServer`` on the configured address, with our certificate.

    With ``cert_file``/``key_file`` (e.g. a cert-manager Secret mounted into the pod) kopf
    serves those and re-reads them every 60 s, restarting the listener when they change, so
    certificate renewal needs no restart. Without them a self-signed certificate for the
    loopback names (``certificates.new_ca``) is generated into a private temporary directory
    removed by :meth:`close`: that is for local development, where the configuration from
    ``config_out`` carries it as caBundle. With a ``keeper`` (the managed certificate) it serves
    the keeper's file, once the keeper has written it, re-read at the keeper's check period.
    """

    def __init__(self, options: WebhookSettings, keeper: CertificateKeeper | None = None) -> None:
        self.options = options
        self.keeper = keeper
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        check_seconds = 60.0  # kopf's own period
        if keeper is not None:
            cert_file = key_file = keeper.pem_file
            check_seconds = keeper.settings.check_seconds
        elif options.cert_file is not None and options.key_file is not None:
            cert_file, key_file = options.cert_file, options.key_file
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="redis-operator-webhook-")
            names = [*SELF_SIGNED_NAMES]
            if not _is_unspecified(options.address):
                names.append(options.address)
            self_signed = new_ca(server_names=names)
            cert_file = Path(self._tmp.name) / "tls.crt"
            key_file = Path(self._tmp.name) / "tls.key"
            cert_file.write_bytes(self_signed.cert_pem())
            key_file.touch(mode=0o600)
            key_file.write_bytes(self_signed.key_pem())
        self.cert_file = cert_file
        self.server = kopf.WebhookServer(
            addr=options.address or None,
            port=options.port,
            certfile=cert_file,
            pkeyfile=key_file,
            file_check_interval=check_seconds,
        )
        self.url = local_url(options.address, options.port)

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        """kopf's server protocol: serve, and announce each (re)start once listening."""
        if self.keeper is not None:
            await self.keeper.ready.wait()
        async with self.server:
            async for client_config in self.server(fn):
                log.info("admission webhook serving at %s%s", self.url, WEBHOOK_PATH)
                if self.options.config_out is not None:
                    self._write_config(self.options.config_out)
                yield client_config

    def _write_config(self, path: Path) -> None:
        config = local_configuration(self.url, self.cert_file.read_bytes())
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)  # appears whole: a reader never sees half a file

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
