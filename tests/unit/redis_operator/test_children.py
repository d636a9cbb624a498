"""The desired children of a Redis and the predicates planning uses on live ones."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from redis_operator import children
from redis_operator.api import Auth, Redis, RedisSpec
from redis_operator.children import (
    SETTINGS_ANNOTATION,
    desired_pod,
    desired_service,
    is_being_deleted,
    is_finished,
    is_owned_by,
    is_ready,
    labels,
    ordinal_of,
    pod_matches_spec,
    pod_name,
    pod_settings,
    selector_labels,
    selector_string,
    service_patch,
)

REDIS_OBJECT: dict[str, Any] = {
    "apiVersion": "myapp.tangx.in/v1",
    "kind": "Redis",
    "metadata": {"name": "my-op-redis", "namespace": "ns", "uid": "u-1", "generation": 1},
    "spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333},
}
REDIS = Redis.from_object(REDIS_OBJECT)
OWNER = {
    "apiVersion": "myapp.tangx.in/v1",
    "kind": "Redis",
    "name": "my-op-redis",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


def test_pod_name_and_ordinal_round_trip() -> None:
    assert pod_name("my-op-redis", 0) == "my-op-redis-0"
    for ordinal in (0, 1, 9, 10, 99):
        assert ordinal_of(pod_name("r", ordinal), "r") == ordinal


@pytest.mark.parametrize(
    "name",
    ["r", "r-", "r-01", "r-1-0", "r-x", "r--1", "r-+1", "r-１", "q-1", "rr-1", "r-1 ", "r- 1"],
)
def test_ordinal_of_rejects_names_that_are_not_children(name: str) -> None:
    assert ordinal_of(name, "r") is None


def test_labels_and_selector() -> None:
    assert labels("my-op-redis") == {
        "app": "my-op-redis",
        "app.kubernetes.io/name": "redis",
        "app.kubernetes.io/instance": "my-op-redis",
        "app.kubernetes.io/managed-by": "redis-operator",
    }
    assert selector_labels("my-op-redis").items() <= labels("my-op-redis").items()
    assert selector_string("my-op-redis") == (
        "app.kubernetes.io/instance=my-op-redis,"
        "app.kubernetes.io/managed-by=redis-operator,"
        "app.kubernetes.io/name=redis"
    )


def test_desired_pod() -> None:
    pod = desired_pod(REDIS, 1)
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert pod["metadata"] == {
        "name": "my-op-redis-1",
        "namespace": "ns",
        "labels": labels("my-op-redis"),
        "ownerReferences": [OWNER],
        "annotations": {SETTINGS_ANNOTATION: pod_settings(REDIS.spec)},
    }
    assert pod["spec"]["hostname"] == "my-op-redis-1"
    assert pod["spec"]["subdomain"] == "my-op-redis"
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "redis"
    assert container["image"] == "redis:5-alpine"
    assert container["command"] == ["sh", "-c", children.SERVER_SCRIPT, "redis-server", "8333"]
    assert container["ports"] == [{"name": "redis", "containerPort": 8333, "protocol": "TCP"}]
    assert container["readinessProbe"]["exec"] == {
        "command": ["sh", "-c", children.PROBE_SCRIPT, "probe", "8333"]
    }
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]


KWOK_PLACEMENT: dict[str, Any] = {
    "resources": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    "nodeSelector": {"type": "kwok"},
    "tolerations": [
        {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "redis", "effect": "NoExecute", "tolerationSeconds": 30},
    ],
}


def _with_spec(**spec: Any) -> Redis:
    obj = copy.deepcopy(REDIS_OBJECT)
    obj["spec"] |= spec
    return Redis.from_object(obj)


def test_desired_pod_carries_the_resources_and_placement_of_the_spec() -> None:
    pod = desired_pod(_with_spec(**KWOK_PLACEMENT), 0)
    (container,) = pod["spec"]["containers"]
    assert container["resources"] == KWOK_PLACEMENT["resources"]
    assert pod["spec"]["nodeSelector"] == {"type": "kwok"}
    assert pod["spec"]["tolerations"] == KWOK_PLACEMENT["tolerations"]
    settings = json.loads(pod["metadata"]["annotations"][SETTINGS_ANNOTATION])
    assert settings == KWOK_PLACEMENT


def test_empty_resources_ask_for_nothing() -> None:
    (container,) = desired_pod(_with_spec(resources={}), 0)["spec"]["containers"]
    assert container["resources"] == {}


def test_pod_settings_are_canonical_and_follow_the_text_of_the_spec() -> None:
    reordered = dict(reversed(list(KWOK_PLACEMENT.items())))
    assert pod_settings(_with_spec(**KWOK_PLACEMENT).spec) == (
        pod_settings(_with_spec(**reordered).spec)
    )
    assert " " not in pod_settings(_with_spec(**KWOK_PLACEMENT).spec)
    half = _with_spec(resources={"requests": {"cpu": "0.5"}}).spec
    milli = _with_spec(resources={"requests": {"cpu": "500m"}}).spec
    assert pod_settings(half) != pod_settings(milli)


def _admitted(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod as the apiserver stores it: admission plugins add tolerations (DefaultToleration-
    Seconds) and requests and limits (LimitRanger), and quantities are canonical."""
    stored = copy.deepcopy(pod)
    spec = stored["spec"]
    spec["tolerations"] = [
        *spec.get("tolerations", []),
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    spec["containers"][0]["resources"] = {
        "requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    spec["nodeName"] = "kwok-node-0"
    return stored


def test_a_pod_changed_by_admission_still_matches_its_spec() -> None:
    redis = _with_spec(**KWOK_PLACEMENT)
    assert pod_matches_spec(_admitted(desired_pod(redis, 0)), redis)


@pytest.mark.parametrize(
    "change",
    [
        {"resources": {"requests": {"cpu": 2, "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
        {"resources": {}},
        {"nodeSelector": {"type": "real"}},
        {"nodeSelector": {}},
        {"tolerations": KWOK_PLACEMENT["tolerations"][:1]},
        {"tolerations": list(reversed(KWOK_PLACEMENT["tolerations"]))},
    ],
)
def test_a_change_of_resources_or_placement_makes_the_pod_stale(change: dict[str, Any]) -> None:
    pod = _admitted(desired_pod(_with_spec(**KWOK_PLACEMENT), 0))
    assert not pod_matches_spec(pod, _with_spec(**KWOK_PLACEMENT | change))


def test_a_pod_without_the_settings_annotation_is_stale() -> None:
    pod = desired_pod(REDIS, 0)
    del pod["metadata"]["annotations"]
    assert not pod_matches_spec(pod, REDIS)


def test_desired_pod_uses_defaults_for_a_missing_spec() -> None:
    redis = copy.deepcopy(REDIS_OBJECT)
    del redis["spec"]
    (container,) = desired_pod(Redis.from_object(redis), 0)["spec"]["containers"]
    assert container["image"] == "redis:7-alpine"
    assert container["command"][-1] == "6379"


def test_without_auth_the_pod_runs_redis_as_the_tutorial_did() -> None:
    redis = copy.deepcopy(REDIS_OBJECT)
    redis["spec"]["auth"] = {"disabled": True}
    pod = desired_pod(Redis.from_object(redis), 0)
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["redis-server", "--port", "8333", "--protected-mode", "no"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "redis"}
    assert "volumes" not in pod["spec"] and "volumeMounts" not in container


def test_the_generated_secret_is_mounted_read_only_and_nowhere_in_clear() -> None:
    pod = desired_pod(REDIS, 0)
    (container,) = pod["spec"]["containers"]
    auth, config = pod["spec"]["volumes"]
    assert auth == {
        "name": "auth",
        "secret": {
            "secretName": "my-op-redis-auth",
            "items": [{"key": "password", "path": "password"}],
            "defaultMode": 0o400,
        },
    }
    assert config["emptyDir"]["medium"] == "Memory"
    assert {"name": "auth", "mountPath": "/etc/redis-auth", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert "env" not in container


def test_a_user_secret_is_mounted_by_name_and_key() -> None:
    redis = copy.deepcopy(REDIS_OBJECT)
    redis["spec"]["auth"] = {"secretRef": {"name": "mine", "key": "pw"}}
    pod = desired_pod(Redis.from_object(redis), 0)
    assert pod["spec"]["volumes"][0]["secret"]["secretName"] == "mine"
    assert pod["spec"]["volumes"][0]["secret"]["items"] == [{"key": "pw", "path": "password"}]


def test_a_change_of_auth_is_drift() -> None:
    pod = desired_pod(REDIS, 0)
    disabled = _with(dataclasses.replace(REDIS.spec, auth=Auth(disabled=True)))
    mine = _with(dataclasses.replace(REDIS.spec, auth=Auth(secret_name="mine")))
    assert pod_matches_spec(pod, REDIS)
    assert not pod_matches_spec(pod, disabled)
    assert not pod_matches_spec(pod, mine)
    assert pod_matches_spec(desired_pod(mine, 0), mine)
    assert pod_matches_spec(desired_pod(disabled, 0), disabled)


def test_desired_service_is_headless_and_selects_the_pods() -> None:
    service = desired_service(REDIS)
    assert service["metadata"]["name"] == "my-op-redis"
    assert service["metadata"]["ownerReferences"] == [OWNER]
    assert service["spec"]["clusterIP"] == "None"
    selector = service["spec"]["selector"]
    assert selector.items() <= desired_pod(REDIS, 0)["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [
        {"name": "redis", "port": 8333, "targetPort": "redis", "protocol": "TCP"}
    ]


def test_service_patch() -> None:
    service = desired_service(REDIS)
    assert service_patch(service, REDIS) is None
    moved = copy.deepcopy(REDIS_OBJECT)
    moved["spec"]["port"] = 7000
    assert service_patch(service, Redis.from_object(moved)) == {
        "spec": {
            "ports": [{"name": "redis", "port": 7000, "targetPort": "redis", "protocol": "TCP"}]
        }
    }
    edited = copy.deepcopy(service)
    edited["spec"]["selector"]["extra"] = "x"
    patch = service_patch(edited, REDIS)
    assert patch == {"spec": {"selector": {"extra": None, **selector_labels("my-op-redis")}}}


def test_is_owned_by_needs_a_controller_reference_with_the_uid() -> None:
    pod = desired_pod(REDIS, 0)
    assert is_owned_by(pod, REDIS.uid)
    assert not is_owned_by(pod, "u-2")
    not_controller = copy.deepcopy(pod)
    not_controller["metadata"]["ownerReferences"][0]["controller"] = False
    assert not is_owned_by(not_controller, REDIS.uid)
    assert not is_owned_by({"metadata": {"name": "my-op-redis-0"}}, REDIS.uid)


def test_readiness_termination_and_phases() -> None:
    pod = desired_pod(REDIS, 0)
    assert not is_ready(pod)
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert is_ready(pod) and not is_being_deleted(pod) and not is_finished(pod)
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert is_being_deleted(pod) and not is_ready(pod)
    assert is_finished({"status": {"phase": "Failed"}})
    assert is_finished({"status": {"phase": "Succeeded"}})


def _with(spec: RedisSpec) -> Redis:
    return dataclasses.replace(REDIS, spec=spec)


def test_pod_matches_spec() -> None:
    spec = _with(RedisSpec(replicas=2, port=8333, image="redis:5-alpine"))
    pod = desired_pod(REDIS, 0)
    assert pod_matches_spec(pod, spec)
    assert not pod_matches_spec(pod, _with(RedisSpec(replicas=2, port=8333, image="redis:6")))
    assert not pod_matches_spec(
        pod, _with(RedisSpec(replicas=2, port=8334, image="redis:5-alpine"))
    )
    # The tutorial's pods: a container named after the Redis, no command.
    tutorial = copy.deepcopy(pod)
    tutorial["spec"]["containers"][0]["name"] = "my-op-redis"
    assert not pod_matches_spec(tutorial, spec)
    no_command = copy.deepcopy(pod)
    del no_command["spec"]["containers"][0]["command"]
    assert not pod_matches_spec(no_command, spec)


def test_redis_name_of_reads_only_canonical_child_names() -> None:
    assert children.redis_name_of("cache-0") == "cache"
    assert children.redis_name_of("my-op-redis-12") == "my-op-redis"
    assert children.redis_name_of("cache-01") is None
    assert children.redis_name_of("cache") is None
    assert children.redis_name_of("-0") is None


def test_the_controller_is_recognised_by_group_and_kind_in_any_version() -> None:
    def pod(**ref: object) -> dict[str, object]:
        return {"metadata": {"name": "cache-0", "ownerReferences": [ref]}}

    ours = {"controller": True, "kind": "Redis", "name": "cache", "uid": "u"}
    assert children.controller_name(pod(apiVersion="myapp.tangx.in/v1", **ours)) == "cache"
    assert children.controller_name(pod(apiVersion="myapp.tangx.in/v2", **ours)) == "cache"
    assert children.controller_name(pod(apiVersion="other.io/v1", **ours)) is None
    assert (
        children.controller_name(pod(apiVersion="myapp.tangx.in/v1", **ours | {"kind": "X"}))
        is None
    )
    not_controller = ours | {"controller": False}
    assert children.controller_name(pod(apiVersion="myapp.tangx.in/v1", **not_controller)) is None
