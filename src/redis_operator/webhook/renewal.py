"""The managed webhook certificate's decisions, pure: what its Secret should hold, and the caBundle.

The Secret (``kubernetes.io/tls``) holds the serving certificate (``tls.crt``, ``tls.key``), the
trust bundle ``ca.crt`` (the current CA first, then a previous one until it expires) and the
current CA's key ``ca.key``. :func:`decide` says what a replica must do with what it read, for a
given time; :func:`renewed` does it (the only part that makes keys); :func:`ca_bundle_patch` is
the write, if any, that makes a webhook configuration trust the bundle. The order of a CA
rotation is what keeps every request verifiable:

1. a new CA is made and put first in ``ca.crt``, the old one kept after it; the serving
   certificate, still the old CA's, is left alone; the caBundle is patched to the new bundle;
2. once the webhook configuration (as read at the start of a check) trusts the new CA, and the
   CA is at least ``Policy.settle`` old (time for every apiserver to see the new caBundle), the
   serving certificate is reissued by it: a client trusting either bundle accepts it;
3. the old CA leaves ``ca.crt`` (and so the caBundle) when it expires.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from redis_operator.webhook.certificates import (
    BACKDATE,
    CertifiedKey,
    bundle_pem,
    issue_serving,
    load_certificates,
    load_certified_key,
    new_ca,
    with_key,
)

TLS_CERT, TLS_KEY, CA_CERT, CA_KEY = "tls.crt", "tls.key", "ca.crt", "ca.key"
SECRET_TYPE = "kubernetes.io/tls"
CA_COMMON_NAME = "redis-operator-webhook-ca"


def service_names(service: str, namespace: str) -> tuple[str, ...]:
    """The DNS names the apiserver may call a Service's webhook by."""
    return (f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local")


@dataclass(frozen=True)
class Policy:
    """How long new certificates are valid, and when they are renewed."""

    ca_validity: dt.timedelta
    serving_validity: dt.timedelta
    renew_fraction: float
    settle: dt.timedelta
    """How long a new CA is published before the serving certificate moves to it."""


@dataclass(frozen=True)
class Material:
    """What the Secret holds, parsed: the current CA, the trust bundle, the serving pair."""

    ca: CertifiedKey
    trusted: tuple[x509.Certificate, ...]
    serving: CertifiedKey

    def ca_bundle(self) -> bytes:
        """The trust bundle as PEM (``ca.crt``, and the caBundle once base64-encoded)."""
        return bundle_pem(self.trusted)

    def secret_data(self) -> dict[str, str]:
        """The Secret's ``data``, base64 as the API wants it."""
        raw = {
            TLS_CERT: self.serving.cert_pem(),
            TLS_KEY: self.serving.key_pem(),
            CA_CERT: self.ca_bundle(),
            CA_KEY: self.ca.key_pem(),
        }
        return {key: base64.b64encode(value).decode() for key, value in raw.items()}

    def served_pem(self) -> bytes:
        """The key and certificate in one PEM file: one rename replaces both for the listener."""
        return self.serving.key_pem() + self.serving.cert_pem()


def parse(data: Mapping[str, Any] | None) -> Material:
    """The Secret's ``data`` parsed; ValueError saying what is wrong with it."""
    data = data or {}
    missing = [key for key in (TLS_CERT, TLS_KEY, CA_CERT, CA_KEY) if not data.get(key)]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    try:
        raw = {key: base64.b64decode(str(data[key]), validate=True) for key in data}
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
    trusted = tuple(load_certificates(raw[CA_CERT]))
    ca = with_key(trusted[0], raw[CA_KEY])
    serving = load_certified_key(raw[TLS_CERT], raw[TLS_KEY])
    return Material(ca, trusted, serving)


class Action(StrEnum):
    """What a check does to the Secret."""

    KEEP = "keep"
    """Nothing: the Secret is as it should be."""
    CREATE = "create"
    """A new CA and serving certificate (no Secret, an unusable one, or an expired CA)."""
    ROTATE_CA = "rotate-ca"
    """A new CA first in the bundle, the serving certificate left alone (step 1)."""
    REISSUE = "reissue"
    """A new serving certificate by the current CA (renewal, new names, or step 2)."""
    PRUNE = "prune"
    """Expired CAs leave the bundle (step 3)."""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def due(certificate: x509.Certificate, now: dt.datetime, fraction: float) -> bool:
    """Whether less than ``fraction`` of the certificate's validity remains at ``now``."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return end - now < (end - start) * fraction


def expired(certificate: x509.Certificate, now: dt.datetime) -> bool:
    return now >= certificate.not_valid_after_utc


def _names(certificate: x509.Certificate) -> set[str]:
    try:
        alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return set(alt.value.get_values_for_type(x509.DNSName))


def _signed_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def decide(
    current: Material | None,
    names: Sequence[str],
    now: dt.datetime,
    policy: Policy,
    published: Collection[x509.Certificate] | None,
) -> Decision:
    """What to do with the Secret's material at ``now``.

    ``published`` is the CAs the webhook configuration trusts as read before this check (None:
    no configuration is kept, so nothing waits for one). The serving certificate moves to a new
    CA only once that CA is published.
    """
    if current is None:
        return Decision(Action.CREATE, "no usable certificate in the Secret")
    if expired(current.ca.certificate, now):
        return Decision(Action.CREATE, "the CA has expired")
    if due(current.ca.certificate, now, policy.renew_fraction):
        return Decision(Action.ROTATE_CA, "the CA is due for renewal")
    serving = current.serving.certificate
    if not _signed_by(serving, current.ca.certificate):
        made = current.ca.certificate.not_valid_before_utc + BACKDATE
        if published is None or (
            current.ca.certificate in published and now - made >= policy.settle
        ):
            return Decision(Action.REISSUE, "the new CA is trusted: serve its certificate")
        if not any(_signed_by(serving, ca) for ca in current.trusted) or expired(serving, now):
            return Decision(Action.REISSUE, "the serving certificate is signed by no trusted CA")
        return Decision(Action.KEEP, "the new CA is not trusted by the configuration yet")
    if expired(serving, now) or due(serving, now, policy.renew_fraction):
        return Decision(Action.REISSUE, "the serving certificate is due for renewal")
    if _names(serving) != set(names):
        return Decision(Action.REISSUE, "the serving certificate is for other names")
    if any(expired(ca, now) for ca in current.trusted):
        return Decision(Action.PRUNE, "an expired CA is still in the bundle")
    return Decision(Action.KEEP, "up to date")


def renewed(
    action: Action,
    current: Material | None,
    names: Sequence[str],
    now: dt.datetime,
    policy: Policy,
) -> Material:
    """The material after ``action`` (anything but KEEP), new keys made as needed."""
    if action is Action.CREATE or current is None:
        ca = new_ca(CA_COMMON_NAME, validity=policy.ca_validity, now=now)
        serving = issue_serving(ca, names, validity=policy.serving_validity, now=now)
        return Material(ca, (ca.certificate,), serving)
    alive = tuple(c for c in current.trusted if not expired(c, now))
    if action is Action.ROTATE_CA:
        ca = new_ca(CA_COMMON_NAME, validity=policy.ca_validity, now=now)
        return Material(ca, (ca.certificate, *alive), current.serving)
    if action is Action.REISSUE:
        serving = issue_serving(current.ca, names, validity=policy.serving_validity, now=now)
        return Material(current.ca, alive, serving)
    if action is Action.PRUNE:
        return Material(current.ca, alive, current.serving)
    raise ValueError(f"nothing to renew for {action}")


# -- the webhook configuration -------------------------------------------------------------------


def published_cas(configuration: Mapping[str, Any]) -> list[x509.Certificate]:
    """The CAs every webhook of the configuration trusts (an unparsable caBundle: none)."""
    trusted: list[x509.Certificate] | None = None
    for webhook in configuration.get("webhooks") or []:
        encoded = (webhook.get("clientConfig") or {}).get("caBundle") or ""
        try:
            cas = load_certificates(base64.b64decode(encoded)) if encoded else []
        except ValueError:
            cas = []
        trusted = cas if trusted is None else [c for c in trusted if c in cas]
    return trusted or []


def ca_bundle_patch(configuration: Mapping[str, Any], bundle: bytes) -> list[dict[str, Any]] | None:
    """The JSON patch (RFC 6902) that sets every webhook's caBundle to ``bundle``, or None when
    each has it already (no write at rest). Each change is guarded by a ``test`` of the
    webhook's name at that index, so a configuration changed meanwhile refuses the patch."""
    value = base64.b64encode(bundle).decode()
    operations: list[dict[str, Any]] = []
    for index, webhook in enumerate(configuration.get("webhooks") or []):
        if (webhook.get("clientConfig") or {}).get("caBundle") == value:
            continue
        operations += [
            {"op": "test", "path": f"/webhooks/{index}/name", "value": webhook.get("name")},
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": value},
        ]
    return operations or None
