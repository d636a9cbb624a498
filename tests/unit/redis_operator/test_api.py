"""The Redis API: the typed view and the CRD (structure, defaults, rules, printer columns)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from redis_operator import api
from redis_operator.api import Auth, Mode, Redis, RedisSpec, crd


def _version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd()["spec"]["versions"]
    (version,) = versions
    return version


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = _version()["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def test_names() -> None:
    definition = crd()
    assert definition["apiVersion"] == "apiextensions.k8s.io/v1"
    assert definition["kind"] == "CustomResourceDefinition"
    assert definition["metadata"]["name"] == "redis.myapp.tangx.in"
    spec = definition["spec"]
    assert spec["group"] == "myapp.tangx.in"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "Redis",
        "listKind": "RedisList",
        "plural": "redis",
        "singular": "redis",
    }
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)


def test_subresources() -> None:
    assert _version()["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns() -> None:
    columns = [
        (c["name"], c["type"], c["jsonPath"]) for c in _version()["additionalPrinterColumns"]
    ]
    assert columns == [
        ("Desired", "integer", ".spec.replicas"),
        ("Current", "integer", ".status.replicas"),
        ("Ready", "integer", ".status.readyReplicas"),
        ("Image", "string", ".spec.image"),
        ("Port", "integer", ".spec.port"),
        ("Primary", "string", ".status.primary"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_spec_schema_defaults_and_bounds() -> None:
    spec = _schema()["properties"]["spec"]
    assert spec["default"] == {}
    replicas, port, image = (spec["properties"][k] for k in ("replicas", "port", "image"))
    assert (replicas["type"], replicas["default"], replicas["minimum"]) == ("integer", 1, 0)
    assert replicas["maximum"] == api.MAX_REPLICAS
    assert (port["type"], port["format"], port["default"]) == ("integer", "int32", 6379)
    assert (port["minimum"], port["maximum"]) == (1234, 54321)
    assert port["x-kubernetes-validations"] == [
        {"rule": "self >= 6379", "message": "port must be at least 6379 (Redis' default port)"}
    ]
    assert (image["type"], image["default"], image["minLength"]) == ("string", "redis:7-alpine", 1)
    assert image["x-kubernetes-validations"] == [
        {"rule": f"self.matches(r'{api.IMAGE_PATTERN}')", "message": api.IMAGE_MESSAGE}
    ]


def test_defaults_satisfy_the_schema() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    assert re.fullmatch(api.IMAGE_PATTERN, spec["image"]["default"])
    assert spec["port"]["default"] >= api.PORT_MINIMUM


def test_status_schema_is_strict() -> None:
    assert not [key for key, _ in _walk(crd()) if key == "x-kubernetes-preserve-unknown-fields"]
    status = _schema()["properties"]["status"]["properties"]
    assert set(status) == {
        "replicas",
        "readyReplicas",
        "selector",
        "observedGeneration",
        "targetReplicas",
        "conditions",
        "primary",
        "lastFailoverTime",
        "primaryLostSince",
        "replication",
    }
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) == {"type", "status", "lastTransitionTime", "reason", "message"}
    assert set(item["properties"]) == set(item["required"]) | {"observedGeneration"}
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_every_object_in_the_schema_is_structural() -> None:
    def check(node: dict[str, Any], path: str) -> None:
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "type" in node, path
        for name, child in (node.get("properties") or {}).items():
            check(child, f"{path}.{name}")
        if "items" in node:
            check(node["items"], f"{path}[]")
        if "additionalProperties" in node:
            check(node["additionalProperties"], f"{path}[*]")

    check(_schema(), "")


def _spec_property(name: str) -> dict[str, Any]:
    node: dict[str, Any] = _schema()["properties"]["spec"]["properties"][name]
    return node


def _rules(node: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


def test_resources_schema() -> None:
    resources = _spec_property("resources")
    assert resources["default"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert resources["x-kubernetes-validations"] == [
        {"rule": api.REQUESTS_RULE, "message": api.REQUESTS_MESSAGE, "fieldPath": ".requests"},
        {
            "rule": api.NOT_OVERCOMMITTED_RULE,
            "message": api.NOT_OVERCOMMITTED_MESSAGE,
            "fieldPath": ".requests",
        },
    ]
    assert set(resources["properties"]) == {"requests", "limits"}
    for part in resources["properties"].values():
        assert part["maxProperties"] == api.RESOURCE_NAMES_MAX
        assert _rules(part) == [api.RESOURCE_NAME_RULE]
        quantity = part["additionalProperties"]
        assert quantity["x-kubernetes-int-or-string"] is True
        assert quantity["pattern"] == api.QUANTITY_PATTERN
        assert _rules(quantity) == [api.QUANTITY_SIGN_RULE]


@pytest.mark.parametrize("quantity", ["1", "500m", "0.5", ".5", "1Gi", "64Mi", "1e3", "+2", "-1"])
def test_quantity_pattern_accepts_quantities(quantity: str) -> None:
    assert re.fullmatch(api.QUANTITY_PATTERN, quantity)


@pytest.mark.parametrize("quantity", ["", "abc", "1 Gi", "1GB", "1gi", "Mi", "1.2.3", "0x10"])
def test_quantity_pattern_rejects_non_quantities(quantity: str) -> None:
    assert not re.fullmatch(api.QUANTITY_PATTERN, quantity)


def test_requests_rule_compares_every_request_with_its_limit() -> None:
    # The rule's semantics are the apiserver's (tests/e2e/test_pod_settings.py); here, that it
    # looks at each request that has a limit, by quantity rather than by text.
    assert "self.requests.all(k" in api.REQUESTS_RULE
    assert "k in self.limits" in api.REQUESTS_RULE
    assert "quantity(string(self.requests[k])).isGreaterThan(" in api.REQUESTS_RULE


def test_node_selector_schema() -> None:
    selector = _spec_property("nodeSelector")
    assert selector["type"] == "object" and selector["maxProperties"] == api.NODE_SELECTOR_MAX
    assert _rules(selector) == [api.NODE_SELECTOR_KEYS_RULE]
    value = selector["additionalProperties"]
    assert (value["type"], value["maxLength"]) == ("string", 63)
    assert _rules(value) == [api.LABEL_VALUE_RULE]


def test_tolerations_schema() -> None:
    tolerations = _spec_property("tolerations")
    assert tolerations["type"] == "array" and tolerations["maxItems"] == api.TOLERATIONS_MAX
    assert tolerations["x-kubernetes-list-type"] == "atomic"
    item = tolerations["items"]
    properties = item["properties"]
    assert set(properties) == {"key", "operator", "value", "effect", "tolerationSeconds"}
    assert properties["operator"]["enum"] == ["Exists", "Equal"]
    assert properties["effect"]["enum"] == ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    assert properties["tolerationSeconds"] == {"type": "integer", "format": "int64"}
    assert _rules(properties["key"]) == [api.TOLERATION_KEY_RULE]
    assert _rules(properties["value"]) == [api.LABEL_VALUE_RULE]
    paths = {r["rule"]: r["fieldPath"] for r in item["x-kubernetes-validations"]}
    assert paths == {
        api.TOLERATION_EMPTY_KEY_RULE: ".operator",
        api.TOLERATION_EXISTS_RULE: ".value",
        api.TOLERATION_SECONDS_RULE: ".tolerationSeconds",
    }


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("type", True),
        ("kubernetes.io/hostname", True),
        ("kwok.x-k8s.io/node", True),
        ("a_b.c-d", True),
        ("x" * 63, True),
        ("x" * 64, False),
        ("", False),
        ("-a", False),
        ("a/", False),
        ("Example.com/a", False),
        ("a b", False),
    ],
)
def test_label_key_pattern(key: str, valid: bool) -> None:
    assert bool(re.fullmatch(api.LABEL_KEY_PATTERN, key)) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("kwok", True),
        ("A.b-c_d", True),
        ("x" * 63, True),
        ("-x", False),
        ("a b", False),
    ],
)
def test_label_value_pattern(value: str, valid: bool) -> None:
    assert bool(re.fullmatch(api.LABEL_VALUE_PATTERN, value)) is valid


def test_the_default_resources_satisfy_the_schema() -> None:
    for amounts in api.DEFAULT_RESOURCES.to_object().values():
        for name, amount in amounts.items():
            assert name in ("cpu", "memory")
            assert re.fullmatch(api.QUANTITY_PATTERN, str(amount))


def test_root_rules_on_the_name() -> None:
    rules = _schema()["x-kubernetes-validations"]
    assert [r["rule"] for r in rules] == [api.NAME_LABEL_RULE, api.NAME_LENGTH_RULE]
    for rule in rules:
        assert rule["fieldPath"] == ".metadata.name"
        assert rule["reason"] == "FieldValueInvalid"
        assert rule["message"]
    # The CEL cost estimate of the rules needs a bounded name.
    assert _schema()["properties"]["metadata"]["properties"]["name"]["maxLength"] == 63


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("my-op-redis", True),
        ("r", True),
        ("a" * 63, True),
        ("1redis", False),  # a Service name must start with a letter
        ("redis-", False),
        ("my.redis", False),  # a DNS subdomain, but not a label
        ("Redis", False),
    ],
)
def test_name_label_pattern(name: str, valid: bool) -> None:
    assert bool(re.fullmatch(api.DNS1035_LABEL_PATTERN, name)) is valid


@pytest.mark.parametrize(
    "image",
    [
        "redis",
        "redis:5-alpine",
        "redis:7-alpine",
        "library/redis:7.2",
        "docker.io/library/redis:7",
        "registry.example.com:5000/team/redis:v1.2.3",
        "localhost/redis",
        "[::1]:5000/redis:x",
        "ghcr.io/org/sub/redis@sha256:" + "a" * 64,
        "redis:7-alpine@sha256:" + "0123456789abcdef" * 4,
        "my_registry/re__dis",
    ],
)
def test_image_pattern_accepts_references(image: str) -> None:
    assert re.fullmatch(api.IMAGE_PATTERN, image)


@pytest.mark.parametrize(
    "image",
    [
        "",
        " redis",
        "redis ",
        "Redis",
        "redis:",
        "redis:-x",
        "redis@sha256:abc",
        "a//b",
        "redis:7 alpine",
    ],
)
def test_image_pattern_rejects_non_references(image: str) -> None:
    assert not re.fullmatch(api.IMAGE_PATTERN, image)


def test_redis_spec_defaults_and_types() -> None:
    assert RedisSpec.from_object({}) == RedisSpec(replicas=1, port=6379, image="redis:7-alpine")
    assert RedisSpec.from_object(
        {"spec": {"replicas": 2, "image": "redis:5-alpine", "port": 8333}}
    ) == (RedisSpec(replicas=2, port=8333, image="redis:5-alpine"))
    for bad in ({"replicas": "2"}, {"port": True}, {"image": 5}):
        with pytest.raises(ValueError, match="spec"):
            RedisSpec.from_object({"spec": bad})


def test_redis_spec_resources_and_placement() -> None:
    spec = RedisSpec.from_object(
        {
            "spec": {
                "resources": {"requests": {"cpu": 1}, "limits": {"memory": "1Gi"}},
                "nodeSelector": {"type": "kwok"},
                "tolerations": [
                    {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 0},
                ],
            }
        }
    )
    assert spec.resources == api.Resources(requests={"cpu": 1}, limits={"memory": "1Gi"})
    assert spec.resources.to_object() == {"requests": {"cpu": 1}, "limits": {"memory": "1Gi"}}
    assert spec.node_selector == {"type": "kwok"}
    assert spec.tolerations == (
        api.Toleration(key="kwok.x-k8s.io/node", operator="Exists", effect="NoSchedule"),
        api.Toleration(key="k", value="v", effect="NoExecute", toleration_seconds=0),
    )
    assert [t.to_object() for t in spec.tolerations] == [
        {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 0},
    ]
    hash(spec)  # a Redis is hashable, its spec with it


def test_absent_resources_are_the_defaults_and_empty_ones_ask_for_nothing() -> None:
    assert RedisSpec.from_object({"spec": {}}).resources == api.DEFAULT_RESOURCES
    assert RedisSpec.from_object({"spec": {"resources": None}}).resources == api.DEFAULT_RESOURCES
    assert RedisSpec.from_object({"spec": {"resources": {}}}).resources.to_object() == {}
    assert RedisSpec().node_selector == {} and RedisSpec().tolerations == ()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"resources": []}, "spec.resources"),
        ({"resources": {"requests": "1"}}, "spec.resources.requests"),
        ({"resources": {"limits": {"cpu": 0.5}}}, "spec.resources.limits.cpu"),
        ({"resources": {"limits": {"cpu": True}}}, "spec.resources.limits.cpu"),
        ({"nodeSelector": ["type"]}, "spec.nodeSelector"),
        ({"nodeSelector": {"type": 1}}, "spec.nodeSelector.type"),
        ({"tolerations": {"key": "k"}}, "spec.tolerations"),
        ({"tolerations": "k"}, "spec.tolerations"),
        ({"tolerations": ["k"]}, r"spec.tolerations\[0\]"),
        ({"tolerations": [{}, {"key": 1}]}, r"spec.tolerations\[1\].key"),
        ({"tolerations": [{"tolerationSeconds": "5"}]}, r"spec.tolerations\[0\].tolerationSeconds"),
    ],
)
def test_a_malformed_field_is_an_error_naming_it(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        RedisSpec.from_object({"spec": spec})


def test_redis_view() -> None:
    redis = Redis.from_object(
        {
            "metadata": {
                "name": "r",
                "namespace": "ns",
                "uid": "u",
                "generation": 3,
                "deletionTimestamp": "2024-01-01T00:00:00Z",
            }
        }
    )
    assert (redis.name, redis.namespace, redis.uid, redis.generation) == ("r", "ns", "u", 3)
    assert redis.deleting and redis.spec == RedisSpec()
    assert redis.status == {}


def test_redis_view_holds_a_read_only_copy_of_the_status() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "r"}, "status": {"conditions": [{"type": "X"}]}}
    redis = Redis.from_object(obj)
    obj["status"]["conditions"].append({"type": "Y"})
    assert redis.status == {"conditions": [{"type": "X"}]}
    with pytest.raises(TypeError):
        redis.status["replicas"] = 1  # type: ignore[index]
    assert hash(redis) == hash(Redis.from_object({"metadata": {"name": "r"}}))  # not in the hash


def test_auth_defaults_to_a_generated_secret() -> None:
    assert RedisSpec.from_object({}).auth == Auth()
    assert Auth() == Auth(disabled=False, secret_name=None, key="password")


@pytest.mark.parametrize(
    ("auth", "want"),
    [
        ({}, Auth()),
        ({"disabled": True}, Auth(disabled=True)),
        ({"disabled": False}, Auth()),
        ({"secretRef": {"name": "mine"}}, Auth(secret_name="mine")),
        ({"secretRef": {"name": "mine", "key": "pw"}}, Auth(secret_name="mine", key="pw")),
        ({"secretRef": {"name": "mine"}, "disabled": False}, Auth(secret_name="mine")),
    ],
)
def test_auth_is_read(auth: dict[str, Any], want: Auth) -> None:
    assert RedisSpec.from_object({"spec": {"auth": auth}}).auth == want


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ("yes", "spec.auth: expected object"),
        ({"disabled": "true"}, "spec.auth.disabled"),
        ({"secretRef": "mine"}, "spec.auth.secretRef"),
        ({"secretRef": {}}, "spec.auth.secretRef.name"),
        ({"secretRef": {"name": "mine", "key": ""}}, "spec.auth.secretRef.key"),
        ({"secretRef": {"name": "mine"}, "disabled": True}, "not both"),
    ],
)
def test_malformed_auth_names_the_field(auth: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisSpec.from_object({"spec": {"auth": auth}})


def test_auth_schema() -> None:
    auth = _schema()["properties"]["spec"]["properties"]["auth"]
    assert auth["x-kubernetes-validations"] == [
        {"rule": api.AUTH_EXCLUSIVE_RULE, "message": api.AUTH_EXCLUSIVE_MESSAGE}
    ]
    ref = auth["properties"]["secretRef"]
    assert ref["required"] == ["name"]
    assert ref["properties"]["key"]["default"] == "password"
    assert auth["properties"]["disabled"]["type"] == "boolean"
    assert "default" not in auth


def test_mode_is_read_and_absent_means_standalone() -> None:
    assert RedisSpec.from_object({}).mode is Mode.STANDALONE
    assert RedisSpec.from_object({"spec": {"mode": "replication"}}).mode is Mode.REPLICATION
    with pytest.raises(ValueError, match=r"spec\.mode"):
        RedisSpec.from_object({"spec": {"mode": "cluster"}})


def test_mode_schema_has_no_default_and_refuses_a_change() -> None:
    spec = _schema()["properties"]["spec"]
    assert spec["properties"]["mode"]["enum"] == ["standalone", "replication"]
    assert "default" not in spec["properties"]["mode"]
    assert spec["x-kubernetes-validations"] == [
        {"rule": api.MODE_RULE, "message": api.MODE_MESSAGE, "fieldPath": ".mode"}
    ]
    assert "spec.mode cannot be changed" in api.MODE_MESSAGE
