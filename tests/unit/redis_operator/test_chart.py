"""The committed Helm chart is what the code generates, from deploy/'s objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from redis_operator import api, chart, manifests
from redis_operator.cli import build_parser

CHARTS = Path(__file__).resolve().parents[3] / "charts"


def test_committed_chart_is_up_to_date() -> None:
    rendered = chart.render_chart()
    stale = [
        name
        for name, text in rendered.items()
        if not (CHARTS / name).is_file() or (CHARTS / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(
        p.relative_to(CHARTS).as_posix()
        for p in CHARTS.rglob("*")
        if p.is_file() and p.relative_to(CHARTS).as_posix() not in rendered
    )
    assert not stale and not extra, (
        f"charts/ differs from the code (stale {stale}, not generated {extra}): run "
        "`redis-operator chart --write charts` and commit the result"
    )


def test_cli_writes_the_chart(tmp_path: Path) -> None:
    args = build_parser().parse_args(["chart", "--write", str(tmp_path)])
    assert args.handler(args) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert written == sorted(chart.render_chart())


def test_values_yaml_is_the_documented_defaults() -> None:
    text = chart.render_chart()["redis-operator/values.yaml"]
    assert yaml.safe_load(text) == chart.default_values()
    # Every value has its documentation right above it.
    lines = text.splitlines()

    def check(values: tuple[chart.Value, ...], indent: str) -> None:
        for value in values:
            (index,) = [
                i for i, line in enumerate(lines) if line.startswith(f"{indent}{value.key}:")
            ]
            assert lines[index - 1] == f"{indent}# {value.doc}"
            check(value.children, indent + "  ")

    check(chart.VALUES, "")


def test_defaults_are_deploys() -> None:
    values = chart.default_values()
    (container,) = manifests.deployment()["spec"]["template"]["spec"]["containers"]
    assert f"{values['image']['repository']}:{values['image']['tag']}" == container["image"]
    assert values["image"]["pullPolicy"] == container["imagePullPolicy"]
    assert values["replicas"] == manifests.deployment()["spec"]["replicas"]
    assert values["resources"] == container["resources"]
    assert values["watchNamespaces"] == [] and values["eventLanguage"] == "en"


def _leaves(schema: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    if schema.get("type") == "object" and "description" not in schema:
        assert schema["additionalProperties"] is False, path
        leaves: dict[str, dict[str, Any]] = {}
        for key, child in schema["properties"].items():
            leaves |= _leaves(child, f"{path}.{key}")
        return leaves
    return {path: schema}


def test_schema_covers_every_value_and_refuses_unknown_ones() -> None:
    schema = json.loads(chart.render_chart()["redis-operator/values.schema.json"])
    leaves = _leaves(schema)

    def paths(values: dict[str, Any], prefix: str = "") -> set[str]:
        found: set[str] = set()
        for key, value in values.items():
            nested = isinstance(value, dict) and key not in ("resources", "nodeSelector")
            found |= paths(value, f"{prefix}.{key}") if nested else {f"{prefix}.{key}"}
        return found

    assert set(leaves) == paths(chart.default_values())
    assert all(leaf["description"] for leaf in leaves.values())
    assert leaves[".eventLanguage"]["enum"] == ["en", "zh"]


def test_crd_is_in_crds_untemplated_and_namespace_is_left_to_helm() -> None:
    files = chart.render_chart()
    assert yaml.safe_load(files["redis-operator/crds/redis.yaml"]) == api.crd()
    templates = "".join(text for name, text in files.items() if "/templates/" in name)
    assert manifests.NAMESPACE not in templates
    assert "kind: Namespace\n" not in templates and "CustomResourceDefinition" not in templates


def test_chart_yaml() -> None:
    meta = yaml.safe_load(chart.render_chart()["redis-operator/Chart.yaml"])
    assert meta["apiVersion"] == "v2" and meta["name"] == "redis-operator"
    assert meta["appVersion"] == chart.IMAGE_TAG


def test_operations_doc_lists_every_value() -> None:
    doc = (CHARTS.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc.split("## Installing with Helm", 1)[1].split("\n## ", 1)[0]

    def leaves(values: tuple[chart.Value, ...], prefix: str = "") -> list[str]:
        return [
            path
            for v in values
            for path in (
                leaves(v.children, f"{prefix}{v.key}.") if v.children else [prefix + v.key]
            )
        ]

    missing = [p for p in leaves(chart.VALUES) if f"| `{p}` |" not in section]
    assert not missing, f"docs/operations.md's Helm values table lacks {missing}"
    assert "never deleted by Helm" in section


def test_an_overlay_patch_the_chart_cannot_template_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overlay = manifests.cert_manager_kustomization()
    target = {"kind": "Deployment", "name": manifests.NAME}
    patch = "- op: remove\n  path: /spec/strategy\n"
    monkeypatch.setattr(
        manifests,
        "cert_manager_kustomization",
        lambda: overlay | {"patches": [{"target": target, "patch": patch}]},
    )
    with pytest.raises(ValueError, match=r"cannot template the overlay's patch.*remove"):
        chart.render_chart()


def test_the_overlays_patches_become_conditionals() -> None:
    deployment = chart.render_chart()["redis-operator/templates/deployment.yaml"]
    condition = '{{- if eq .Values.webhook.certificate "cert-manager" }}'
    # args (a replace), the mount and the volume (adds to lists).
    assert deployment.count(condition) == 3
    assert f"{condition}\n        - --webhook-cert-file=" in deployment
    webhook = chart.render_chart()["redis-operator/templates/webhook.yaml"]
    assert f"  {condition}\n  annotations:\n    cert-manager.io/inject-ca-from:" in webhook
