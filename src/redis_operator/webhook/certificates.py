"""Certificates for the webhook's TLS: a CA, a serving certificate signed by it, PEM encoding.

Two builders cover every case: :func:`new_ca` (self-signed) and :func:`issue_serving` (signed by
a CA). A CA given ``server_names`` also serves them: that is the self-signed certificate of the
local development path, which goes into a caBundle as is. Keys are EC P-256, signatures
SHA-256. A CA carries a subject key identifier and a certificate it signs the matching
authority key identifier, which strict verifiers (``ssl.VERIFY_X509_STRICT``, the default from
Python 3.13 on) require. ``cryptography`` is already a dependency, where kopf's own generator
needs an extra package.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COMMON_NAME = "redis-operator-webhook"
VALIDITY = dt.timedelta(days=30)
#: Certificates are valid from a little before now, for peers whose clock is slightly behind.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        """The certificate as PEM: a ``tls.crt`` file, or a caBundle once base64-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM: a ``tls.key`` file (keep it 0600)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _alt_names(names: Sequence[str]) -> x509.SubjectAlternativeName:
    """The subjectAltName for these names: IP addresses as such, anything else as DNS names."""
    general: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=cert_sign,
        crl_sign=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    validity: dt.timedelta,
    now: dt.datetime | None,
    until: dt.datetime | None = None,
) -> x509.CertificateBuilder:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC) if now is None else now
    end = now + validity if until is None else min(now + validity, until)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(end)
    )


def _serving(builder: x509.CertificateBuilder, names: Sequence[str]) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
    ).add_extension(_alt_names(names), critical=False)


def new_ca(
    common_name: str = COMMON_NAME,
    *,
    server_names: Sequence[str] = (),
    validity: dt.timedelta = VALIDITY,
    now: dt.datetime | None = None,
) -> CertifiedKey:
    """A self-signed CA that may sign serving certificates (not other CAs), valid from a little
    before ``now`` (default: the current time) for ``validity``.

    With ``server_names`` (DNS names or IP addresses) it is also a serving certificate for them,
    its own CA: a server can present it and a client trust it directly.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(common_name, key, None, validity, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if server_names:
        builder = _serving(builder, server_names)
    return CertifiedKey(builder.sign(key, hashes.SHA256()), key)


def issue_serving(
    ca: CertifiedKey,
    names: Sequence[str],
    *,
    common_name: str = COMMON_NAME,
    validity: dt.timedelta = VALIDITY,
    now: dt.datetime | None = None,
) -> CertifiedKey:
    """A serving certificate for these names (DNS names or IP addresses), signed by ``ca``,
    valid from a little before ``now`` (default: the current time) for ``validity`` but never
    beyond the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(
            common_name,
            key,
            ca.certificate.subject,
            validity,
            now,
            ca.certificate.not_valid_after_utc,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    return CertifiedKey(_serving(builder, names).sign(ca.key, hashes.SHA256()), key)


def load_certified_key(cert_pem: bytes, key_pem: bytes) -> CertifiedKey:
    """The certificate and EC private key of these PEM texts; ValueError if either does not
    parse or they do not belong together."""
    return with_key(x509.load_pem_x509_certificate(cert_pem), key_pem)


def with_key(certificate: x509.Certificate, key_pem: bytes) -> CertifiedKey:
    """The certificate with its EC private key from PEM; ValueError if the key does not parse
    or is not the certificate's."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the private key is not an EC key")
    if key.public_key() != certificate.public_key():
        raise ValueError("the private key does not match the certificate")
    return CertifiedKey(certificate, key)


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order; ValueError if there is none or one does
    not parse."""
    return x509.load_pem_x509_certificates(pem)


def bundle_pem(certificates: Sequence[x509.Certificate]) -> bytes:
    """Certificates as one PEM bundle (a ``ca.crt``, a caBundle before base64)."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
