"""The Redis operator against the real control plane: the contract of docs/redis-api.md.

Each test runs its own ``redis-operator run --namespace <test namespace>`` under the operator's
ServiceAccount identity, bound to exactly the RBAC in deploy/.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from redis_operator.children import SERVER_SCRIPT
from tests.e2e.operator import Start
from tests.e2e.redis_objects import (
    events,
    find,
    is_ready,
    ordinals,
    pods,
    redis,
    scale,
    scale_story,
    wait_event,
    wait_ready_pods,
    wait_status,
)
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e


def test_tutorial_manifest(kubectl: Kubectl, namespace: str, start_operator: Start) -> None:
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    current = wait_ready_pods(kubectl, namespace, ordinals(2))
    owner = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
    for name, pod in current.items():
        assert pod["metadata"]["labels"] == {
            "app": "my-op-redis",
            "app.kubernetes.io/name": "redis",
            "app.kubernetes.io/instance": "my-op-redis",
            "app.kubernetes.io/managed-by": "redis-operator",
        }, name
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref["uid"] == owner["metadata"]["uid"]
        assert ref["kind"] == "Redis" and ref["controller"] and ref["blockOwnerDeletion"]
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "redis"
        assert container["image"] == "redis:5-alpine"
        assert container["command"] == ["sh", "-c", SERVER_SCRIPT, "redis-server", "8333"]
        assert container["ports"][0]["containerPort"] == 8333
        assert container["ports"][0]["name"] == "redis"
        assert container["readinessProbe"]
    service = kubectl.json("get", "service", "my-op-redis", "-n", namespace)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["name"] == "redis"
    assert service["spec"]["selector"]["app.kubernetes.io/instance"] == "my-op-redis"

    obj = wait_status(kubectl, namespace, replicas=2, ready=2)
    status = obj["status"]
    selector = status["selector"]
    selected = kubectl.json("get", "pods", "-n", namespace, "-l", selector)["items"]
    assert {p["metadata"]["name"] for p in selected} == ordinals(2)
    (ready,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True"
    assert ready["observedGeneration"] == obj["metadata"]["generation"]
    assert re.match(r"^[A-Z][A-Za-z]+$", ready["reason"])

    table = kubectl("get", "redis", "-n", namespace).splitlines()
    header = ["NAME", "DESIRED", "CURRENT", "READY", "IMAGE", "PORT", "PRIMARY", "AGE"]
    assert table[0].split() == header
    # Standalone: the Primary column is empty, so the row goes from Port to Age.
    assert table[1].split()[:6] == ["my-op-redis", "2", "2", "2", "redis:5-alpine", "8333"]
    assert len(table[1].split()) == len(header) - 1


def test_scaling_events(kubectl: Kubectl, namespace: str, start_operator: Start) -> None:
    start_operator()
    scale_story(kubectl, namespace)
    up = wait_event(kubectl, namespace, "ScalingUp", "my-op-redis replicas set to 3", "(x2 over")
    assert up.type == "Normal" and up.source == "RedisOperator"
    rows = events(kubectl, namespace)
    down = find(rows, "ScalingDown", "my-op-redis replicas set to 1")
    assert down is not None and down.type == "Warning" and down.source == "RedisOperator"
    assert find(rows, "ScalingUp", "my-op-redis replicas set to 2") is not None
    assert find(rows, "SuccessfulCreate", "Created pod: my-op-redis-2") is not None
    assert find(rows, "SuccessfulDelete", "Deleted pod: my-op-redis-1") is not None
    assert find(rows, "SuccessfulCreate", "Created service: my-op-redis") is not None
    # Once per change: exactly one row per distinct event, none repeated as separate rows.
    keys = [(r.type, r.reason, r.message) for r in rows]
    assert len(keys) == len(set(keys)), rows


def test_scaling_events_in_chinese(kubectl: Kubectl, namespace: str, start_operator: Start) -> None:
    start_operator("--event-language=zh")
    scale_story(kubectl, namespace)
    up = wait_event(kubectl, namespace, "扩容", "my-op-redis 副本数设置为 3", "(x2 over")
    assert up.type == "Normal" and up.source == "RedisOperator"
    rows = events(kubectl, namespace)
    down = find(rows, "缩容", "my-op-redis 副本数设置为 1")
    assert down is not None and down.type == "Warning"
    assert find(rows, "扩容", "my-op-redis 副本数设置为 2") is not None


def test_kubectl_scale(kubectl: Kubectl, namespace: str, start_operator: Start) -> None:
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    scale(kubectl, namespace, 4)
    wait_ready_pods(kubectl, namespace, ordinals(4))
    wait_status(kubectl, namespace, 4, 4)


def test_pod_deleted_by_hand_is_recreated(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    before = wait_ready_pods(kubectl, namespace, ordinals(2))
    kubectl("delete", "pod", "my-op-redis-1", "-n", namespace)
    wait_for(
        lambda: (
            (p := pods(kubectl, namespace).get("my-op-redis-1")) is not None
            and p["metadata"]["uid"] != before["my-op-redis-1"]["metadata"]["uid"]
            and is_ready(p)
        ),
        "my-op-redis-1 to come back",
    )
    row = wait_event(
        kubectl, namespace, "PodRecreated", "Pod my-op-redis-1 was deleted; recreated it"
    )
    assert row.type == "Warning"


def test_image_change_replaces_pods_one_at_a_time(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()
    kubectl.apply(redis(replicas=3), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(3))
    kubectl.apply(redis(replicas=3, image="redis:7-alpine"), "-n", namespace)
    most_unavailable = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = pods(kubectl, namespace)
        available = [n for n, p in current.items() if is_ready(p)]
        most_unavailable = max(most_unavailable, 3 - len(available))
        images = {p["spec"]["containers"][0]["image"] for p in current.values()}
        if images == {"redis:7-alpine"} and len(available) == 3:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"pods were not all replaced: {pods(kubectl, namespace)}")
    assert most_unavailable <= 1


def test_foreign_pod_with_a_child_name_is_left_alone(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    kubectl("run", "my-op-redis-1", "--image=nginx", "--restart=Never", "-n", namespace)
    foreign_uid = kubectl.json("get", "pod", "my-op-redis-1", "-n", namespace)["metadata"]["uid"]
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    row = wait_for(
        lambda: next((r for r in events(kubectl, namespace) if r.reason == "NameConflict"), None),
        "a NameConflict event",
    )
    assert row.type == "Warning" and "my-op-redis-1" in row.message
    wait_for(
        lambda: is_ready(pods(kubectl, namespace).get("my-op-redis-0") or {"metadata": {}}),
        "my-op-redis-0",
    )
    foreign = kubectl.json("get", "pod", "my-op-redis-1", "-n", namespace)
    assert foreign["metadata"]["uid"] == foreign_uid
    assert "ownerReferences" not in foreign["metadata"]
    assert foreign["spec"]["containers"][0]["image"] == "nginx"


def test_deletion_is_the_garbage_collectors(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    start_operator()

    def deleting_events() -> list[dict[str, Any]]:
        selector = "--field-selector=reason=Deleting"
        items: list[dict[str, Any]] = kubectl.json("get", "events", "-n", namespace, selector)[
            "items"
        ]
        return items

    def children_gone() -> bool:
        service = kubectl.run("get", "service", "my-op-redis", "-n", namespace, check=False)
        return pods(kubectl, namespace) == {} and service.returncode != 0

    # kubectl's default, background: the Redis goes at once, the garbage collector deletes
    # its pods and Service after it; no Redis is left to tell anything about.
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    kubectl("delete", "redis", "my-op-redis", "-n", namespace, "--timeout=60s")
    wait_for(children_gone, "the garbage collector to delete the children", 30)
    assert deleting_events() == []

    # Foreground: the Redis stays, marked, until its children are gone, and says so once.
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    kubectl(
        "delete", "redis", "my-op-redis", "-n", namespace, "--cascade=foreground", "--timeout=60s"
    )
    assert children_gone()
    deleting = wait_for(deleting_events, "a Deleting Event")
    assert [e["message"] for e in deleting] == ["Deleting my-op-redis and its 2 pods"]
    assert deleting[0]["type"] == "Normal" and deleting[0]["count"] == 1


@pytest.mark.parametrize(
    ("spec", "field", "detail"),
    [
        ({"port": 333}, "spec.port", "greater than or equal to 1234"),
        ({"port": 5000}, "spec.port", "at least 6379"),
        ({"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
        ({"image": ""}, "spec.image", ""),
    ],
)
def test_invalid_objects_are_refused_by_the_apiserver(
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
    assert field in refused.stderr and detail in refused.stderr, refused.stderr


def test_port_rule_holds_on_update(
    kubectl: Kubectl, operator_kubeconfig: object, namespace: str
) -> None:
    kubectl.apply(redis(), "-n", namespace)
    refused = kubectl.run(
        "patch",
        "redis",
        "my-op-redis",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"port": 5000}}',
        check=False,
    )
    assert refused.returncode != 0
    assert "spec.port" in refused.stderr and "at least 6379" in refused.stderr


def test_name_too_long_for_pod_names_is_refused(
    kubectl: Kubectl, operator_kubeconfig: object, namespace: str
) -> None:
    refused = kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(redis(name="r" * 62, replicas=10)),
        check=False,
    )
    assert refused.returncode != 0
    assert "metadata.name" in refused.stderr, refused.stderr


def test_port_change_updates_the_service_and_replaces_pods(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    """Found by the fuzz test: a port change once made the Service patch invalid."""
    start_operator()
    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    kubectl.apply(redis(port=9000), "-n", namespace)

    def converged() -> bool:
        service = kubectl.json("get", "service", "my-op-redis", "-n", namespace)
        current = pods(kubectl, namespace)
        return (
            [p["port"] for p in service["spec"]["ports"]] == [9000]
            and set(current) == ordinals(2)
            and all(is_ready(p) for p in current.values())
            and all(p["spec"]["containers"][0]["command"][-1] == "9000" for p in current.values())
        )

    wait_for(converged, "the Service and pods on port 9000", 90)
    updated = wait_event(kubectl, namespace, "SuccessfulUpdate", "Updated service: my-op-redis")
    assert updated.type == "Normal"
    assert not [r for r in events(kubectl, namespace) if r.reason.startswith("Failed")]
