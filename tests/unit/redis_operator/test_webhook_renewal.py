"""The managed certificate's decisions at fixed times: create, renew, rotate the CA in order, the
caBundle patch (none at rest)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509

from redis_operator.webhook.certificates import issue_serving, new_ca
from redis_operator.webhook.renewal import (
    Action,
    Material,
    Policy,
    ca_bundle_patch,
    decide,
    due,
    parse,
    published_cas,
    renewed,
    service_names,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
POLICY = Policy(
    ca_validity=365 * DAY, serving_validity=90 * DAY, renew_fraction=1 / 3, settle=MINUTE
)
NAMES = service_names("redis-operator-webhook", "redis-operator-system")


def _created(now: dt.datetime = T0) -> Material:
    return renewed(Action.CREATE, None, NAMES, now, POLICY)


def _after(material: Material, days: float) -> dt.datetime:
    return material.serving.certificate.not_valid_before_utc + dt.timedelta(days=days)


def test_the_names_are_the_services_cluster_dns_names() -> None:
    assert NAMES == (
        "redis-operator-webhook.redis-operator-system.svc",
        "redis-operator-webhook.redis-operator-system.svc.cluster.local",
    )


def test_no_secret_or_an_unusable_one_is_created_anew() -> None:
    assert decide(None, NAMES, T0, POLICY, None).action is Action.CREATE
    for data in ({}, {"tls.crt": "eA=="}, {"tls.crt": "!", "tls.key": "!", "ca.crt": "!"}):
        with pytest.raises(ValueError):
            parse(data)


def test_a_new_secret_round_trips_and_is_kept_until_renewal_is_due() -> None:
    material = _created()
    again = parse(material.secret_data())
    assert again.serving.certificate == material.serving.certificate
    assert again.trusted == (material.ca.certificate,)
    san = material.serving.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == list(NAMES)
    # 90 days, renewed with less than 30 left: day 59 keeps, day 61 renews.
    assert decide(again, NAMES, _after(material, 59), POLICY, None).action is Action.KEEP
    assert decide(again, NAMES, _after(material, 61), POLICY, None).action is Action.REISSUE


def test_a_reissue_keeps_the_ca_and_the_bundle() -> None:
    material = _created()
    now = _after(material, 61)
    reissued = renewed(Action.REISSUE, material, NAMES, now, POLICY)
    assert reissued.ca == material.ca and reissued.trusted == material.trusted
    assert reissued.serving.certificate != material.serving.certificate
    assert reissued.serving.certificate.not_valid_after_utc == now + 90 * DAY
    assert decide(reissued, NAMES, now, POLICY, None).action is Action.KEEP


def test_other_names_are_reissued() -> None:
    material = _created()
    moved = service_names("other", "redis-operator-system")
    assert decide(material, moved, T0, POLICY, None).action is Action.REISSUE


def test_a_serving_certificate_never_outlives_its_ca() -> None:
    ca = new_ca("ca", validity=10 * DAY, now=T0)
    serving = issue_serving(ca, NAMES, validity=90 * DAY, now=T0)
    assert serving.certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_due_is_less_than_the_fraction_of_validity_left() -> None:
    ca = new_ca("ca", validity=300 * DAY, now=T0)
    start = ca.certificate.not_valid_before_utc
    end = ca.certificate.not_valid_after_utc
    third = (end - start) / 3
    assert not due(ca.certificate, end - third, 1 / 3)
    assert due(ca.certificate, end - third + dt.timedelta(seconds=1), 1 / 3)


def test_a_ca_rotation_serves_the_new_ca_only_once_the_configuration_trusts_it() -> None:
    created = _created()
    # The serving certificate as renewed along the way, the last time on day 240.
    material = renewed(Action.REISSUE, created, NAMES, _after(created, 240), POLICY)
    old_ca = material.ca.certificate
    now = _after(created, 250)  # 115 of 365 days left: due
    assert decide(material, NAMES, now, POLICY, [old_ca]).action is Action.ROTATE_CA

    # Step 1: the new CA first, the old one kept, the serving certificate unchanged.
    staged = renewed(Action.ROTATE_CA, material, NAMES, now, POLICY)
    assert staged.trusted == (staged.ca.certificate, old_ca)
    assert staged.serving == material.serving
    assert decide(staged, NAMES, now, POLICY, [old_ca]).action is Action.KEEP

    # Step 2: once the configuration (read before the check) trusts it for a while, reissue.
    published = [staged.ca.certificate, old_ca]
    assert decide(staged, NAMES, now, POLICY, published).action is Action.KEEP
    now += MINUTE
    decision = decide(staged, NAMES, now, POLICY, published)
    assert decision.action is Action.REISSUE
    moved = renewed(decision.action, staged, NAMES, now, POLICY)
    moved.serving.certificate.verify_directly_issued_by(staged.ca.certificate)
    assert moved.trusted == (staged.ca.certificate, old_ca)  # the old CA stays: no failure
    assert decide(moved, NAMES, now, POLICY, published).action is Action.KEEP

    # Step 3: the old CA leaves the bundle when it expires (a renewal on the way keeps it).
    renewal = _after(created, 310)
    assert decide(moved, NAMES, renewal, POLICY, published).action is Action.REISSUE
    moved = renewed(Action.REISSUE, moved, NAMES, renewal, POLICY)
    assert moved.trusted == (staged.ca.certificate, old_ca)
    later = old_ca.not_valid_after_utc + DAY
    assert decide(moved, NAMES, later, POLICY, published).action is Action.PRUNE
    pruned = renewed(Action.PRUNE, moved, NAMES, later, POLICY)
    assert pruned.trusted == (staged.ca.certificate,)
    assert pruned.serving == moved.serving


def test_without_a_configuration_kept_the_new_ca_is_served_at_once() -> None:
    created = _created()
    material = renewed(Action.REISSUE, created, NAMES, _after(created, 240), POLICY)
    now = _after(created, 250)
    staged = renewed(Action.ROTATE_CA, material, NAMES, now, POLICY)
    assert decide(staged, NAMES, now, POLICY, None).action is Action.REISSUE


def test_a_serving_certificate_of_a_ca_no_longer_trusted_is_reissued_at_once() -> None:
    material = _created()
    other = _created()
    stray = Material(material.ca, material.trusted, other.serving)
    decision = decide(stray, NAMES, T0, POLICY, [other.ca.certificate])
    assert decision.action is Action.REISSUE


def test_an_expired_ca_starts_over() -> None:
    material = _created()
    later = material.ca.certificate.not_valid_after_utc + DAY
    assert decide(material, NAMES, later, POLICY, None).action is Action.CREATE


def _configuration(*bundles: bytes | None) -> dict[str, object]:
    webhooks = []
    for i, bundle in enumerate(bundles):
        config: dict[str, object] = {"service": {"name": "svc", "namespace": "ns"}}
        if bundle is not None:
            config["caBundle"] = base64.b64encode(bundle).decode()
        webhooks.append({"name": f"w{i}.example.com", "clientConfig": config})
    return {"metadata": {"name": "redis-operator"}, "webhooks": webhooks}


def test_the_ca_bundle_patch_only_where_it_differs_and_none_at_rest() -> None:
    material = _created()
    bundle = material.ca_bundle()
    assert ca_bundle_patch(_configuration(bundle, bundle), bundle) is None
    value = base64.b64encode(bundle).decode()
    assert ca_bundle_patch(_configuration(bundle, None), bundle) == [
        {"op": "test", "path": "/webhooks/1/name", "value": "w1.example.com"},
        {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": value},
    ]


def test_published_cas_are_those_every_webhook_trusts() -> None:
    one, two = _created(), _created()
    both = one.ca_bundle() + two.ca_bundle()
    assert published_cas(_configuration(both, one.ca_bundle())) == [one.ca.certificate]
    assert published_cas(_configuration(None)) == []
    assert published_cas(_configuration(b"not pem")) == []
    assert published_cas({"webhooks": []}) == []
