"""The deploy manifests, generated from code: the source of truth for `deploy/`.

`redis-operator manifests --write` calls `write_manifests`; a unit test fails when the committed
files differ from `render_manifests()`, so the CRD and RBAC never drift from the code. The base
(`deploy/`) has the operator manage its webhook certificate; `deploy/cert-manager/` is the
overlay for cert-manager's, `deploy/dev/` the one for the dev cluster's local image.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import yaml

from redis_operator import api
from redis_operator.webhook.configuration import (
    CONFIGURATION_NAME,
    WEBHOOK_PATH,
    webhook_configuration,
)

NAMESPACE = "redis-operator-system"
NAME = "redis-operator"
LABELS = {"app.kubernetes.io/name": NAME}

#: The operator's version: the tag of its image.
VERSION = importlib.metadata.version("redis-operator")
#: The image the Dockerfile at the repository root builds; point it at your registry with
#: ``kustomize edit set image redis-operator=<registry>/redis-operator:<tag>`` (docs).
IMAGE_NAME = "redis-operator"
IMAGE = f"{IMAGE_NAME}:{VERSION}"
#: Where the dev cluster's image build puts the image (devcluster.imagebuild; a test checks).
DEV_IMAGE_REPOSITORY = "localhost/redis-operator"
#: A non-root uid/gid, the same as the Dockerfile's USER.
RUN_AS = 10001
REPLICAS = 2
METRICS_PORT = 8080
WEBHOOK_PORT = 9443
WEBHOOK_SERVICE = f"{NAME}-webhook"
METRICS_SERVICE = f"{NAME}-metrics"
#: The Secret of the webhook's certificate: the operator's own (base), or the one cert-manager's
#: Certificate writes (the cert-manager overlay).
WEBHOOK_SECRET = f"{NAME}-webhook-tls"
#: The Role that lets the operator keep that Secret, in its own namespace.
CERTIFICATE_ROLE = f"{NAME}-webhook-certificate"
#: cert-manager's Certificate of the webhook Service, its Issuer, and where the pod mounts the
#: Secret (the cert-manager overlay).
WEBHOOK_CERTIFICATE = f"{NAME}-webhook"
WEBHOOK_ISSUER = f"{NAME}-selfsigned"
WEBHOOK_CERT_DIR = "/etc/redis-operator/webhook-tls"
#: A small memory-backed /tmp: the managed certificate's PEM, written for the TLS listener to
#: load, is the one file the operator writes (the root filesystem is read-only).
TMP_DIR = "/tmp"

HEADER = (
    "# Generated from src/redis_operator/manifests.py by `redis-operator manifests --write`.\n"
    "# Do not edit: change the code and regenerate.\n"
)


def namespace() -> dict[str, Any]:
    """The namespace the operator runs in."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": LABELS},
    }


def service_account() -> dict[str, Any]:
    """The identity the operator's pod runs as."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
    }


def _rule(
    group: str, resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": [group], "resources": resources}
    if names:
        rule["resourceNames"] = names
    return rule | {"verbs": verbs}


def cluster_role() -> dict[str, Any]:
    """Exactly what the operator calls, in every namespace it serves."""
    rules = [
        # The informer lists and watches Redis; the controller patches away the finalizer of
        # earlier versions, and writes status by merge patch.
        _rule(api.GROUP, [api.PLURAL], ["list", "watch", "patch"]),
        _rule(api.GROUP, [f"{api.PLURAL}/status"], ["patch"]),
        # Children carry blockOwnerDeletion: true, which the OwnerReferencesPermissionEnforcement
        # admission plugin allows only to those who may update the owner's finalizers.
        _rule(api.GROUP, [f"{api.PLURAL}/finalizers"], ["update"]),
        # list also serves the admission webhook's metadata-only read of a namespace's pods;
        # patch: the role label of replication mode.
        _rule("", ["pods"], ["list", "watch", "create", "delete", "patch"]),
        # patch: a Service whose port or selector drifted is patched back; get: the admission
        # webhook checks whether a new Redis' Service name is taken; delete: an owned role
        # Service of replication mode in a Redis that does not want it.
        _rule("", ["services"], ["get", "list", "watch", "create", "patch", "delete"]),
        # The password Secrets, watched by label (children.AUTH_SECRET_LABEL: the operator never
        # holds the cluster's other Secrets); create: the generated <name>-auth, once.
        _rule("", ["secrets"], ["list", "watch", "create"]),
        # The namespaces' informer, cluster-scoped whichever namespaces are served: one
        # being deleted gets no create, status or Event (controller/namespaces.py).
        _rule("", ["namespaces"], ["list", "watch"]),
        # Events: created, then patched as they repeat; listed to resume counts after a restart.
        _rule("", ["events"], ["create", "patch", "list"]),
        _rule("events.k8s.io", ["events"], ["create", "patch"]),
        # Leader election.
        _rule("coordination.k8s.io", ["leases"], ["get", "create", "update"]),
        # The managed certificate's CA goes into the caBundle of deploy/'s webhook
        # configuration, that one only: read, and patched when it differs.
        _rule(
            "admissionregistration.k8s.io",
            ["validatingwebhookconfigurations"],
            ["get", "patch"],
            [CONFIGURATION_NAME],
        ),
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": LABELS},
        "rules": rules,
    }


def cluster_role_binding() -> dict[str, Any]:
    """Grants the ClusterRole to the operator's ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": LABELS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def certificate_role() -> dict[str, Any]:
    """The managed certificate's Secret, in the operator's namespace: read and replaced by name;
    created (a create cannot be restricted to a name)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(CERTIFICATE_ROLE),
        "rules": [
            _rule("", ["secrets"], ["get", "update"], [WEBHOOK_SECRET]),
            _rule("", ["secrets"], ["create"]),
        ],
    }


def certificate_role_binding() -> dict[str, Any]:
    """Grants the Role to the operator's ServiceAccount."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(CERTIFICATE_ROLE),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": CERTIFICATE_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def _meta(name: str, namespaced: bool = True, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta | {"labels": LABELS} | extra


def _container() -> dict[str, Any]:
    def probe(path: str, period: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "metrics"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        }

    return {
        "name": "operator",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # The image's ENTRYPOINT is `redis-operator run`. No --namespace: all namespaces.
        "args": operator_args(managed_certificate=True),
        # The managed certificate's Secret is in the pod's own namespace.
        "env": [
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            }
        ],
        "ports": [
            {"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        # Liveness: the event loop and the reconcile workers; readiness: the first full
        # listing is done (not leadership: a standby is ready and serves the webhook).
        "livenessProbe": probe("/healthz", 10),
        "readinessProbe": probe("/readyz", 5),
        # Memory grows with the pods and Services the operator caches (all namespaces).
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": TMP_DIR}],
    }


def operator_args(*, managed_certificate: bool) -> list[str]:
    """The operator's flags: its webhook certificate managed by itself, or from files."""
    if managed_certificate:
        certificate = [
            f"--webhook-certificate-secret={WEBHOOK_SECRET}",
            f"--webhook-service={WEBHOOK_SERVICE}",
            f"--webhook-configuration={CONFIGURATION_NAME}",
        ]
    else:
        certificate = [
            f"--webhook-cert-file={WEBHOOK_CERT_DIR}/tls.crt",
            f"--webhook-key-file={WEBHOOK_CERT_DIR}/tls.key",
        ]
    # Both replicas watch and keep a warm cache, and both serve the webhook; only the Lease
    # holder reconciles. The Lease lives in the pod's own namespace.
    return [
        "--leader-elect",
        f"--metrics-address=:{METRICS_PORT}",
        f"--webhook-port={WEBHOOK_PORT}",
        *certificate,
    ]


def deployment() -> dict[str, Any]:
    """The operator: two replicas, one leader; both serve the webhook and the probes."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME),
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": LABELS},
            # Never below the desired count during a rollout: the webhook stays served.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container()],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": LABELS},
                        }
                    ],
                },
            },
        },
    }


def pod_disruption_budget() -> dict[str, Any]:
    """A drain leaves one replica up: a leader (or a standby taking over) and the webhook."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(NAME),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": LABELS}},
    }


def _service(name: str, port: int, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name),
        "spec": {
            "selector": LABELS,
            "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def webhook_service() -> dict[str, Any]:
    """What the apiserver calls: port 443 to the pods' `webhook` port (every ready replica)."""
    return _service(WEBHOOK_SERVICE, 443, "webhook")


def metrics_service() -> dict[str, Any]:
    """/metrics for Prometheus (a ServiceMonitor or a scrape config can select it)."""
    return _service(METRICS_SERVICE, METRICS_PORT, "metrics")


def _service_dns_names(service: str) -> list[str]:
    return [f"{service}.{NAMESPACE}.svc", f"{service}.{NAMESPACE}.svc.cluster.local"]


def cert_manager_issuer() -> dict[str, Any]:
    """A self-signing Issuer for the webhook's serving certificate."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": _meta(WEBHOOK_ISSUER),
        "spec": {"selfSigned": {}},
    }


def cert_manager_certificate() -> dict[str, Any]:
    """The webhook Service's certificate, written to the Secret the Deployment mounts.

    Self-signed, so it is its own CA: cert-manager's CA injector copies it into the webhook
    configuration's caBundle, and again after each renewal.
    """
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _meta(WEBHOOK_CERTIFICATE),
        "spec": {
            "secretName": WEBHOOK_SECRET,
            "dnsNames": _service_dns_names(WEBHOOK_SERVICE),
            "issuerRef": {"kind": "Issuer", "name": WEBHOOK_ISSUER},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def validating_webhook_configuration() -> dict[str, Any]:
    """The webhook, called through its Service; its caBundle is written by the operator (base)
    or by cert-manager's CA injector (the overlay's annotation)."""
    return webhook_configuration(
        {
            "service": {
                "namespace": NAMESPACE,
                "name": WEBHOOK_SERVICE,
                "path": WEBHOOK_PATH,
                "port": 443,
            }
        },
        name=CONFIGURATION_NAME,
        labels=LABELS,
    )


#: Heads the sample: its image is the tutorial's, which a cluster without a registry cannot pull.
SAMPLE_NOTE = (
    "# The tutorial's Redis, unchanged. Its image comes from Docker Hub: where no registry is\n"
    "# reachable (the dev cluster's real node), replace it with a local one, as scripts/demo\n"
    "# does with the dev cluster's localhost/redis:<version>.\n"
)


def sample_redis() -> dict[str, Any]:
    """The tutorial's sample, unchanged."""
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "my-op-redis"},
        "spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333},
    }


#: The directory of the base's files, under deploy/.
BASE = "base"
_KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


def kustomization() -> dict[str, Any]:
    """`deploy/base/`: everything but the sample, the webhook certificate the operator's."""
    return _KUSTOMIZATION | {
        "resources": [
            "namespace.yaml",
            "crd.yaml",
            "rbac.yaml",
            "deployment.yaml",
            "service.yaml",
            "webhook.yaml",
        ],
    }


def _json_patch(target: dict[str, str], *operations: dict[str, Any]) -> dict[str, Any]:
    """A kustomize patch: RFC 6902 operations on one object."""
    text = yaml.dump(list(operations), Dumper=Dumper, sort_keys=False, width=4096)
    return {"target": target, "patch": text}


def cert_manager_kustomization() -> dict[str, Any]:
    """`deploy/cert-manager/`: the base with cert-manager's certificate instead of the
    operator's: its Issuer and Certificate, the Deployment serving the Secret's files, and the
    CA injector's annotation on the webhook configuration."""
    container = "/spec/template/spec/containers/0"
    return _KUSTOMIZATION | {
        "resources": [f"../{BASE}", "cert-manager.yaml"],
        "patches": [
            _json_patch(
                {"kind": "Deployment", "name": NAME},
                {
                    "op": "replace",
                    "path": f"{container}/args",
                    "value": operator_args(managed_certificate=False),
                },
                {
                    "op": "add",
                    "path": f"{container}/volumeMounts/-",
                    "value": {
                        "name": "webhook-tls",
                        "mountPath": WEBHOOK_CERT_DIR,
                        "readOnly": True,
                    },
                },
                {
                    "op": "add",
                    "path": "/spec/template/spec/volumes/-",
                    "value": {"name": "webhook-tls", "secret": {"secretName": WEBHOOK_SECRET}},
                },
            ),
            _json_patch(
                {"kind": "ValidatingWebhookConfiguration", "name": CONFIGURATION_NAME},
                {
                    "op": "add",
                    "path": "/metadata/annotations",
                    "value": {
                        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/{WEBHOOK_CERTIFICATE}"
                    },
                },
            ),
        ],
    }


def dev_kustomization() -> dict[str, Any]:
    """`deploy/dev/`: the base with the image the dev cluster builds (nothing else differs)."""
    return _KUSTOMIZATION | {
        "resources": [f"../{BASE}"],
        "images": [{"name": IMAGE_NAME, "newName": DEV_IMAGE_REPOSITORY, "newTag": VERSION}],
    }


class Dumper(yaml.SafeDumper):
    """Writes a dict used twice (the labels, as selector too) out twice, not as a YAML alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(*documents: dict[str, Any], note: str = "") -> str:
    """Documents as one generated YAML file, headed by HEADER (and ``note``): deploy/'s and the
    chart's. A wide line keeps CEL rules and patterns on one line, as written in the code."""
    body = yaml.dump_all(
        documents,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )
    return HEADER + note + body


def render_manifests() -> dict[str, str]:
    """Each file of `deploy/`, by path relative to it, with its YAML text.

    The base's files are in `base/`, beside the overlays rather than above them: kustomize
    refuses an overlay inside its base's directory (a cycle). `deploy/kustomization.yaml`
    is the base too, so `kubectl apply -k deploy` installs it.
    """
    return {
        "kustomization.yaml": dump(_KUSTOMIZATION | {"resources": [BASE]}),
        f"{BASE}/namespace.yaml": dump(namespace()),
        f"{BASE}/crd.yaml": dump(api.crd()),
        f"{BASE}/rbac.yaml": dump(
            service_account(),
            cluster_role(),
            cluster_role_binding(),
            certificate_role(),
            certificate_role_binding(),
        ),
        f"{BASE}/deployment.yaml": dump(deployment(), pod_disruption_budget()),
        f"{BASE}/service.yaml": dump(webhook_service(), metrics_service()),
        f"{BASE}/webhook.yaml": dump(validating_webhook_configuration()),
        f"{BASE}/kustomization.yaml": dump(kustomization()),
        "cert-manager/cert-manager.yaml": dump(cert_manager_issuer(), cert_manager_certificate()),
        "cert-manager/kustomization.yaml": dump(cert_manager_kustomization()),
        "dev/kustomization.yaml": dump(dev_kustomization()),
        "samples/redis.yaml": dump(sample_redis(), note=SAMPLE_NOTE),
    }


def write_manifests(directory: Path) -> list[Path]:
    """Write `render_manifests()` under `directory`; returns the paths written."""
    return write_files(directory, render_manifests())


def write_files(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write generated files (relative path -> text) under `directory`; returns their paths."""
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
