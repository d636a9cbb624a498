"""The managed certificate's keeper on FakeKubeApi: create-if-absent, a replica that loses the
race reads the winner's, rotation in order, the caBundle kept with no write at rest."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from redis_operator.kube.client import SECRET, WEBHOOK_CONFIGURATION
from redis_operator.kube.errors import ApiError
from redis_operator.kube.fake import FakeKubeApi, Verb
from redis_operator.settings import WebhookCertificateSettings
from redis_operator.webhook.keeper import CertificateKeeper
from redis_operator.webhook.renewal import parse, published_cas

NS, SECRET_NAME, CONFIG = "redis-operator-system", "webhook-tls", "redis-operator"
SETTINGS = WebhookCertificateSettings(
    secret=SECRET_NAME, namespace=NS, service="redis-operator-webhook", configuration=CONFIG
)
#: Now, when the test starts: the first handshake checks validity against the real clock.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def kube() -> FakeKubeApi:
    fake = FakeKubeApi()
    fake.create_object(
        WEBHOOK_CONFIGURATION,
        "",
        {
            "metadata": {"name": CONFIG},
            "webhooks": [
                {"name": "validate.example.com", "clientConfig": {"service": {"name": "svc"}}}
            ],
        },
    )
    return fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keepers(kube: FakeKubeApi, clock: Clock) -> Iterator[list[CertificateKeeper]]:
    made = [CertificateKeeper(kube, SETTINGS, clock=clock) for _ in range(2)]
    yield made
    for keeper in made:
        keeper.close()


def _writes(kube: FakeKubeApi) -> list[tuple[Verb, str, bool]]:
    return [(w.verb, str(w.kind), w.error is None) for w in kube.writes]


def _ca_bundle(kube: FakeKubeApi) -> bytes:
    config = kube.get(WEBHOOK_CONFIGURATION, "", CONFIG)
    assert config is not None
    return base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"])


def _trusts(keeper: CertificateKeeper, ca_bundle: bytes, at: dt.datetime | None = None) -> None:
    """A client trusting ``ca_bundle`` accepts the served file for the Service's name: a TLS
    handshake now, or the chain verified at ``at``."""
    if at is not None:
        served = x509.load_pem_x509_certificate(keeper.pem_file.read_bytes())
        verifier = (
            PolicyBuilder()
            .store(Store(x509.load_pem_x509_certificates(ca_bundle)))
            .time(at)
            .build_server_verifier(x509.DNSName(keeper.names[0]))
        )
        verifier.verify(served, [])
        return
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(keeper.pem_file, keeper.pem_file)
    client = ssl.create_default_context(cadata=ca_bundle.decode())
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(to_client, to_server, server_hostname=keeper.names[0])
    server_end = server.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(4):
        for end in (client_end, server_end):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
    client_end.do_handshake()  # raises unless verified


async def test_the_first_check_creates_the_secret_and_the_ca_bundle_then_none_writes(
    kube: FakeKubeApi, keepers: list[CertificateKeeper]
) -> None:
    keeper = keepers[0]
    material = await keeper.check()
    assert keeper.ready.is_set()
    assert _writes(kube) == [
        (Verb.CREATE, SECRET, True),
        (Verb.PATCH, WEBHOOK_CONFIGURATION, True),
    ]
    secret = kube.get(SECRET, NS, SECRET_NAME)
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "redis-operator"}
    assert _ca_bundle(kube) == material.ca_bundle()
    _trusts(keeper, _ca_bundle(kube))
    for _ in range(3):  # at rest: reads only
        await keeper.check()
    assert len(kube.writes) == 2


async def test_two_replicas_at_once_one_creates_the_other_serves_its_secret(
    kube: FakeKubeApi, keepers: list[CertificateKeeper]
) -> None:
    first, second = await asyncio.gather(*(k.check() for k in keepers))
    creates = [w.error for w in kube.writes if w.verb is Verb.CREATE]
    assert len(creates) == 2 and creates.count(None) == 1
    (refused,) = [e for e in creates if e is not None]
    assert isinstance(refused, ApiError) and refused.status == 409
    assert first.serving.certificate == second.serving.certificate
    assert keepers[0].pem_file.read_bytes() == keepers[1].pem_file.read_bytes()
    for keeper in keepers:
        _trusts(keeper, _ca_bundle(kube))


async def test_a_ca_rotation_keeps_every_request_trusted(
    kube: FakeKubeApi, keepers: list[CertificateKeeper], clock: Clock
) -> None:
    keeper, other = keepers
    created = await keeper.check()
    old_ca = created.ca.certificate
    await other.check()
    served_before = keeper.pem_file.read_bytes()
    # The serving certificate renewed on the way (day 240), then the CA due (day 250).
    clock.now = T0 + dt.timedelta(days=240)
    await keeper.check()
    renewed_pem = keeper.pem_file.read_bytes()
    assert renewed_pem != served_before
    clock.now = T0 + dt.timedelta(days=250)
    kube.writes.clear()
    staged = await keeper.check()
    # Step 1: the bundle has both CAs, the served certificate is still the old CA's.
    assert staged.ca.certificate != old_ca
    assert published_cas(kube.get(WEBHOOK_CONFIGURATION, "", CONFIG) or {}) == [
        staged.ca.certificate,
        old_ca,
    ]
    assert keeper.pem_file.read_bytes() == renewed_pem
    _trusts(keeper, _ca_bundle(kube), clock.now)
    await other.check()  # a replica reading the staged Secret serves the same
    assert other.pem_file.read_bytes() == renewed_pem
    # Step 2: a check a period later, the new CA published, moves the serving certificate.
    clock.now += dt.timedelta(seconds=SETTINGS.check_seconds)
    moved = await other.check()
    moved.serving.certificate.verify_directly_issued_by(staged.ca.certificate)
    await keeper.check()
    assert keeper.pem_file.read_bytes() == other.pem_file.read_bytes() != renewed_pem
    _trusts(keeper, _ca_bundle(kube), clock.now)
    _trusts(keeper, staged.ca.cert_pem(), clock.now)  # the old bundle or only the new CA
    assert [(w.verb, w.kind) for w in kube.writes] == [
        (Verb.REPLACE, SECRET),
        (Verb.PATCH, WEBHOOK_CONFIGURATION),
        (Verb.REPLACE, SECRET),
    ]


async def test_an_unusable_secret_is_replaced_keeping_its_labels(
    kube: FakeKubeApi, keepers: list[CertificateKeeper], caplog: pytest.LogCaptureFixture
) -> None:
    kube.create_object(
        SECRET,
        NS,
        {
            "metadata": {"name": SECRET_NAME, "labels": {"team": "a"}},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""},
        },
    )
    with caplog.at_level(logging.INFO):
        material = await keepers[0].check()
    assert _writes(kube)[0] == (Verb.REPLACE, SECRET, True)
    secret = kube.get(SECRET, NS, SECRET_NAME)
    assert secret is not None
    assert secret["metadata"]["labels"]["team"] == "a"
    assert parse(secret["data"]).serving.certificate == material.serving.certificate
    assert "is not usable (no tls.crt, tls.key, ca.crt, ca.key)" in caplog.text
    for value in secret["data"].values():  # never the Secret's content in the log
        assert value not in caplog.text


async def test_a_replace_that_loses_the_race_reads_the_winner(
    kube: FakeKubeApi, keepers: list[CertificateKeeper], clock: Clock
) -> None:
    keeper, other = keepers
    await keeper.check()
    clock.now = T0 + dt.timedelta(days=61)  # the serving certificate due
    kube.fail(Verb.REPLACE, SECRET, ApiError(409, "Conflict", "modified"))
    await other.check()  # its replace refused: it reads again, and then replaces
    await keeper.check()
    assert keeper.pem_file.read_bytes() == other.pem_file.read_bytes()
    replaces = [w.error is None for w in kube.writes if w.verb is Verb.REPLACE]
    assert replaces == [False, True]


async def test_without_the_configuration_it_still_serves_and_says_so(
    kube: FakeKubeApi, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = WebhookCertificateSettings(
        secret=SECRET_NAME, namespace=NS, service="svc", configuration="absent"
    )
    keeper = CertificateKeeper(kube, settings, clock=clock)
    try:
        material = await keeper.check()
        assert "no ValidatingWebhookConfiguration absent" in caplog.text
        _trusts(keeper, material.ca_bundle())
        assert [w.verb for w in kube.writes] == [Verb.CREATE]
    finally:
        keeper.close()
    assert not keeper.pem_file.exists()


async def test_run_retries_after_a_failure_and_stays_up(kube: FakeKubeApi, clock: Clock) -> None:
    settings = WebhookCertificateSettings(
        secret=SECRET_NAME, namespace=NS, service="svc", check_seconds=0.01
    )
    keeper = CertificateKeeper(kube, settings, clock=clock)
    kube.fail(Verb.GET, SECRET, ApiError(503, "ServiceUnavailable", "down"), times=2)
    task = asyncio.create_task(keeper.run())
    try:
        await asyncio.wait_for(keeper.ready.wait(), 10)
    finally:
        task.cancel()
        keeper.close()
    assert kube.get(SECRET, NS, SECRET_NAME) is not None
