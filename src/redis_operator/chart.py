"""The Helm chart, generated from the deploy manifests: the source of truth for `charts/`.

The templates are `manifests.py`'s objects with the values' fields replaced by Helm
expressions, so the chart and `deploy/` never drift apart: with the default values the chart
renders deploy/'s objects (a test runs `helm template`). `redis-operator chart --write charts`
calls `write_chart`; a unit test fails when the committed files differ from `render_chart()`.

Placeholders: a field to be templated is set to a token string, the objects are dumped as
deploy/'s are, and each token is then replaced by its expression (inline), or the whole line
holding it by template lines at that line's indentation (a block: `toYaml`, `range`, `with`).
deploy/'s namespace becomes the release's wherever it is written, names built from it (the
Service's DNS names, cert-manager's annotation) included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from redis_operator import api, manifests
from redis_operator.messages import Language
from redis_operator.settings import ControllerSettings

CHART = manifests.NAME
#: The image's tag is the operator's version, which is also the chart's.
IMAGE_REPOSITORY = manifests.IMAGE_NAME
IMAGE_TAG = manifests.VERSION
CHART_VERSION = manifests.VERSION

HEADER = (
    "# Generated from src/redis_operator/chart.py by `redis-operator chart --write charts`.\n"
    "# Do not edit: change the code and regenerate.\n"
)


@dataclass(frozen=True)
class Value:
    """One entry of values.yaml: its key, what it does (the comment above it), its default and
    its JSON schema; ``children`` for a mapping of entries."""

    key: str
    doc: str
    default: Any = None
    schema: dict[str, Any] | None = None
    children: tuple[Value, ...] = ()


def _resources_schema() -> dict[str, Any]:
    quantity = {"anyOf": [{"type": "string"}, {"type": "number"}]}
    amounts = {"type": "object", "additionalProperties": quantity}
    return {
        "type": "object",
        "properties": {"requests": amounts, "limits": amounts},
        "additionalProperties": False,
    }


DEFAULT_LANGUAGE = ControllerSettings().language
#: The webhook certificate modes: deploy/'s base, and its cert-manager overlay.
MANAGED = "managed"
CERT_MANAGER = "cert-manager"
_IF_CERT_MANAGER = f'{{{{- if eq .Values.webhook.certificate "{CERT_MANAGER}" }}}}'

VALUES = (
    Value(
        "image",
        "The operator's image, built from the repository's Dockerfile.",
        children=(
            Value("repository", "Where it is pulled from.", IMAGE_REPOSITORY, {"type": "string"}),
            Value("tag", "Its tag: the operator's version.", IMAGE_TAG, {"type": "string"}),
            Value(
                "pullPolicy",
                "The kubelet's pull policy.",
                "IfNotPresent",
                {"enum": ["IfNotPresent", "Always", "Never"]},
            ),
        ),
    ),
    Value(
        "imagePullSecrets",
        "Secrets (`- name: ...`) for a private registry; none by default.",
        [],
        {"type": "array", "items": {"type": "object"}},
    ),
    Value(
        "replicas",
        "Operator pods: one leader reconciles, every ready one serves the webhook.",
        manifests.REPLICAS,
        {"type": "integer", "minimum": 1},
    ),
    Value(
        "watchNamespaces",
        "Namespaces whose Redis objects are served; empty: all namespaces.",
        [],
        {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
    ),
    Value(
        "eventLanguage",
        "Language of the Events' reasons and messages: en, or zh (the tutorial's).",
        DEFAULT_LANGUAGE.value,
        {"enum": [language.value for language in Language]},
    ),
    Value(
        "resources",
        "The operator container's requests and limits; memory grows with the pods and "
        "Services it caches.",
        manifests.deployment()["spec"]["template"]["spec"]["containers"][0]["resources"],
        _resources_schema(),
    ),
    Value(
        "webhook",
        "The admission webhook.",
        children=(
            Value(
                "certificate",
                "Its serving certificate: managed (by the operator, in a Secret it keeps, the "
                "default) or cert-manager (an Issuer and a Certificate; needs cert-manager).",
                MANAGED,
                {"enum": [MANAGED, CERT_MANAGER]},
            ),
            Value(
                "allowedImagePrefixes",
                "Refuse a Redis whose spec.image starts with none of these (e.g. "
                "registry.example/); empty: any image.",
                [],
                {"type": "array", "items": {"type": "string", "minLength": 1}},
            ),
        ),
    ),
    Value(
        "nodeSelector",
        "Node labels the operator's pods must match.",
        {},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ),
    Value(
        "tolerations",
        "Taints the operator's pods tolerate.",
        [],
        {"type": "array", "items": {"type": "object"}},
    ),
)


def default_values(values: tuple[Value, ...] = VALUES) -> dict[str, Any]:
    """values.yaml as data."""
    return {v.key: default_values(v.children) if v.children else v.default for v in values}


def values_schema(values: tuple[Value, ...] = VALUES) -> dict[str, Any]:
    """values.schema.json: Helm refuses values that do not match it, naming the field."""
    properties = {
        v.key: values_schema(v.children)
        if v.children
        else {"description": v.doc, **(v.schema or {})}
        for v in values
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _values_text(values: tuple[Value, ...] = VALUES, indent: str = "") -> str:
    out = []
    for v in values:
        out.append(f"{indent}# {v.doc}\n")
        if v.children:
            out.append(f"{indent}{v.key}:\n{_values_text(v.children, indent + '  ')}")
        else:
            body = _dump_plain({v.key: v.default})
            out.append("".join(f"{indent}{line}\n" for line in body.splitlines()))
    return "".join(out)


def _dump_plain(document: Any) -> str:
    return yaml.dump(document, Dumper=manifests.Dumper, sort_keys=False, width=4096)


class _Tokens:
    """Placeholders of one template file and what each becomes."""

    def __init__(self) -> None:
        self._inline: dict[str, str] = {}
        self._blocks: dict[str, Callable[[int], list[str]]] = {}

    def inline(self, expression: str) -> str:
        token = f"__helm_{len(self._inline) + len(self._blocks)}__"
        self._inline[token] = expression
        return token

    def block(self, lines: Callable[[int], list[str]]) -> str:
        token = f"__helm_{len(self._inline) + len(self._blocks)}__"
        self._blocks[token] = lines
        return token

    def render(self, text: str) -> str:
        out = []
        for line in text.splitlines():
            block = next((t for t in self._blocks if t in line), None)
            if block is None:
                out.append(line)
                continue
            indent = len(line) - len(line.lstrip(" "))
            out += [" " * indent + template for template in self._blocks[block](indent)]
        text = "\n".join(out) + "\n"
        for token, expression in self._inline.items():
            text = text.replace(token, expression)
        leftover = [t for t in (*self._inline, *self._blocks) if t in text]
        if leftover:
            raise ValueError(f"placeholders left in a template: {leftover}")
        return text.replace(manifests.NAMESPACE, "{{ .Release.Namespace }}")


def _optional_field(key: str) -> Callable[[int], list[str]]:
    """``key: <the value of that name>`` only when the value is not empty."""
    return lambda indent: [
        f"{{{{- with .Values.{key} }}}}",
        f"{key}:",
        f"  {{{{- toYaml . | nindent {indent + 2} }}}}",
        "{{- end }}",
    ]


def _yaml_lines(document: Any) -> list[str]:
    return _dump_plain(document).splitlines()


def _with_cert_manager(document: Any, otherwise: Any = None) -> Callable[[int], list[str]]:
    """``document``'s lines in cert-manager mode, ``otherwise``'s (if any) in managed mode."""
    lines = [_IF_CERT_MANAGER, *_yaml_lines(document)]
    if otherwise is not None:
        lines += ["{{- else }}", *_yaml_lines(otherwise)]
    lines.append("{{- end }}")
    return lambda _: lines


def _cert_manager_patches(tokens: _Tokens, obj: dict[str, Any]) -> dict[str, Any]:
    """The cert-manager overlay's patches of this object, each under the mode's condition.

    An `add` to the end of a list becomes a conditional item, an `add` of a new key a
    conditional key; a `replace` of a list keeps the items both share, then either tail.
    """
    for patch in manifests.cert_manager_kustomization()["patches"]:
        target = patch["target"]
        if (target["kind"], target["name"]) != (obj["kind"], obj["metadata"]["name"]):
            continue
        for op in yaml.safe_load(patch["patch"]):
            *parents, last = op["path"].lstrip("/").split("/")
            parent: Any = obj
            for step in parents:
                parent = parent[int(step)] if isinstance(parent, list) else parent[step]
            value = op.get("value")
            if op["op"] == "add" and last == "-":
                parent.append(tokens.block(_with_cert_manager([value])))
            elif op["op"] == "add" and last not in parent:
                parent[tokens.block(_with_cert_manager({last: value}))] = None
            elif op["op"] == "replace" and isinstance(parent[last], list) and value:
                base: list[Any] = parent[last]
                shared = 0
                while shared < min(len(base), len(value)) - 1 and base[shared] == value[shared]:
                    shared += 1
                tail = tokens.block(_with_cert_manager(value[shared:], base[shared:]))
                parent[last] = [*base[:shared], tail]
            else:
                raise ValueError(f"the chart cannot template the overlay's patch {op}")
    return obj


def _deployment(tokens: _Tokens) -> dict[str, Any]:
    deployment = _cert_manager_patches(tokens, manifests.deployment())
    deployment["spec"]["replicas"] = tokens.inline("{{ .Values.replicas }}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    container["image"] = tokens.inline(
        '{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}'
    )
    container["imagePullPolicy"] = tokens.inline("{{ .Values.image.pullPolicy }}")
    container["args"] += [
        tokens.block(
            lambda _: [
                "{{- range .Values.watchNamespaces }}",
                '- {{ printf "--namespace=%s" . | quote }}',
                "{{- end }}",
            ]
        ),
        tokens.block(
            lambda _: [
                "{{- range .Values.webhook.allowedImagePrefixes }}",
                '- {{ printf "--allowed-image-prefix=%s" . | quote }}',
                "{{- end }}",
            ]
        ),
        # The operator's own default is left implicit, as in deploy/.
        tokens.block(
            lambda _: [
                f'{{{{- if ne .Values.eventLanguage "{DEFAULT_LANGUAGE.value}" }}}}',
                '- {{ printf "--event-language=%s" .Values.eventLanguage | quote }}',
                "{{- end }}",
            ]
        ),
    ]
    container["resources"] = tokens.block(
        lambda indent: [
            "resources:",
            f"  {{{{- toYaml .Values.resources | nindent {indent + 2} }}}}",
        ]
    )
    for key in ("imagePullSecrets", "nodeSelector", "tolerations"):
        pod[tokens.block(_optional_field(key))] = None
    return deployment


def _template(*documents: Callable[[_Tokens], dict[str, Any]]) -> str:
    tokens = _Tokens()
    body = manifests.dump(*(document(tokens) for document in documents))
    return HEADER + tokens.render(body.removeprefix(manifests.HEADER))


def _constant(function: Callable[[], dict[str, Any]]) -> Callable[[_Tokens], dict[str, Any]]:
    """A manifest as deploy/'s base has it, with the cert-manager overlay's patches of it."""
    return lambda tokens: _cert_manager_patches(tokens, function())


def _only_with_cert_manager(text: str) -> str:
    body = text.removeprefix(HEADER)
    return f"{HEADER}{_IF_CERT_MANAGER}\n{body}{{{{- end }}}}\n"


def chart_yaml() -> dict[str, Any]:
    """Chart.yaml: the chart's name and version, and the operator's version it installs."""
    return {
        "apiVersion": "v2",
        "name": CHART,
        "description": "The Redis operator: Redis objects (myapp.tangx.in/v1) as pods and "
        "Services, with its admission webhook.",
        "type": "application",
        "version": CHART_VERSION,
        "appVersion": IMAGE_TAG,
    }


_SERVED = (
    '{{ if .Values.watchNamespaces }}{{ join ", " .Values.watchNamespaces }}'
    "{{ else }}all namespaces{{ end }}"
)
NOTES = f"""\
The Redis operator is installed in {{{{ .Release.Namespace }}}}, with {{{{ .Values.replicas }}}}
replica(s), serving Redis objects in {_SERVED}.

  kubectl -n {{{{ .Release.Namespace }}}} rollout status deployment/{manifests.NAME}

The Redis CRD ({api.CRD_NAME}) comes from the chart's crds/ directory: Helm installs it
once, `helm upgrade` never changes it and `helm uninstall` leaves it, with every Redis object
and their pods. To remove them too (the Redis pods and Services go with their Redis):

  kubectl delete crd {api.CRD_NAME}
"""


def render_chart() -> dict[str, str]:
    """Each file of the chart, by path relative to `charts/`, with its text."""
    files = {
        "Chart.yaml": HEADER + _dump_plain(chart_yaml()),
        "values.yaml": HEADER + _values_text(),
        "values.schema.json": json.dumps(values_schema(), indent=2) + "\n",
        "crds/redis.yaml": HEADER + manifests.dump(api.crd()).removeprefix(manifests.HEADER),
        "templates/NOTES.txt": NOTES,
        "templates/rbac.yaml": _template(
            _constant(manifests.service_account),
            _constant(manifests.cluster_role),
            _constant(manifests.cluster_role_binding),
            _constant(manifests.certificate_role),
            _constant(manifests.certificate_role_binding),
        ),
        "templates/deployment.yaml": _template(
            _deployment, _constant(manifests.pod_disruption_budget)
        ),
        "templates/service.yaml": _template(
            _constant(manifests.webhook_service), _constant(manifests.metrics_service)
        ),
        "templates/cert-manager.yaml": _only_with_cert_manager(
            _template(
                _constant(manifests.cert_manager_issuer),
                _constant(manifests.cert_manager_certificate),
            )
        ),
        "templates/webhook.yaml": _template(_constant(manifests.validating_webhook_configuration)),
    }
    return {f"{CHART}/{path}": text for path, text in files.items()}


def write_chart(directory: Path) -> list[Path]:
    """Write `render_chart()` under `directory` (e.g. charts); returns the paths written."""
    return manifests.write_files(directory, render_chart())
