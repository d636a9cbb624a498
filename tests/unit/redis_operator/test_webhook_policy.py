"""The admission webhook's rules (pure), its review, its configuration and its TLS serving."""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
from cryptography import x509

from devcluster.ports import free_port
from redis_operator.cli import build_parser
from redis_operator.webhook.policy import (
    FAILURE_POLICY,
    TIMEOUT_SECONDS,
    WEBHOOK_ID,
    WEBHOOK_PATH,
    AdmissionPolicy,
    ChildNames,
    Verdict,
    WebhookOptions,
    WebhookServing,
    conflict_warnings,
    image_is_allowed,
    local_url,
    names_to_check,
    options_from_args,
    qualified_image,
    register,
    review,
    self_signed_certificate,
    validation_error,
    webhook_configuration,
    would_own,
)

Obj = dict[str, Any]
HUB = AdmissionPolicy(("redis:",))


def redis(
    name: str = "cache",
    replicas: int = 2,
    image: str = "redis:7-alpine",
    uid: str | None = None,
    **meta: Any,
) -> Obj:
    metadata: Obj = {"name": name, "namespace": "ns", **meta}
    if uid is not None:
        metadata["uid"] = uid
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": metadata,
        "spec": {"replicas": replicas, "image": image, "port": 6379},
    }


def child(
    name: str, owner: str | None = None, uid: str = "u-1", kind: str = "Redis", **meta: Any
) -> Obj:
    metadata: Obj = {"name": name, "namespace": "ns", **meta}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "myapp.tangx.in/v1",
                "kind": kind,
                "name": owner,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {"metadata": metadata}


# -- image allow-list --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "qualified"),
    [
        ("redis", "docker.io/library/redis"),
        ("redis:5-alpine", "docker.io/library/redis:5-alpine"),
        ("redis@sha256:" + "a" * 64, "docker.io/library/redis@sha256:" + "a" * 64),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("docker.io/redis:7", "docker.io/library/redis:7"),
        ("index.docker.io/library/redis:7", "docker.io/library/redis:7"),
        ("docker.io/library/redis:7", "docker.io/library/redis:7"),
        ("quay.io/opstree/redis:v7", "quay.io/opstree/redis:v7"),
        ("localhost/redis:7", "localhost/redis:7"),
        ("localhost:5000/redis:7", "localhost:5000/redis:7"),
        ("registry:5000/redis", "registry:5000/redis"),
        ("evil.io/redis:7", "evil.io/redis:7"),
    ],
)
def test_qualified_image_follows_docker_hub_short_names(image: str, qualified: str) -> None:
    assert qualified_image(image) == qualified


@pytest.mark.parametrize(
    ("image", "prefixes", "allowed"),
    [
        ("anything.io/x:1", (), True),
        ("redis:5-alpine", ("redis:",), True),
        ("redis:5-alpine", ("docker.io/library/",), True),  # via the qualified form
        ("docker.io/library/redis:7", ("docker.io/library/",), True),
        ("docker.io/library/redis:7", ("redis:",), False),  # a prefix is literal
        ("redis@sha256:" + "a" * 64, ("redis:",), False),
        ("bitnami/redis:7", ("docker.io/library/",), False),
        ("evil.io/redis:7", ("docker.io/library/", "redis:"), False),
        ("registry.example.com/team/redis:7", ("registry.example.com/",), True),
        ("registry.example.com.evil.io/redis:7", ("registry.example.com/",), False),
        ("registry.example.com.evil.io/redis:7", ("registry.example.com",), True),  # documented
    ],
)
def test_image_prefixes(image: str, prefixes: tuple[str, ...], allowed: bool) -> None:
    assert image_is_allowed(image, prefixes) is allowed


def test_create_with_a_disallowed_image_is_refused_naming_field_and_prefixes() -> None:
    policy = AdmissionPolicy(("docker.io/library/", "redis:"))
    message = validation_error("CREATE", redis(image="evil.io/redis:7"), None, policy)
    assert message == (
        'spec.image: "evil.io/redis:7" is not from an allowed registry '
        "(allowed: docker.io/library/, redis:)"
    )


def test_create_with_an_allowed_image_or_without_policy_passes() -> None:
    assert validation_error("CREATE", redis(image="redis:5-alpine"), None, HUB) is None
    assert validation_error("CREATE", redis(image="evil.io/x"), None, AdmissionPolicy()) is None


def test_create_without_an_image_is_judged_by_the_crd_default() -> None:
    obj = redis()
    del obj["spec"]["image"]  # the apiserver defaults it first; judged as redis:7-alpine
    assert validation_error("CREATE", obj, None, HUB) is None
    assert validation_error("CREATE", obj, None, AdmissionPolicy(("quay.io/",))) is not None


def test_update_changing_the_image_to_a_disallowed_one_is_refused() -> None:
    old = redis(image="redis:7", uid="u-1")
    new = redis(image="evil.io/redis:7", uid="u-1")
    assert validation_error("UPDATE", new, old, HUB) is not None
    assert validation_error("UPDATE", redis(image="redis:6", uid="u-1"), old, HUB) is None


def test_update_keeping_a_now_disallowed_image_passes() -> None:
    """An object from before the allow-list tightened stays scalable and deletable."""
    old = redis(image="evil.io/redis:7", uid="u-1")
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["metadata"]["finalizers"] = ["myapp.tangx.in/cleanup"]
    assert validation_error("UPDATE", new, old, HUB) is None


def test_status_only_updates_and_other_operations_pass() -> None:
    old = redis(image="redis:7", uid="u-1")
    new = redis(image="evil.io/redis:7", uid="u-1")
    assert validation_error("UPDATE", new, old, HUB, subresource="status") is None
    assert validation_error("DELETE", None, old, HUB) is None
    assert validation_error("CONNECT", new, None, HUB) is None


# -- child names -------------------------------------------------------------------------


def test_names_to_check_on_create_are_every_pod_and_the_service() -> None:
    names = names_to_check("CREATE", redis(replicas=3), None)
    assert names == ChildNames(("cache-0", "cache-1", "cache-2"), "cache")


def test_names_to_check_on_update_are_only_the_pods_a_scale_up_adds() -> None:
    old = redis(replicas=2, uid="u-1")
    assert names_to_check("UPDATE", redis(replicas=4, uid="u-1"), old).pods == (
        "cache-2",
        "cache-3",
    )
    assert names_to_check("UPDATE", redis(replicas=4, uid="u-1"), old).service is None
    assert not names_to_check("UPDATE", redis(replicas=2, uid="u-1"), old)
    assert not names_to_check("UPDATE", redis(replicas=1, uid="u-1"), old)


def test_no_names_for_status_deletion_or_zero_replicas() -> None:
    assert not names_to_check("UPDATE", redis(replicas=4), redis(), subresource="status")
    deleting = redis(replicas=4, uid="u-1", deletionTimestamp="2024-01-01T00:00:00Z")
    assert not names_to_check("UPDATE", deleting, redis(uid="u-1"))
    assert names_to_check("CREATE", redis(replicas=0), None) == ChildNames((), "cache")


def test_would_own_by_uid_once_the_redis_has_one() -> None:
    assert would_own(child("cache-0", "cache", uid="u-1"), redis(uid="u-1"))
    assert not would_own(child("cache-0", "cache", uid="old"), redis(uid="u-1"))
    assert not would_own(child("cache-0"), redis(uid="u-1"))


def test_would_own_on_create_by_the_controllers_kind_and_name() -> None:
    new = redis()  # CREATE: no uid yet
    assert would_own(child("cache-0", "cache", uid="deleted-namesake"), new)
    assert not would_own(child("cache-0", "other"), new)
    assert not would_own(child("cache-0", "cache", kind="StatefulSet"), new)
    assert not would_own(child("cache-0"), new)


def test_a_taken_child_name_gives_a_warning() -> None:
    new = redis(replicas=2)
    names = names_to_check("CREATE", new, None)
    pods = [child("cache-0"), child("cache-1", "cache"), child("unrelated")]
    (warning,) = conflict_warnings(new, names, pods, None)
    assert warning.startswith('pod "cache-0" already exists and is not controlled by this Redis')
    assert len(warning) < 256  # the apiserver may truncate longer warnings


def test_a_taken_service_name_gives_a_warning() -> None:
    new = redis(replicas=0)
    names = names_to_check("CREATE", new, None)
    (warning,) = conflict_warnings(new, names, [], child("cache"))
    assert warning.startswith('Service "cache" already exists and is not controlled by this Redis')
    assert conflict_warnings(new, names, [], child("cache", "cache")) == []


def test_owned_or_terminating_children_give_no_warning() -> None:
    new = redis(replicas=3, uid="u-1")
    names = ChildNames(("cache-0", "cache-1", "cache-2"), "cache")
    pods = [
        child("cache-0", "cache", uid="u-1"),
        child("cache-1", "cache", uid="u-1"),
        child("cache-2", deletionTimestamp="2024-01-01T00:00:00Z"),
    ]
    assert conflict_warnings(new, names, pods, child("cache", "cache", uid="u-1")) == []


# -- the review, with a fake lookup ------------------------------------------------------


class FakeLookup:
    def __init__(
        self, pods: list[Obj] | None = None, service: Obj | None = None, delay: float = 0
    ) -> None:
        self._pods = pods or []
        self._service = service
        self.delay = delay
        self.calls: list[str] = []

    async def pods(self, namespace: str) -> list[Obj]:
        self.calls.append(f"pods/{namespace}")
        await asyncio.sleep(self.delay)
        return self._pods

    async def service(self, namespace: str, name: str) -> Obj | None:
        self.calls.append(f"service/{namespace}/{name}")
        return self._service


class BrokenLookup(FakeLookup):
    async def pods(self, namespace: str) -> list[Obj]:
        raise ConnectionError("apiserver down")


async def test_review_warns_about_a_taken_name() -> None:
    lookup = FakeLookup([child("cache-1")])
    verdict = await review("CREATE", redis(), None, HUB, lookup)
    assert verdict.refusal is None
    assert len(verdict.warnings) == 1 and '"cache-1"' in verdict.warnings[0]
    assert lookup.calls == ["pods/ns", "service/ns/cache"]


async def test_a_refused_request_reads_nothing() -> None:
    lookup = FakeLookup([child("cache-1")])
    verdict = await review("CREATE", redis(image="evil.io/r"), None, HUB, lookup)
    assert verdict.refusal is not None and verdict.warnings == ()
    assert lookup.calls == []


async def test_an_update_without_new_ordinals_reads_nothing() -> None:
    lookup = FakeLookup()
    old = redis(uid="u-1")
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["myapp.tangx.in/cleanup"]
    assert await review("UPDATE", new, old, HUB, lookup) == Verdict()
    assert lookup.calls == []


async def test_a_failing_or_slow_lookup_allows_without_warnings() -> None:
    assert (await review("CREATE", redis(), None, HUB, BrokenLookup())).warnings == ()
    slow = FakeLookup([child("cache-0")], delay=5)
    verdict = await review("CREATE", redis(), None, HUB, slow, lookup_timeout=0.05)
    assert verdict.refusal is None and verdict.warnings == ()


def test_register_adds_one_validating_handler_for_the_main_resource() -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, FakeLookup())
    (handler,) = registry._webhooks.get_all_handlers()
    assert handler.id == WEBHOOK_ID
    assert handler.subresource is None  # status requests match no handler: allowed
    assert set(handler.operations or ()) == {"CREATE", "UPDATE"}


# -- the configuration -------------------------------------------------------------------


def test_configuration_covers_only_redis_create_and_update_and_fails_open() -> None:
    config = webhook_configuration({"url": "https://127.0.0.1:9443/x"})
    (webhook,) = config["webhooks"]
    assert webhook["rules"] == [
        {
            "apiGroups": ["myapp.tangx.in"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["redis"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["failurePolicy"] == FAILURE_POLICY == "Ignore"
    assert webhook["timeoutSeconds"] == TIMEOUT_SECONDS == 5
    assert webhook["sideEffects"] == "None"
    assert webhook["matchPolicy"] == "Equivalent"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert "namespaceSelector" not in webhook


def test_local_url_dials_loopback_for_an_unspecified_address() -> None:
    assert local_url("0.0.0.0", 9443) == "https://127.0.0.1:9443"
    assert local_url("", 9443) == "https://127.0.0.1:9443"
    assert local_url("127.0.0.1", 1234) == "https://127.0.0.1:1234"
    assert local_url("::1", 1234) == "https://[::1]:1234"


def test_self_signed_certificate_is_its_own_ca_for_the_loopback_names() -> None:
    cert_pem, key_pem = self_signed_certificate(["127.0.0.1", "localhost", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" in key_pem


async def test_serving_with_a_self_signed_certificate_writes_a_working_configuration(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = tmp_path / "webhook.json"
    serving = WebhookServing(WebhookOptions(port=port, address="127.0.0.1", config_out=out))
    seen: list[Any] = []

    async def fn(request: Any, **_: Any) -> Any:
        seen.append(request)
        return {"response": {"uid": request["request"]["uid"], "allowed": True}}

    configs = serving(fn)
    try:
        await anext(configs)
        config = json.loads(out.read_text())
        (webhook,) = config["webhooks"]
        url = webhook["clientConfig"]["url"]
        assert url == f"https://127.0.0.1:{port}{WEBHOOK_PATH}"
        ca = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
        context = ssl.create_default_context(cadata=ca)  # verifies the chain and 127.0.0.1
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"request": {"uid": "x"}}, ssl=context) as response,
        ):
            assert response.status == 200
            assert (await response.json())["response"]["allowed"] is True
        assert seen == [{"request": {"uid": "x"}}]
    finally:
        await configs.aclose()
        serving.close()


async def test_the_handler_refuses_with_403_and_logs_at_info_not_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, FakeLookup())
    (handler,) = registry._webhooks.get_all_handlers()
    warnings: list[str] = []
    caplog.set_level(logging.INFO)
    with pytest.raises(kopf.AdmissionError) as refused:
        await handler.fn(
            warnings=warnings,
            subresource=None,
            operation="CREATE",
            new=redis(image="evil.io/redis:7"),
            old=None,
            userinfo={"username": "alice"},
        )
    assert refused.value.code == 403
    assert "admission: refused CREATE of ns/cache by alice" in caplog.text
    # kopf's own ERROR line for the same refusal is filtered out.
    kopf_log = logging.getLogger("kopf.objects")
    kopf_log.error("Webhook '%s' failed permanently: %s", WEBHOOK_ID, refused.value)
    kopf_log.error("Webhook 'other' failed permanently: boom")
    assert [r.getMessage() for r in caplog.records if r.name == "kopf.objects"] == [
        "Webhook 'other' failed permanently: boom"
    ]


async def test_the_handler_fails_open_on_a_bug() -> None:
    registry = kopf.OperatorRegistry()
    register(registry, HUB, FakeLookup())
    (handler,) = registry._webhooks.get_all_handlers()
    malformed = {"metadata": {"name": "x", "namespace": "ns"}, "spec": "not a mapping"}
    warnings: list[str] = []
    await handler.fn(warnings=warnings, subresource=None, operation="CREATE", new=malformed)
    assert warnings == []


def _options(*argv: str) -> WebhookOptions | None:
    return options_from_args(build_parser().parse_args(["run", *argv]))


def test_the_webhook_is_off_without_a_port_and_its_flags_need_one() -> None:
    assert _options() is None
    with pytest.raises(ValueError, match="--allowed-image-prefix needs --webhook-port"):
        _options("--allowed-image-prefix=redis:")


def test_webhook_flags(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("x")
    key.write_text("x")
    options = _options(
        "--webhook-port=9443",
        f"--webhook-cert-file={cert}",
        f"--webhook-key-file={key}",
        "--allowed-image-prefix=redis:",
        "--allowed-image-prefix=docker.io/library/",
    )
    assert options == WebhookOptions(
        port=9443,
        address="0.0.0.0",
        cert_file=cert,
        key_file=key,
        policy=AdmissionPolicy(("redis:", "docker.io/library/")),
    )
    with pytest.raises(ValueError, match="go together"):
        _options("--webhook-port=9443", f"--webhook-cert-file={cert}")
    with pytest.raises(ValueError, match="no such file"):
        _options("--webhook-port=9443", f"--webhook-cert-file={cert}", "--webhook-key-file=/nope")
    with pytest.raises(ValueError, match="must not be empty"):
        _options("--webhook-port=9443", "--allowed-image-prefix=")
    with pytest.raises(SystemExit):
        _options("--webhook-port=70000")
