"""The Redis' resources, nodeSelector and tolerations against the real control plane.

The apiserver refuses bad values on its own (the CRD's schema and CEL rules), the pods get what
the spec says, and a change replaces them one at a time. The session's cluster has two kwok
nodes and no taint; the toleration of kwok's taint beside a real node is in test_real_node.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.operator import Start
from tests.e2e.redis_objects import (
    events,
    is_ready,
    ordinals,
    pods,
    redis,
    wait_ready_pods,
)
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

RESOURCES = {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}
#: RESOURCES as the apiserver stores them in a pod: quantities canonical.
STORED = {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["spec"]["containers"]
    return container


def _ready_condition(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    """The Ready condition once the status is of the current generation and all pods Ready."""

    def check() -> dict[str, Any] | None:
        obj = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
        status = obj.get("status", {})
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return ready if current and ready and ready["status"] == "True" else None

    condition: dict[str, Any] = wait_for(check, "the Redis Ready for its generation", 90)
    return condition


def test_the_pods_get_the_resources_of_the_spec(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    kubectl.apply(redis(resources=RESOURCES), "-n", namespace)
    for pod in wait_ready_pods(kubectl, namespace, ordinals(2)).values():
        assert _container(pod)["resources"] == STORED
        assert pod["status"]["qosClass"] == "Burstable"


def test_absent_resources_are_the_defaults_written_into_the_object(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    defaults = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    obj = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
    assert obj["spec"]["resources"] == defaults
    for pod in wait_ready_pods(kubectl, namespace, ordinals(2)).values():
        assert _container(pod)["resources"] == defaults


@pytest.mark.parametrize(
    ("spec", "field", "detail"),
    [
        (
            {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "256Mi"}}},
            "spec.resources.requests",
            "every request must be at most its limit",
        ),
        ({"resources": {"requests": {"cpu": "lots"}}}, "spec.resources.requests.cpu", "match"),
        (
            {"resources": {"limits": {"memory": "-1Gi"}}},
            "spec.resources.limits[memory]",
            "must not be negative",
        ),
        (
            {"resources": {"requests": {"storage": "1Gi"}}},
            "spec.resources.requests",
            "resource names are cpu, memory",
        ),
        (
            {"resources": {"requests": {"kubernetes.io/foo": 1}}},
            "spec.resources.requests",
            "resource names are cpu, memory",
        ),
        (
            {"resources": {"requests": {"example.com/gpu": 1}, "limits": {"example.com/gpu": 2}}},
            "spec.resources.requests",
            "needs a limit equal to it",
        ),
        (
            {"resources": {"requests": {"cpu": "1", "hugepages-2Mi": "2Mi"}}},
            "spec.resources.requests",
            "needs a limit equal to it",
        ),
        (
            {"nodeSelector": {"type": "not a label"}},
            "spec.nodeSelector[type]",
            "must be a label value",
        ),
        ({"nodeSelector": {"no/such/key": "x"}}, "spec.nodeSelector", "must be a label key"),
        (
            {"tolerations": [{"key": "k", "operator": "Bogus"}]},
            "spec.tolerations[0].operator",
            'Unsupported value: "Bogus"',
        ),
        (
            {"tolerations": [{"key": "k", "effect": "NoWay"}]},
            "spec.tolerations[0].effect",
            'Unsupported value: "NoWay"',
        ),
        (
            {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
            "spec.tolerations[0].value",
            "value must be empty when operator is Exists",
        ),
        (
            {"tolerations": [{"value": "v"}]},
            "spec.tolerations[0].operator",
            "operator must be Exists when key is empty",
        ),
        (
            {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 60}]},
            "spec.tolerations[0].tolerationSeconds",
            "tolerationSeconds needs effect NoExecute",
        ),
    ],
)
def test_bad_values_are_refused_by_the_apiserver_naming_the_field(
    kubectl: Kubectl,
    operator_kubeconfig: object,
    namespace: str,
    spec: dict[str, Any],
    field: str,
    detail: str,
) -> None:
    # No operator runs here: the rules hold in the apiserver on their own.
    refused = kubectl.run(
        "apply", "-n", namespace, "-f", "-", stdin=json.dumps(redis(**spec)), check=False
    )
    assert refused.returncode != 0
    assert f"{field}: " in refused.stderr and detail in refused.stderr, refused.stderr


def test_requests_above_limits_are_refused_on_update_too(
    kubectl: Kubectl, operator_kubeconfig: object, namespace: str
) -> None:
    kubectl.apply(redis(resources=RESOURCES), "-n", namespace)
    patch = {"spec": {"resources": {"requests": {"cpu": "1500m"}}}}
    refused = kubectl.run(
        "patch",
        "redis",
        "my-op-redis",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(patch),
        check=False,
    )
    assert refused.returncode != 0
    assert "spec.resources.requests: " in refused.stderr, refused.stderr
    obj = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
    assert obj["spec"]["resources"] == RESOURCES


def test_a_resources_change_replaces_the_pods_one_at_a_time(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    kubectl.apply(redis(replicas=3), "-n", namespace)
    before = wait_ready_pods(kubectl, namespace, ordinals(3))
    kubectl.apply(redis(replicas=3, resources=RESOURCES), "-n", namespace)
    most_unavailable = 0

    def replaced() -> bool:
        nonlocal most_unavailable
        current = pods(kubectl, namespace)
        available = [n for n, p in current.items() if is_ready(p)]
        most_unavailable = max(most_unavailable, 3 - len(available))
        return len(available) == 3 and all(
            _container(p)["resources"] == STORED for p in current.values()
        )

    wait_for(replaced, "every pod replaced with the new resources", 120, interval=0.05)
    assert most_unavailable <= 1
    after = pods(kubectl, namespace)
    assert not {p["metadata"]["uid"] for p in before.values()} & {
        p["metadata"]["uid"] for p in after.values()
    }
    told = [r.message for r in events(kubectl, namespace) if r.reason == "PodReplaced"]
    assert told == [
        f"Replacing pod my-op-redis-{o}: its image, port, password, resources or placement do "
        "not match the spec"
        for o in (2, 1, 0)
    ]


def test_the_node_selector_places_the_pods_and_a_change_moves_them(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    on_node_1 = {"kubernetes.io/hostname": "kwok-node-1"}
    kubectl.apply(redis(replicas=3, nodeSelector=on_node_1), "-n", namespace)
    placed = wait_ready_pods(kubectl, namespace, ordinals(3))
    assert {p["spec"]["nodeName"] for p in placed.values()} == {"kwok-node-1"}
    assert all(p["spec"]["nodeSelector"] == on_node_1 for p in placed.values())
    on_node_0 = {"kubernetes.io/hostname": "kwok-node-0"}
    kubectl.apply(redis(replicas=3, nodeSelector=on_node_0), "-n", namespace)

    def moved() -> bool:
        current = pods(kubectl, namespace)
        return len(current) == 3 and all(
            is_ready(p) and p["spec"]["nodeName"] == "kwok-node-0" for p in current.values()
        )

    wait_for(moved, "every pod moved to kwok-node-0", 120)


def test_what_admission_adds_to_the_pods_is_no_drift(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    """DefaultTolerationSeconds adds tolerations, a LimitRange adds a CPU limit the spec lacks:
    the operator counts the pods as up to date (Ready is AllReplicasReady, not Updating) and
    replaces none."""
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "cpu-limit"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]},
        },
        "-n",
        namespace,
    )
    start_operator()
    tolerations = [{"key": "dedicated", "operator": "Equal", "value": "redis"}]
    kubectl.apply(redis(tolerations=tolerations), "-n", namespace)
    current = wait_ready_pods(kubectl, namespace, ordinals(2))
    ready = _ready_condition(kubectl, namespace)
    assert ready["reason"] == "AllReplicasReady"
    for pod in current.values():
        keys = {t["key"] for t in pod["spec"]["tolerations"]}
        assert keys == {
            "dedicated",
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        }
        assert _container(pod)["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert set(pods(kubectl, namespace)) == ordinals(2)
    assert {p["metadata"]["uid"] for p in pods(kubectl, namespace).values()} == {
        p["metadata"]["uid"] for p in current.values()
    }
    assert not [r for r in events(kubectl, namespace) if r.reason == "PodReplaced"]
