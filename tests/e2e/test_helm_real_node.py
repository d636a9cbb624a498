"""The chart installing the operator for real: its image on the real node, `helm install`,
`helm upgrade` and `helm uninstall`, the operator running under the chart's RBAC only.

A cluster of its own with the machine's one real node (the in-cluster tests' helpers); the
operator's pods are Ready by the kubelet's probes, issue their webhook certificate and keep the
caBundle, refuse a Redis through the webhook Service, and speak the upgraded Event language.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from redis_operator import api, manifests
from tests.e2e.helm import RELEASE, Helm
from tests.e2e.in_cluster import (
    Logs,
    kubectl_of,
    operator_image,
    real_cluster,
    redis_image,
    rolled_out,
)
from tests.e2e.operator import assert_log_clean
from tests.e2e.redis_objects import ordinals, redis, scale, wait_event, wait_ready_pods
from tests.e2e.webhook import wait_refusing
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

NAMESPACE = manifests.NAMESPACE
DISALLOWED = "evil.example/redis:7"


def _ca_bundle(kubectl: Kubectl) -> str:
    (hook,) = kubectl.json("get", "validatingwebhookconfiguration", "redis-operator")["webhooks"]
    bundle: str = hook["clientConfig"].get("caBundle", "")
    return bundle


def _exists(kubectl: Kubectl, obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    kind = f"{obj['kind']}.{group}" if group else obj["kind"]
    namespace = obj["metadata"].get("namespace")
    where = ["-n", namespace] if namespace else []
    out = kubectl("get", kind, obj["metadata"]["name"], *where, "--ignore-not-found", "-o", "name")
    return bool(out.strip())


def test_helm_installs_upgrades_and_uninstalls_the_running_operator(tmp_path: Path) -> None:
    with real_cluster(os.getpid()) as cluster:
        kubectl = kubectl_of(cluster)
        repository, _, tag = operator_image(cluster).rpartition(":")
        helm = Helm(tmp_path / "helm", cluster.kubeconfig)
        logs = Logs(cluster)
        values: dict[str, Any] = {
            "image": {"repository": repository, "tag": tag},
            "webhook": {"allowedImagePrefixes": ["localhost/"]},
        }

        # Install: both replicas Ready by their probes; the operator's own certificate in the
        # caBundle; a Redis from another registry refused through the webhook's Service.
        helm.run("install", *helm.chart_args(values), "-n", NAMESPACE, "--create-namespace")
        installed = [
            doc
            for doc in yaml.safe_load_all(
                helm.run("get", "manifest", RELEASE, "-n", NAMESPACE).stdout
            )
            if doc
        ]
        rolled_out(kubectl)
        wait_for(lambda: _ca_bundle(kubectl), "the operator to write the caBundle", 60)
        ns = f"t-{uuid.uuid4().hex[:10]}"
        kubectl.create_namespace(ns)
        wait_refusing(kubectl, ns, redis(image=DISALLOWED))
        refused = kubectl.run(
            "apply", "-n", ns, "-f", "-", stdin=json.dumps(redis(image=DISALLOWED)), check=False
        )
        assert 'admission webhook "validate.redis.myapp.tangx.in" denied' in refused.stderr
        assert f'spec.image: "{DISALLOWED}" is not from an allowed registry' in refused.stderr

        # Upgrade: Chinese Events, rolled out; the caBundle kept; the operator reconciles.
        bundle = _ca_bundle(kubectl)
        logs.read(kubectl)
        helm.run("upgrade", *helm.chart_args({**values, "eventLanguage": "zh"}), "-n", NAMESPACE)
        rolled_out(kubectl)
        assert _ca_bundle(kubectl) == bundle
        kubectl.apply(redis(replicas=1, image=redis_image(cluster)), "-n", ns)
        wait_ready_pods(kubectl, ns, ordinals(1))
        scale(kubectl, ns, 2)
        wait_event(kubectl, ns, "扩容", "my-op-redis 副本数设置为 2")
        for log in logs.read(kubectl).values():
            assert_log_clean(log)

        # Uninstall: the release's objects gone, the CRD and the Redis (with its pods) kept.
        helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout=120s")
        left = [o for o in installed if _exists(kubectl, o)]
        assert not left, [(o["kind"], o["metadata"]["name"]) for o in left]
        kubectl("get", "crd", api.CRD_NAME)
        assert kubectl.json("get", api.PLURAL, "-n", ns)["items"]
        wait_ready_pods(kubectl, ns, ordinals(2))
