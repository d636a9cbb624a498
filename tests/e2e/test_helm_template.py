"""`helm template` of charts/: deploy/'s objects with the default values, and with other values
exactly the changes they name. No cluster: helm renders offline, kustomize (kubectl's) too."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.build import build_kubernetes
from tests.e2e.helm import CHART, Helm

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

Objects = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(tmp_path_factory.mktemp("helm"))


def _by_name(documents: list[dict[str, Any]]) -> Objects:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    assert len(objects) == len(documents), "two objects of one kind and name"
    return objects


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = build_kubernetes() / "kubectl"
    out = subprocess.run(
        [str(kubectl), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def defaults(helm: Helm) -> Objects:
    return _by_name(helm.template())


def _deploy_without_namespace(directory: Path) -> Objects:
    deploy = _by_name(_kustomize(directory))
    # The release's namespace is Helm's (`helm install -n ... --create-namespace`), not the chart's.
    namespace = deploy.pop(("Namespace", "redis-operator-system"))
    assert namespace["metadata"]["name"] == "redis-operator-system"
    return deploy


def _assert_same(rendered: Objects, deploy: Objects) -> None:
    assert sorted(rendered) == sorted(deploy)
    for key, expected in deploy.items():
        assert rendered[key] == expected, key


def test_default_values_render_deploys_objects(defaults: Objects) -> None:
    """The operator-managed certificate: deploy/ (its base)."""
    _assert_same(defaults, _deploy_without_namespace(DEPLOY))


def test_cert_manager_mode_renders_the_overlays_objects(helm: Helm) -> None:
    rendered = _by_name(helm.template({"webhook": {"certificate": "cert-manager"}}))
    _assert_same(rendered, _deploy_without_namespace(DEPLOY / "cert-manager"))


def test_objects_follow_the_release_namespace(helm: Helm) -> None:
    rendered = helm.template(namespace="ops")
    assert "redis-operator-system" not in yaml.safe_dump_all(rendered)
    objects = _by_name(rendered)
    namespaced = [o for o in rendered if "namespace" in o["metadata"]]
    assert namespaced and all(o["metadata"]["namespace"] == "ops" for o in namespaced)
    hook = objects["ValidatingWebhookConfiguration", "redis-operator"]["webhooks"][0]
    assert hook["clientConfig"]["service"]["namespace"] == "ops"
    (subject,) = objects["ClusterRoleBinding", "redis-operator"]["subjects"]
    assert subject["namespace"] == "ops"


def _pod(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment", "redis-operator"]["spec"]["template"]["spec"]
    return spec


def _container(objects: Objects) -> dict[str, Any]:
    (container,) = _pod(objects)["containers"]
    return container  # type: ignore[no-any-return]


def _set_image(o: Objects) -> None:
    _container(o)["image"] = "registry.example/ops/redis-operator:0.2.0"
    _container(o)["imagePullPolicy"] = "Always"


def _set_replicas(o: Objects) -> None:
    o["Deployment", "redis-operator"]["spec"]["replicas"] = 3


def _watch(o: Objects) -> None:
    _container(o)["args"] += ["--namespace=team-a", "--namespace=team-b"]


def _allow(o: Objects) -> None:
    _container(o)["args"] += [
        "--allowed-image-prefix=localhost/",
        "--allowed-image-prefix=docker.io/",
    ]


def _language(o: Objects) -> None:
    _container(o)["args"] += ["--event-language=zh"]


RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}


def _resources(o: Objects) -> None:
    _container(o)["resources"] = RESOURCES


def _no_cpu_limit(o: Objects) -> None:
    del _container(o)["resources"]["limits"]["cpu"]


PULL_SECRETS = [{"name": "registry-login"}]
NODE_SELECTOR = {"kubernetes.io/os": "linux"}
TOLERATIONS = [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}]


def _scheduling(o: Objects) -> None:
    _pod(o).update(
        imagePullSecrets=PULL_SECRETS, nodeSelector=NODE_SELECTOR, tolerations=TOLERATIONS
    )


CASES: dict[str, tuple[dict[str, Any], Callable[[Objects], None]]] = {
    "image": (
        {
            "image": {
                "repository": "registry.example/ops/redis-operator",
                "tag": "0.2.0",
                "pullPolicy": "Always",
            }
        },
        _set_image,
    ),
    "replicas": ({"replicas": 3}, _set_replicas),
    "watchNamespaces": ({"watchNamespaces": ["team-a", "team-b"]}, _watch),
    "eventLanguage": ({"eventLanguage": "zh"}, _language),
    "allowedImagePrefixes": (
        {"webhook": {"allowedImagePrefixes": ["localhost/", "docker.io/"]}},
        _allow,
    ),
    "resources": ({"resources": RESOURCES}, _resources),
    # Maps merge with the defaults (Helm's coalescing); null removes a default key.
    "resources-merged": ({"resources": {"limits": {"cpu": None}}}, _no_cpu_limit),
    "scheduling": (
        {
            "imagePullSecrets": PULL_SECRETS,
            "nodeSelector": NODE_SELECTOR,
            "tolerations": TOLERATIONS,
        },
        _scheduling,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_change_exactly_what_they_say(helm: Helm, defaults: Objects, case: str) -> None:
    values, change = CASES[case]
    expected = copy.deepcopy(defaults)
    change(expected)
    assert _by_name(helm.template(values)) == expected


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"eventLanguage": "fr"}, "eventLanguage"),
        ({"replicas": 0}, "replicas"),
        ({"replica": 3}, "replica"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"webhook": {"certificate": "self-signed"}}, "certificate"),
        ({"watchNamespaces": "team-a"}, "watchNamespaces"),
    ],
)
def test_bad_values_are_refused_by_name(helm: Helm, values: dict[str, Any], named: str) -> None:
    result = helm.run("template", *helm.chart_args(values), check=False)
    assert result.returncode != 0 and not result.stdout
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


@pytest.mark.parametrize("mode", ["managed", "cert-manager"])
def test_helm_lint_strict_passes(helm: Helm, mode: str) -> None:
    result = helm.run("lint", "--strict", str(CHART), "--set", f"webhook.certificate={mode}")
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout
