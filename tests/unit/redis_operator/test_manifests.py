"""The committed deploy/ files are what the code generates; RBAC is least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from redis_operator import api, manifests
from redis_operator.cli import build_parser
from redis_operator.manifests import cluster_role, render_manifests, write_manifests
from redis_operator.webhook.configuration import WEBHOOK_PATH

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_committed_deploy_files_are_up_to_date() -> None:
    stale = [
        name
        for name, text in render_manifests().items()
        if not (DEPLOY / name).is_file() or (DEPLOY / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, (
        f"deploy/ differs from the code for {stale}: run `redis-operator manifests --write` "
        "and commit the result"
    )


def test_write_manifests(tmp_path: Path) -> None:
    written = write_manifests(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(render_manifests())
    assert (tmp_path / "samples" / "redis.yaml").is_file()


def test_manifests_parse_and_the_crd_round_trips() -> None:
    files = render_manifests()
    assert yaml.safe_load(files["crd.yaml"]) == api.crd()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(files["rbac.yaml"])]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    assert [d["kind"] for d in yaml.safe_load_all(files["deployment.yaml"])] == [
        "Deployment",
        "PodDisruptionBudget",
    ]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert all(resource in files for resource in kustomization["resources"])


def test_sample_is_the_tutorials() -> None:
    assert yaml.safe_load(render_manifests()["samples/redis.yaml"]) == {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": "my-op-redis"},
        "spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333},
    }


def test_cluster_role_grants_exactly_what_is_used() -> None:
    granted = {
        (group, resource, verb)
        for rule in cluster_role()["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # No CRD access (kopf with scanning disabled uses only discovery), namespaces only watched
    # (which are being deleted), no webhook configurations (deploy/'s, not kopf-managed), no
    # get where nothing GETs, Secrets only listed and watched by label (and the generated one
    # created), Services deleted only when a Redis does not want a role Service it owns.
    expected = {
        *(("myapp.tangx.in", "redis", v) for v in ("list", "watch", "patch")),
        ("myapp.tangx.in", "redis/status", "patch"),
        ("myapp.tangx.in", "redis/finalizers", "update"),
        *(("", "pods", v) for v in ("list", "watch", "create", "delete", "patch")),
        *(("", "services", v) for v in ("get", "list", "watch", "create", "patch", "delete")),
        *(("", "secrets", v) for v in ("list", "watch", "create")),
        *(("", "namespaces", v) for v in ("list", "watch")),
        *(("", "events", v) for v in ("create", "patch", "list")),
        *(("events.k8s.io", "events", v) for v in ("create", "patch")),
        *(("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")),
    }
    assert granted == expected
    assert not any("*" in str(rule) for rule in cluster_role()["rules"])


def _docs(name: str) -> dict[str, dict[str, Any]]:
    """The documents of one deploy/ file, by kind."""
    return {doc["kind"]: doc for doc in yaml.safe_load_all(render_manifests()[name])}


def test_kustomization_lists_every_file_but_the_sample() -> None:
    kustomization = yaml.safe_load(render_manifests()["kustomization.yaml"])
    assert set(kustomization["resources"]) == set(render_manifests()) - {
        "kustomization.yaml",
        "samples/redis.yaml",
    }
    assert "&id" not in "".join(render_manifests().values())  # no YAML aliases


def test_deployment_runs_two_leader_elected_replicas_with_probes() -> None:
    deployment = _docs("deployment.yaml")["Deployment"]
    assert deployment["metadata"]["namespace"] == manifests.NAMESPACE
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    assert pod["spec"]["serviceAccountName"] == manifests.NAME
    (container,) = pod["spec"]["containers"]
    assert "--leader-elect" in container["args"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"webhook": 9443, "metrics": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_deployment_args_are_flags_the_cli_accepts() -> None:
    (container,) = _docs("deployment.yaml")["Deployment"]["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(["run", *container["args"]])
    assert args.leader_elect is True
    assert args.metrics_address == ":8080"
    assert args.webhook_port == 9443
    mount = container["volumeMounts"][0]["mountPath"]
    assert str(args.webhook_cert_file) == f"{mount}/tls.crt"
    assert str(args.webhook_key_file) == f"{mount}/tls.key"


def test_pod_is_locked_down() -> None:
    pod = _docs("deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_webhook_tls_comes_from_the_cert_manager_secret() -> None:
    pod = _docs("deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    certificate = _docs("cert-manager.yaml")["Certificate"]
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert certificate["spec"]["secretName"] == "redis-operator-webhook-tls"
    assert "redis-operator-webhook.redis-operator-system.svc" in certificate["spec"]["dnsNames"]
    issuer = _docs("cert-manager.yaml")["Issuer"]
    assert certificate["spec"]["issuerRef"] == {
        "kind": "Issuer",
        "name": issuer["metadata"]["name"],
    }


def test_webhook_configuration_calls_the_service_and_fails_open() -> None:
    config = _docs("webhook.yaml")["ValidatingWebhookConfiguration"]
    assert config["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": "redis-operator-system/redis-operator-webhook"
    }
    (webhook,) = config["webhooks"]
    assert webhook["clientConfig"] == {
        "service": {
            "namespace": "redis-operator-system",
            "name": "redis-operator-webhook",
            "path": WEBHOOK_PATH,
            "port": 443,
        }
    }  # no caBundle: cert-manager injects it
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["timeoutSeconds"] == 5
    assert webhook["sideEffects"] == "None"
    assert webhook["matchPolicy"] == "Equivalent"
    assert webhook["admissionReviewVersions"] == ["v1"]
    (rule,) = webhook["rules"]
    assert rule["apiGroups"] == ["myapp.tangx.in"] and rule["resources"] == ["redis"]
    assert rule["operations"] == ["CREATE", "UPDATE"]

    services = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all(render_manifests()["service.yaml"])
    }
    service = services["redis-operator-webhook"]
    assert service["metadata"]["namespace"] == "redis-operator-system"
    assert service["spec"]["ports"] == [
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]
    pod_labels = _docs("deployment.yaml")["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert services["redis-operator-metrics"]["spec"]["ports"][0]["targetPort"] == "metrics"
