"""Serving the webhook over HTTPS: an aiohttp server with the operator's certificate.

In a cluster the certificate comes from files (a cert-manager Secret) or from the operator's
own Secret (``keeper.py``, which writes the file served); for local development a self-signed
one for the loopback names is generated, and ``--webhook-config-out`` writes the matching
configuration for ``kubectl apply``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from redis_operator.settings import WebhookSettings
from redis_operator.webhook.certificates import new_ca
from redis_operator.webhook.configuration import TIMEOUT_SECONDS, WEBHOOK_PATH, local_configuration
from redis_operator.webhook.handler import BadReview
from redis_operator.webhook.keeper import CertificateKeeper

log = logging.getLogger(__name__)

#: Names a self-signed certificate is valid for: the loopback addresses and name, i.e. the
#: URL a local control plane calls (``https://127.0.0.1:<port>/...``).
SELF_SIGNED_NAMES = ("127.0.0.1", "::1", "localhost")

#: How often files given with ``--webhook-cert-file`` are looked at for a renewed certificate.
CERT_FILE_CHECK_SECONDS = 60.0

#: Largest AdmissionReview body read (the apiserver's own limit on an object is 3 MiB; a
#: review carries the object and the old one).
MAX_REVIEW_BYTES = 8 * 1024 * 1024

Admit = Callable[[Any], Awaitable[dict[str, Any]]]
"""Judges one decoded AdmissionReview body (``handler.admit`` with the policy bound)."""


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
    """The HTTPS listener of the admission webhook, on the configured address.

    With ``cert_file``/``key_file`` (e.g. a cert-manager Secret mounted into the pod) it serves
    those and looks at them every minute; with a ``keeper`` (the managed certificate) it serves
    the keeper's file, once the keeper has written it, looked at every check period. A changed
    certificate is loaded into the listener's TLS context, so the next handshake presents it:
    renewal needs no restart and drops no connection. Without either, a self-signed
    certificate for the loopback names (``certificates.new_ca``) is generated into a private
    temporary directory removed by :meth:`close`: that is for local development, where the
    configuration from ``config_out`` carries it as caBundle.
    """

    def __init__(self, options: WebhookSettings, keeper: CertificateKeeper | None = None) -> None:
        self.options = options
        self.keeper = keeper
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.check_seconds = CERT_FILE_CHECK_SECONDS
        if keeper is not None:
            cert_file = key_file = keeper.pem_file
            self.check_seconds = keeper.settings.check_seconds
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
        self.key_file = key_file
        self.url = local_url(options.address, options.port)
        self.listening = asyncio.Event()
        self._loaded: bytes | None = None
        self._refused: bytes | None = None

    def _read(self) -> bytes:
        return self.cert_file.read_bytes() + b"\0" + self.key_file.read_bytes()

    def _load(self, context: ssl.SSLContext) -> None:
        """Load the files into ``context`` if they changed since the last look.

        The pair is tried in a context of its own first: a pair that does not load (a renewal
        caught halfway, a key that does not match) would leave the live context half changed.
        Such a pair is logged once and the one loaded before stays served; the files are looked
        at again at the next check.
        """
        current = self._read()
        if current in (self._loaded, self._refused):
            return
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            if self._loaded is None:
                raise
            log.warning("webhook: the new certificate does not load (%s); serving the old", exc)
            self._refused = current
            return
        context.load_cert_chain(self.cert_file, self.key_file)
        if self._loaded is not None:
            log.info("webhook: serving the renewed certificate")
        self._loaded = current

    async def run(self, admit: Admit) -> None:
        """Serve ``admit`` at :data:`WEBHOOK_PATH` until cancelled."""
        if self.keeper is not None:
            await self.keeper.ready.wait()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load(context)

        async def serve(request: web.Request) -> web.Response:
            try:
                answer = await admit(await request.json())
            except (ValueError, BadReview) as exc:  # not JSON, or not an AdmissionReview
                return web.json_response({"error": str(exc)}, status=400)
            return web.json_response(answer)

        app = web.Application(client_max_size=MAX_REVIEW_BYTES)
        app.router.add_post(WEBHOOK_PATH, serve)
        # On stop, a request being judged gets as long as the apiserver would wait for it.
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=TIMEOUT_SECONDS)
        await runner.setup()
        try:
            site = web.TCPSite(
                runner, self.options.address or None, self.options.port, ssl_context=context
            )
            await site.start()
            log.info("admission webhook serving at %s%s", self.url, WEBHOOK_PATH)
            if self.options.config_out is not None:
                self._write_config(self.options.config_out)
            self.listening.set()
            while True:
                await asyncio.sleep(self.check_seconds)
                try:
                    self._load(context)
                except OSError as exc:  # the files gone for a moment: keep what is served
                    log.warning("webhook: cannot read the certificate files: %s", exc)
        finally:
            self.listening.clear()
            await runner.cleanup()

    def _write_config(self, path: Path) -> None:
        config = local_configuration(self.url, self.cert_file.read_bytes())
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)  # appears whole: a reader never sees half a file

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
