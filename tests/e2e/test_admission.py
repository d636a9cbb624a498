"""The admission webhook against the real control plane.

Each test runs ``redis-operator run --webhook-port=<free port> --webhook-address=127.0.0.1``
as the operator's identity and registers a ValidatingWebhookConfiguration that points the
apiserver at ``https://127.0.0.1:<port>/...``, scoped by a namespaceSelector to the test's
namespace (so tests never see each other's webhooks) and deleted at the end.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from devcluster import pki
from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from redis_operator.webhook import configuration as admission
from tests.e2e.webhook import Register, Start, listening, start_webhook
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

ALLOWED = "--allowed-image-prefix=redis:"
REFUSED = 'spec.image: "evil.io/redis:7" is not from an allowed registry (allowed: redis:)'


def redis(name: str = "cache", replicas: int = 2, image: str = "redis:5-alpine") -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "image": image, "port": 8333},
    }


def apply(kubectl: Kubectl, namespace: str, obj: dict[str, Any]) -> Any:
    """``kubectl apply`` without raising: the result holds returncode and stderr."""
    return kubectl.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj), check=False)


def test_disallowed_image_is_refused_on_create(
    kubectl: Kubectl,
    namespace: str,
    start_operator: Start,
    register_webhook: Register,
    tmp_path: Path,
) -> None:
    port, config = start_webhook(start_operator, tmp_path, ALLOWED)
    (webhook,) = config["webhooks"]
    url = f"https://127.0.0.1:{port}/validate-myapp-tangx-in-v1-redis"
    assert webhook["clientConfig"]["url"] == url
    assert webhook["failurePolicy"] == "Ignore" and webhook["timeoutSeconds"] == 5
    register_webhook(config)

    result = apply(kubectl, namespace, redis("bad", image="evil.io/redis:7"))
    assert result.returncode != 0
    assert REFUSED in result.stderr, result.stderr
    assert 'admission webhook "validate.redis.myapp.tangx.in" denied the request' in result.stderr
    assert kubectl.run("get", "redis", "bad", "-n", namespace, check=False).returncode != 0

    # The tutorial's Docker Hub short name is allowed; the fully qualified form is not (a
    # prefix is literal), and the message says which prefixes are.
    result = apply(kubectl, namespace, redis("good", image="redis:5-alpine"))
    assert result.returncode == 0, result.stderr
    assert "Warning:" not in result.stderr
    result = apply(kubectl, namespace, redis("hub", image="docker.io/library/redis:7"))
    assert result.returncode != 0 and "(allowed: redis:)" in result.stderr


def test_image_change_is_refused_but_other_updates_and_status_pass(
    kubectl: Kubectl,
    namespace: str,
    start_operator: Start,
    register_webhook: Register,
    tmp_path: Path,
) -> None:
    _, config = start_webhook(start_operator, tmp_path, ALLOWED)
    # Created before the policy: its image is not allowed now.
    kubectl.apply(redis("legacy", replicas=1, image="evil.io/redis:6"), "-n", namespace)
    kubectl.apply(redis("cache", replicas=1), "-n", namespace)
    register_webhook(config)

    image = json.dumps({"spec": {"image": "evil.io/redis:7"}})
    for name in ("cache", "legacy"):
        result = kubectl.run(
            "patch", "redis", name, "-n", namespace, "--type=merge", "-p", image, check=False
        )
        assert result.returncode != 0 and REFUSED in result.stderr, result.stderr

    # Updates that leave the image alone pass, even for the object the policy now refuses.
    kubectl(
        "patch", "redis", "legacy", "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":2}}'
    )
    kubectl("label", "redis", "legacy", "-n", namespace, "tier=cache")
    kubectl("scale", "redis/legacy", "--replicas=3", "-n", namespace)
    status = json.dumps({"status": {"targetReplicas": 3}})
    kubectl(
        "patch",
        "redis",
        "legacy",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    )
    allowed = json.dumps({"spec": {"image": "redis:7-alpine"}})
    kubectl("patch", "redis", "legacy", "-n", namespace, "--type=merge", "-p", allowed)
    obj = kubectl.json("get", "redis", "legacy", "-n", namespace)
    spec = {key: obj["spec"][key] for key in ("replicas", "image", "port")}
    assert spec == {"replicas": 3, "image": "redis:7-alpine", "port": 8333}  # and the defaults
    assert obj["metadata"]["labels"] == {"tier": "cache"}
    assert (
        kubectl.json("get", "redis", "cache", "-n", namespace)["spec"]["image"] == "redis:5-alpine"
    )


def test_taken_child_name_gives_a_warning(
    kubectl: Kubectl,
    namespace: str,
    start_operator: Start,
    register_webhook: Register,
    tmp_path: Path,
) -> None:
    _, config = start_webhook(start_operator, tmp_path, ALLOWED)
    register_webhook(config)
    kubectl("run", "cache-1", "--image=redis:7", "--restart=Never", "-n", namespace)
    kubectl("create", "service", "clusterip", "cache", "--tcp=6379:6379", "-n", namespace)

    result = apply(kubectl, namespace, redis("cache", replicas=2))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 2, result.stderr
    assert warnings[0].startswith('Warning: pod "cache-1" already exists and is not controlled')
    assert warnings[1].startswith('Warning: Service "cache" already exists and is not controlled')

    # An update checks only the pods a scale-up adds: re-applying warns about nothing, nor
    # does a scale-up onto a free name; a scale-up onto a taken one does.
    for replicas in (2, 3):
        result = apply(kubectl, namespace, redis("cache", replicas=replicas))
        assert result.returncode == 0 and "Warning:" not in result.stderr, result.stderr
    kubectl("run", "cache-3", "--image=redis:7", "--restart=Never", "-n", namespace)
    result = apply(kubectl, namespace, redis("cache", replicas=4))
    assert result.returncode == 0, result.stderr
    assert 'Warning: pod "cache-3" already exists' in result.stderr, result.stderr
    assert "cache-1" not in result.stderr
    # The operator's own pods are its children: an unrelated Redis' apply does not warn.
    result = apply(kubectl, namespace, redis("other", replicas=1))
    assert result.returncode == 0 and "Warning:" not in result.stderr, result.stderr


def test_serving_certificate_from_files(
    cluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    start_operator: Start,
    register_webhook: Register,
    tmp_path: Path,
) -> None:
    """The production path: a certificate from a CA (here the dev cluster's), as files."""
    ca = pki.KeyPair(cluster.layout.pki / "ca.crt", cluster.layout.pki / "ca.key")
    serving = pki.issue(
        ca, tmp_path, "webhook", "redis-operator-webhook", server_names=["127.0.0.1"], client=False
    )
    port = free_port()
    operator = start_operator(
        f"--webhook-port={port}",
        "--webhook-address=127.0.0.1",
        f"--webhook-cert-file={serving.cert}",
        f"--webhook-key-file={serving.key}",
        ALLOWED,
    )
    wait_for(lambda: listening(port) or not operator.alive, f"the webhook on 127.0.0.1:{port}")
    assert operator.alive, operator.log()[-3000:]
    url = f"https://127.0.0.1:{port}{admission.WEBHOOK_PATH}"
    ca_bundle = base64.b64encode(ca.cert.read_bytes()).decode()
    register_webhook(admission.webhook_configuration({"url": url, "caBundle": ca_bundle}))
    result = apply(kubectl, namespace, redis("bad", image="evil.io/redis:7"))
    assert result.returncode != 0 and REFUSED in result.stderr, result.stderr


def test_deploy_manifests_pass_server_side_validation(
    kubectl: Kubectl, operator_kubeconfig: Path
) -> None:
    """The Deployment, PDB, Services and webhook configuration of deploy/ (cert-manager's
    kinds are not installed here), validated by the apiserver without being created."""
    deploy = Path(__file__).resolve().parents[2] / "deploy" / "base"
    files = ("deployment.yaml", "service.yaml", "webhook.yaml")
    args = [arg for name in files for arg in ("-f", str(deploy / name))]
    out = kubectl("apply", "--dry-run=server", *args)
    assert "validatingwebhookconfiguration.admissionregistration.k8s.io/redis-operator" in out
    assert "deployment.apps/redis-operator" in out
