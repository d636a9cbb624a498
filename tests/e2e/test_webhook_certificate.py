"""The operator-managed webhook certificate against the real control plane (kwok nodes only).

Operators run on this machine as the operator's identity (deploy/'s RBAC only) with deploy/'s
managed-certificate flags: the Secret ``redis-operator-webhook-tls`` in
``redis-operator-system`` and deploy/'s ValidatingWebhookConfiguration, applied here with a
namespaceSelector on the test's namespace. The apiserver cannot reach a host process through
the Service here (that is test_real_node.py's); a client trusting the caBundle, dialing by the
Service's DNS name, stands in for it. deploy/'s kustomizations are rendered by kubectl.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator import manifests
from redis_operator.kube.client import JsonKubeApi, new_api_client
from redis_operator.settings import WebhookCertificateSettings
from redis_operator.webhook.keeper import CertificateKeeper
from redis_operator.webhook.renewal import parse, service_names
from tests.e2e.operator import OPERATOR_USER, REPO, OperatorProcess, Start
from tests.e2e.webhook import listening
from tests.support.kube import AuditLog, Kubectl, wait_for

pytestmark = pytest.mark.e2e

NAMES = service_names(manifests.WEBHOOK_SERVICE, manifests.NAMESPACE)
_CERTIFICATE_KINDS = ("secrets", "validatingwebhookconfigurations")


def _cleanup(kubectl: Kubectl) -> None:
    kubectl.run(
        "delete",
        "validatingwebhookconfiguration",
        manifests.CONFIGURATION_NAME,
        "--ignore-not-found",
        check=False,
    )
    kubectl.run(
        "delete",
        "secret",
        manifests.WEBHOOK_SECRET,
        "-n",
        manifests.NAMESPACE,
        "--ignore-not-found",
        check=False,
    )


@pytest.fixture
def configuration(kubectl: Kubectl, namespace: str, operator_kubeconfig: Path) -> Iterator[None]:
    """deploy/'s webhook configuration, scoped to the test's namespace, and no Secret yet."""
    _cleanup(kubectl)
    config = copy.deepcopy(manifests.validating_webhook_configuration())
    for webhook in config["webhooks"]:
        webhook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    kubectl.apply(config)
    yield
    _cleanup(kubectl)


def _start(start: Start) -> tuple[OperatorProcess, int]:
    """An operator with deploy/'s managed-certificate flags, once it serves."""
    port = free_port()
    operator = start(
        f"--webhook-port={port}",
        "--webhook-address=127.0.0.1",
        f"--webhook-certificate-secret={manifests.WEBHOOK_SECRET}",
        f"--webhook-service={manifests.WEBHOOK_SERVICE}",
        f"--webhook-configuration={manifests.CONFIGURATION_NAME}",
        f"--webhook-certificate-namespace={manifests.NAMESPACE}",
    )
    wait_for(lambda: listening(port) or not operator.alive, f"the webhook on port {port}", 60)
    assert operator.alive, operator.log()[-3000:]
    return operator, port


def _ca_bundle(kubectl: Kubectl) -> bytes:
    config = kubectl.json("get", "validatingwebhookconfiguration", manifests.CONFIGURATION_NAME)
    bundles = {w["clientConfig"].get("caBundle", "") for w in config["webhooks"]}
    (bundle,) = bundles
    return base64.b64decode(bundle)


def _secret(kubectl: Kubectl) -> dict[str, Any]:
    secret: dict[str, Any] = kubectl.json(
        "get", "secret", manifests.WEBHOOK_SECRET, "-n", manifests.NAMESPACE
    )
    return secret


def _served(port: int, ca_bundle: bytes) -> x509.Certificate:
    """The certificate served on ``port`` to a client that trusts only ``ca_bundle`` and dials
    the Service's DNS name, as the apiserver does."""
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=NAMES[0]) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _certificate_writes(cluster: DevCluster, since: int) -> list[tuple[str, str, int]]:
    return [
        (e["verb"], e["objectRef"]["resource"], e["responseStatus"]["code"])
        for e in AuditLog(cluster.layout.audit_log).writes(OPERATOR_USER, since)
        if e["objectRef"]["resource"] in _CERTIFICATE_KINDS
    ]


def test_two_replicas_serve_one_certificate_of_the_secret_the_configuration_trusts(
    kubectl: Kubectl, cluster: DevCluster, configuration: None, start_operator: Start
) -> None:
    since = AuditLog(cluster.layout.audit_log).offset()
    (_, first), (_, second) = _start(start_operator), _start(start_operator)
    secret = _secret(kubectl)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "redis-operator"}
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt", "ca.key"}
    material = parse(secret["data"])
    ca_bundle = _ca_bundle(kubectl)
    assert ca_bundle == material.ca_bundle()
    for port in (first, second):
        assert _served(port, ca_bundle) == material.serving.certificate
    writes = _certificate_writes(cluster, since)
    # One Secret created (a second create, if the replicas raced, is refused 409), one patch.
    assert [w for w in writes if w[2] < 300] == [
        ("create", "secrets", 201),
        ("patch", "validatingwebhookconfigurations", 200),
    ], writes
    assert all(w == ("create", "secrets", 409) for w in writes if w[2] >= 300), writes


def test_a_restarted_replica_serves_the_secret_as_it_is_and_writes_nothing(
    kubectl: Kubectl, cluster: DevCluster, configuration: None, start_operator: Start
) -> None:
    operator, port = _start(start_operator)
    before = parse(_secret(kubectl)["data"])
    since = AuditLog(cluster.layout.audit_log).offset()
    operator.restart()
    wait_for(lambda: listening(port) or not operator.alive, "the restarted webhook", 60)
    assert _served(port, _ca_bundle(kubectl)) == before.serving.certificate
    assert _certificate_writes(cluster, since) == []


def test_a_ca_bundle_someone_changed_is_put_back(
    kubectl: Kubectl, cluster: DevCluster, configuration: None, start_operator: Start
) -> None:
    operator, port = _start(start_operator)
    good = _ca_bundle(kubectl)
    kubectl(
        "patch",
        "validatingwebhookconfiguration",
        manifests.CONFIGURATION_NAME,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/webhooks/0/clientConfig/caBundle"}]),
    )
    since = AuditLog(cluster.layout.audit_log).offset()
    operator.restart()  # its first check comes at once (then every 60 s)
    wait_for(lambda: _ca_bundle(kubectl) == good, "the caBundle back", 60)
    assert _certificate_writes(cluster, since) == [
        ("patch", "validatingwebhookconfigurations", 200)
    ]
    assert _served(port, good)


def test_every_kustomization_renders_and_the_base_passes_server_side_validation(
    kubectl: Kubectl, operator_kubeconfig: Path
) -> None:
    deploy = REPO / "deploy"
    rendered = {
        name: list(_documents(kubectl("kustomize", str(deploy / name))))
        for name in ("", "cert-manager", "dev")
    }
    kinds = {name: sorted(d["kind"] for d in docs) for name, docs in rendered.items()}
    assert kinds["dev"] == kinds[""]
    assert sorted([*kinds[""], "Certificate", "Issuer"]) == kinds["cert-manager"]
    (dev,) = [d for d in rendered["dev"] if d["kind"] == "Deployment"]
    (container,) = dev["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{manifests.DEV_IMAGE_REPOSITORY}:{manifests.VERSION}"
    (managed,) = [d for d in rendered["cert-manager"] if d["kind"] == "Deployment"]
    (container,) = managed["spec"]["template"]["spec"]["containers"]
    assert container["args"] == manifests.operator_args(managed_certificate=False)
    for name in ("", "dev"):
        out = kubectl("apply", "--dry-run=server", "-k", str(deploy / name))
        assert "deployment.apps/redis-operator" in out
        assert "role.rbac.authorization.k8s.io/redis-operator-webhook-certificate" in out


def _documents(text: str) -> Iterator[dict[str, Any]]:
    yield from (d for d in yaml.safe_load_all(text) if d)


async def test_a_rotation_through_the_real_api_under_deploy_rbac(
    kubectl: Kubectl, cluster: DevCluster, configuration: None, operator_kubeconfig: Path
) -> None:
    """The keeper's calls as the operator's identity, a clock stepped through 250 days: the
    Secret replaced by resourceVersion (update, by name), the caBundle with both CAs during
    the CA rotation, the served certificate trusted by it at every step."""
    start = dt.datetime.now(dt.UTC)
    clock = [start]
    settings = WebhookCertificateSettings(
        secret=manifests.WEBHOOK_SECRET,
        namespace=manifests.NAMESPACE,
        service=manifests.WEBHOOK_SERVICE,
        configuration=manifests.CONFIGURATION_NAME,
    )
    api_client = await new_api_client(str(operator_kubeconfig))
    keeper = CertificateKeeper(JsonKubeApi(api_client), settings, clock=lambda: clock[0])
    since = AuditLog(cluster.layout.audit_log).offset()
    try:
        steps = []
        for days, seconds in ((0, 0), (61, 0), (240, 0), (250, 0), (250, settings.check_seconds)):
            clock[0] = start + dt.timedelta(days=days, seconds=seconds)
            material = await keeper.check()
            steps.append((clock[0], material))
            served = x509.load_pem_x509_certificate(keeper.pem_file.read_bytes())
            assert served == material.serving.certificate
            _verified(served, _ca_bundle(kubectl), clock[0])
    finally:
        keeper.close()
        await api_client.close()
    (_, created), (_, reissued), (_, renewed), (_, staged), (_, moved) = steps
    ca, serving = created.ca.certificate, created.serving.certificate
    assert reissued.ca.certificate == ca and reissued.serving.certificate != serving
    assert renewed.ca.certificate == ca
    assert renewed.serving.certificate != reissued.serving.certificate
    assert staged.trusted == (staged.ca.certificate, ca)
    assert staged.serving.certificate == renewed.serving.certificate
    moved.serving.certificate.verify_directly_issued_by(staged.ca.certificate)
    assert _certificate_writes(cluster, since) == [
        ("create", "secrets", 201),
        ("patch", "validatingwebhookconfigurations", 200),
        ("update", "secrets", 200),  # day 61: the serving certificate renewed
        ("update", "secrets", 200),  # day 240: again
        ("update", "secrets", 200),  # day 250: the CA rotation's first step
        ("patch", "validatingwebhookconfigurations", 200),  # both CAs
        ("update", "secrets", 200),  # a check later: served by the new CA
    ]


def _verified(served: x509.Certificate, ca_bundle: bytes, at: dt.datetime) -> None:
    """The served certificate chains to the caBundle at ``at``, for the Service's name."""
    verifier = (
        PolicyBuilder()
        .store(Store(x509.load_pem_x509_certificates(ca_bundle)))
        .time(at)
        .build_server_verifier(x509.DNSName(NAMES[0]))
    )
    verifier.verify(served, [])
