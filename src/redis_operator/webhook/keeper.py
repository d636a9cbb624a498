"""The managed webhook certificate's I/O: its Secret kept, the caBundle kept, the PEM served.

Every replica runs a :class:`CertificateKeeper`: each check reads the Secret and the webhook
configuration, does what :func:`~redis_operator.webhook.renewal.decide` says (a create, or a
replace guarded by the Secret's resourceVersion: a 409 means another replica wrote first, and
its Secret is read and used), patches the caBundle only when it differs, and writes the PEM the
listener serves (``serving.py`` looks at it at the same period and loads a changed one). At rest a
check writes nothing: two GETs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from redis_operator.kube.client import CertificateApi, Obj
from redis_operator.kube.errors import ApiError, KubeError
from redis_operator.settings import WebhookCertificateSettings
from redis_operator.webhook.renewal import (
    SECRET_TYPE,
    Action,
    Material,
    Policy,
    ca_bundle_patch,
    decide,
    parse,
    published_cas,
    renewed,
    service_names,
)

log = logging.getLogger(__name__)

#: The Secret's labels: what made it, for whoever finds it.
LABELS = {"app.kubernetes.io/managed-by": "redis-operator"}
#: A check that lost a race to another replica reads again this many times at once.
_ATTEMPTS = 3
#: After a failed check, the next one comes this soon (then at the normal period).
_RETRY_SECONDS = 5.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertificateKeeper:
    """Keeps the Secret's certificate current and serves it from a private file.

    :attr:`pem_file` holds the serving key and certificate once :attr:`ready` is set (after the
    first successful check); :meth:`close` removes it.
    """

    def __init__(
        self,
        api: CertificateApi,
        settings: WebhookCertificateSettings,
        *,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.names = service_names(settings.service, settings.namespace)
        self.policy = Policy(
            settings.ca_validity,
            settings.serving_validity,
            settings.renew_fraction,
            # A new CA is served after a full check period in the caBundle.
            settle=dt.timedelta(seconds=settings.check_seconds),
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="redis-operator-webhook-")
        self.pem_file = Path(self._tmp.name) / "tls.pem"
        self.ready = asyncio.Event()
        self._served: bytes | None = None

    async def run(self) -> None:
        """Check now, then every ``check_seconds`` (sooner after a failure), until cancelled."""
        while True:
            try:
                await self.check()
            except KubeError as exc:
                log.warning("webhook certificate: check failed, retrying: %s", exc)
                await asyncio.sleep(min(_RETRY_SECONDS, self.settings.check_seconds))
                continue
            await asyncio.sleep(self.settings.check_seconds)

    async def check(self) -> Material:
        """One check: the Secret, then the caBundle, then the served file."""
        configuration = await self._configuration()
        published = None if configuration is None else published_cas(configuration)
        material = await self._keep_secret(published)
        if configuration is not None:
            await self._keep_ca_bundle(configuration, material)
        self._serve(material)
        return material

    async def _configuration(self) -> Obj | None:
        name = self.settings.configuration
        if name is None:
            return None
        configuration = await self.api.read_webhook_configuration(name)
        if configuration is None:
            log.warning(
                "webhook certificate: no ValidatingWebhookConfiguration %s to keep the caBundle of",
                name,
            )
        return configuration

    async def _keep_secret(self, published: list[x509.Certificate] | None) -> Material:
        namespace, name = self.settings.namespace, self.settings.secret
        for _ in range(_ATTEMPTS):
            secret = await self.api.read_secret(namespace, name)
            current = self._parsed(secret)
            now = self.clock()
            decision = decide(current, self.names, now, self.policy, published)
            if decision.action is Action.KEEP:
                assert current is not None
                return current
            material = renewed(decision.action, current, self.names, now, self.policy)
            try:
                await self._write(secret, material)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                log.info("webhook certificate: another replica wrote %s/%s first", namespace, name)
                continue
            log.info(
                "webhook certificate: %s %s/%s (%s)",
                decision.action,
                namespace,
                name,
                decision.reason,
            )
            return material
        raise ApiError(409, "Conflict", f"secret {namespace}/{name} kept changing under us")

    def _parsed(self, secret: Obj | None) -> Material | None:
        if secret is None:
            return None
        try:
            return parse(secret.get("data"))
        except ValueError as exc:
            # Never its content in the log: only what is wrong with it.
            log.warning(
                "webhook certificate: Secret %s/%s is not usable (%s); replacing it",
                self.settings.namespace,
                self.settings.secret,
                exc,
            )
            return None

    async def _write(self, secret: Obj | None, material: Material) -> None:
        namespace, name = self.settings.namespace, self.settings.secret
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
            "type": SECRET_TYPE,
            "data": material.secret_data(),
        }
        if secret is None:
            await self.api.create_secret(namespace, body)
            return
        meta = secret.get("metadata") or {}
        # Keep what others put on it (labels, annotations); the type cannot change.
        body["metadata"] = {
            **{k: v for k, v in meta.items() if k in ("labels", "annotations")},
            "name": name,
            "namespace": namespace,
            "resourceVersion": meta.get("resourceVersion"),
        }
        body["metadata"]["labels"] = {**(meta.get("labels") or {}), **LABELS}
        body["type"] = secret.get("type") or SECRET_TYPE
        await self.api.replace_secret(namespace, name, body)

    async def _keep_ca_bundle(self, configuration: Obj, material: Material) -> None:
        operations = ca_bundle_patch(configuration, material.ca_bundle())
        if operations is None:
            return
        name = configuration["metadata"]["name"]
        await self.api.patch_webhook_configuration(name, operations)
        log.info("webhook certificate: caBundle of %s updated", name)

    def _serve(self, material: Material) -> None:
        pem = material.served_pem()
        if pem == self._served:
            return
        partial = self.pem_file.with_name(f".{self.pem_file.name}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        partial.replace(self.pem_file)  # the listener never reads half a file
        self._served = pem
        self.ready.set()

    def close(self) -> None:
        self._tmp.cleanup()
