"""The certificate builder: a CA, the self-signed serving certificate, one signed by a CA."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from redis_operator.webhook.certificates import VALIDITY, CertifiedKey, issue_serving, new_ca


def _handshake(server: CertifiedKey, trusted: CertifiedKey, host: str) -> None:
    """A TLS handshake in memory: ``server`` presents its certificate to a client that trusts
    ``trusted`` only and checks ``host``, as strictly as Python 3.13's default context does."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(server.cert_pem())
        key.write_bytes(server.key_pem())
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cadata=trusted.cert_pem().decode())
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname=host)
    server_end = server_context.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(4):  # TLS 1.3 completes in a few flights
        for end in (client, server_end):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
    client.do_handshake()  # raises unless complete and verified


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_self_signed_certificate_is_its_own_ca_for_the_loopback_names() -> None:
    self_signed = new_ca(server_names=["127.0.0.1", "localhost", "127.0.0.1"])
    cert_pem, key_pem = self_signed.cert_pem(), self_signed.key_pem()
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in key_pem


def test_self_signed_certificate_verifies_against_itself_as_ca() -> None:
    self_signed = new_ca(server_names=["127.0.0.1", "::1", "localhost"])
    self_signed.certificate.verify_directly_issued_by(self_signed.certificate)
    for host in ("127.0.0.1", "::1", "localhost"):
        _handshake(self_signed, self_signed, host)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(self_signed, self_signed, "example.com")


def test_self_signed_certificate_usages_are_a_ca_that_serves() -> None:
    cert = new_ca(server_names=["localhost"]).certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value == x509.BasicConstraints(True, 0)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.key_cert_sign
    assert not usage.value.crl_sign and not usage.value.key_encipherment
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_a_ca_without_server_names_only_signs() -> None:
    ca = new_ca("test-ca").certificate
    assert ca.subject.rfc4514_string() == "CN=test-ca" == ca.issuer.rfc4514_string()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for absent in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage):
        with pytest.raises(x509.ExtensionNotFound):
            ca.extensions.get_extension_for_class(absent)


def test_names_become_ip_or_dns_subject_alt_names() -> None:
    ca = new_ca()
    names = ["10.0.0.1", "fd00::1", "webhook.ns.svc", "localhost", "webhook.ns.svc"]
    sans = _sans(issue_serving(ca, names).certificate)
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("fd00::1"),
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["webhook.ns.svc", "localhost"]


def test_a_serving_certificate_verifies_against_its_ca_only() -> None:
    ca = new_ca("test-ca")
    serving = issue_serving(ca, ["127.0.0.1", "redis-operator-webhook.ns.svc"])
    serving.certificate.verify_directly_issued_by(ca.certificate)
    _handshake(serving, ca, "127.0.0.1")
    _handshake(serving, ca, "redis-operator-webhook.ns.svc")
    # The strict Web PKI rules of cryptography's verifier hold too.
    verifier = (
        PolicyBuilder()
        .store(Store([ca.certificate]))
        .build_server_verifier(x509.DNSName("redis-operator-webhook.ns.svc"))
    )
    assert verifier.verify(serving.certificate, []) == [serving.certificate, ca.certificate]
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(serving, new_ca("another-ca"), "127.0.0.1")


def test_a_serving_certificate_is_no_ca_and_only_serves() -> None:
    ca = new_ca()
    cert = issue_serving(ca, ["localhost"]).certificate
    assert cert.issuer == ca.certificate.subject
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_pem_round_trips_and_the_key_matches_the_certificate() -> None:
    issued = new_ca(server_names=["localhost"])
    cert = x509.load_pem_x509_certificate(issued.cert_pem())
    key = serialization.load_pem_private_key(issued.key_pem(), password=None)
    assert cert == issued.certificate
    assert key.public_key() == cert.public_key()
    assert issued.key_pem().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted


def test_validity_starts_a_little_in_the_past_and_lasts_as_asked() -> None:
    now = dt.datetime.now(dt.UTC)
    default = new_ca().certificate
    assert default.not_valid_before_utc < now
    assert default.not_valid_after_utc - default.not_valid_before_utc > VALIDITY
    assert now + VALIDITY - dt.timedelta(minutes=1) < default.not_valid_after_utc
    short = issue_serving(new_ca(), ["localhost"], validity=dt.timedelta(hours=1)).certificate
    assert short.not_valid_after_utc < now + dt.timedelta(hours=2)
