"""The committed deploy/ files are what the code generates; RBAC is least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devcluster import imagebuild
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
    assert yaml.safe_load(files["base/crd.yaml"]) == api.crd()
    kinds = [doc["kind"] for doc in yaml.safe_load_all(files["base/rbac.yaml"])]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    assert [d["kind"] for d in yaml.safe_load_all(files["base/deployment.yaml"])] == [
        "Deployment",
        "PodDisruptionBudget",
    ]


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
    # No CRD access, namespaces only watched
    # (which are being deleted), deploy/'s webhook configuration only read and patched (its
    # caBundle), no get where nothing GETs, Secrets only listed and watched by label (and the
    # generated one created), Services deleted only when a Redis does not want a role Service
    # it owns.
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
        *(
            ("admissionregistration.k8s.io", "validatingwebhookconfigurations", v)
            for v in ("get", "patch")
        ),
    }
    assert granted == expected
    (webhook_rule,) = [r for r in cluster_role()["rules"] if "resourceNames" in r]
    assert webhook_rule["resourceNames"] == [manifests.CONFIGURATION_NAME]
    assert not any("*" in str(rule) for rule in cluster_role()["rules"])


def _docs(name: str) -> dict[str, dict[str, Any]]:
    """The documents of one deploy/ file, by kind."""
    return {doc["kind"]: doc for doc in yaml.safe_load_all(render_manifests()[name])}


def _kustomization(directory: str) -> dict[str, Any]:
    prefix = f"{directory}/" if directory else ""
    loaded: dict[str, Any] = yaml.safe_load(render_manifests()[f"{prefix}kustomization.yaml"])
    return loaded


def test_the_base_kustomization_lists_every_base_file_and_deploy_is_the_base() -> None:
    files = render_manifests()
    base = {name.removeprefix("base/") for name in files if name.startswith("base/")}
    assert set(_kustomization("base")["resources"]) == base - {"kustomization.yaml"}
    assert _kustomization("")["resources"] == ["base"]
    assert "&id" not in "".join(files.values())  # no YAML aliases
    assert not any("cert-manager.io" in text for name, text in files.items() if "/" not in name)
    assert not any("cert-manager.io" in text for name, text in files.items() if "base/" in name)


def test_the_dev_overlay_changes_only_the_image_to_the_dev_clusters_build() -> None:
    dev = _kustomization("dev")
    assert dev["resources"] == ["../base"]
    assert dev["images"] == [
        {"name": "redis-operator", "newName": imagebuild.IMAGE_REPOSITORY, "newTag": _version()}
    ]
    assert set(dev) == {"apiVersion", "kind", "resources", "images"}
    assert _container()["image"] == f"redis-operator:{_version()}"


def _version() -> str:
    """The version the dev cluster's image build tags its image with."""
    return imagebuild.Project(DEPLOY.parent).version


def _overlay_patch(kind: str) -> list[dict[str, Any]]:
    (patch,) = [p for p in _kustomization("cert-manager")["patches"] if p["target"]["kind"] == kind]
    operations: list[dict[str, Any]] = yaml.safe_load(patch["patch"])
    return operations


def test_the_cert_manager_overlay_serves_the_certificates_secret_and_injects_its_ca() -> None:
    overlay = _kustomization("cert-manager")
    assert overlay["resources"] == ["../base", "cert-manager.yaml"]
    args_op, mount_op, volume_op = _overlay_patch("Deployment")
    assert args_op["path"] == "/spec/template/spec/containers/0/args"
    args = build_parser().parse_args(["run", *args_op["value"]])
    assert args.webhook_certificate_secret is None
    mount = mount_op["value"]["mountPath"]
    assert str(args.webhook_cert_file) == f"{mount}/tls.crt"
    assert str(args.webhook_key_file) == f"{mount}/tls.key"
    assert mount_op["value"]["name"] == volume_op["value"]["name"]
    certificate = _docs("cert-manager/cert-manager.yaml")["Certificate"]
    assert volume_op["value"]["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert certificate["spec"]["secretName"] == "redis-operator-webhook-tls"
    assert "redis-operator-webhook.redis-operator-system.svc" in certificate["spec"]["dnsNames"]
    issuer = _docs("cert-manager/cert-manager.yaml")["Issuer"]
    assert certificate["spec"]["issuerRef"] == {
        "kind": "Issuer",
        "name": issuer["metadata"]["name"],
    }
    (annotation,) = _overlay_patch("ValidatingWebhookConfiguration")
    assert annotation == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {"cert-manager.io/inject-ca-from": "redis-operator-system/redis-operator-webhook"},
    }


def _container() -> dict[str, Any]:
    pod = _docs("base/deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    result: dict[str, Any] = container
    return result


def test_deployment_runs_two_leader_elected_replicas_with_probes() -> None:
    deployment = _docs("base/deployment.yaml")["Deployment"]
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


def test_deployment_args_are_flags_the_cli_accepts_the_certificate_managed() -> None:
    container = _container()
    args = build_parser().parse_args(["run", *container["args"]])
    assert args.leader_elect is True
    assert args.metrics_address == ":8080"
    assert args.webhook_port == 9443
    assert args.webhook_cert_file is None
    assert args.webhook_certificate_secret == manifests.WEBHOOK_SECRET
    assert args.webhook_service == manifests.WEBHOOK_SERVICE
    assert args.webhook_configuration == manifests.CONFIGURATION_NAME
    (env,) = container["env"]
    assert env == {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    # The one writable place: a memory-backed /tmp for the PEM the listener loads.
    (mount,) = container["volumeMounts"]
    pod = _docs("base/deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    assert (mount["mountPath"], mount["name"]) == ("/tmp", volume["name"])
    assert volume["emptyDir"]["medium"] == "Memory"


def test_the_certificate_role_is_the_secrets_by_name_in_the_operators_namespace() -> None:
    role = _docs("base/rbac.yaml")["Role"]
    binding = _docs("base/rbac.yaml")["RoleBinding"]
    assert role["metadata"]["namespace"] == manifests.NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [manifests.WEBHOOK_SECRET],
            "verbs": ["get", "update"],
        },
        # A create cannot be restricted by name (the name is not known to the authorizer).
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": manifests.NAME, "namespace": manifests.NAMESPACE}
    ]


def test_pod_is_locked_down() -> None:
    pod = _docs("base/deployment.yaml")["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_webhook_configuration_calls_the_service_and_fails_open() -> None:
    config = _docs("base/webhook.yaml")["ValidatingWebhookConfiguration"]
    assert "annotations" not in config["metadata"]
    (webhook,) = config["webhooks"]
    assert webhook["clientConfig"] == {
        "service": {
            "namespace": "redis-operator-system",
            "name": "redis-operator-webhook",
            "path": WEBHOOK_PATH,
            "port": 443,
        }
    }  # no caBundle: the operator (or, in the overlay, cert-manager) writes it
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
        for doc in yaml.safe_load_all(render_manifests()["base/service.yaml"])
    }
    service = services["redis-operator-webhook"]
    assert service["metadata"]["namespace"] == "redis-operator-system"
    assert service["spec"]["ports"] == [
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]
    pod_labels = _docs("base/deployment.yaml")["Deployment"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert services["redis-operator-metrics"]["spec"]["ports"][0]["targetPort"] == "metrics"
