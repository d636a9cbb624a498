"""involvedObject from dicts, mappings, kubernetes client models and explicit references."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes_asyncio.client import (
    V1Deployment,
    V1ObjectMeta,
    V1ObjectReference,
    V1Pod,
)

from event_recorder import InvalidObjectError, ObjectReference, reference_for
from tests.unit.event_recorder.support import node, redis


class FrozenBody(Mapping[str, Any]):
    """A read-only mapping, as kopf hands handlers their ``body``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_reference_from_a_dict() -> None:
    assert reference_for(redis()) == ObjectReference(
        kind="Redis",
        api_version="myapp.tangx.in/v1",
        name="my-op-redis",
        namespace="default",
        uid="uid-redis-1",
        resource_version="101",
    )


def test_reference_from_a_read_only_mapping_like_a_kopf_body() -> None:
    assert reference_for(FrozenBody(redis())) == reference_for(redis())


def test_reference_of_a_cluster_scoped_object_has_no_namespace() -> None:
    ref = reference_for(node())
    assert ref.namespace == ""
    assert "namespace" not in ref.to_dict()


def test_reference_from_a_client_model_with_type_meta() -> None:
    pod = V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=V1ObjectMeta(name="p", namespace="ns", uid="u", resource_version="9"),
    )
    assert reference_for(pod) == ObjectReference(
        kind="Pod", api_version="v1", name="p", namespace="ns", uid="u", resource_version="9"
    )


def test_kind_and_api_version_of_a_listed_model_are_inferred_from_its_class() -> None:
    pod = V1Pod(metadata=V1ObjectMeta(name="p", namespace="ns", uid="u"))
    deployment = V1Deployment(metadata=V1ObjectMeta(name="d", namespace="ns"))

    assert (reference_for(pod).kind, reference_for(pod).api_version) == ("Pod", "v1")
    assert (reference_for(deployment).kind, reference_for(deployment).api_version) == (
        "Deployment",
        "apps/v1",
    )


def test_client_object_reference_model_is_explicit_and_keeps_field_path() -> None:
    model = V1ObjectReference(
        kind="Pod", api_version="v1", name="p", namespace="ns", field_path="spec.containers{c}"
    )
    assert reference_for(model).field_path == "spec.containers{c}"


def test_explicit_reference_is_used_as_is() -> None:
    ref = ObjectReference(kind="Pod", api_version="v1", name="p", field_path="spec.x")
    assert reference_for(ref) is ref


def test_reference_round_trips_through_its_json_form() -> None:
    ref = ObjectReference(
        kind="Pod", api_version="v1", name="p", namespace="n", uid="u", field_path="f"
    )
    assert ObjectReference.from_dict(ref.to_dict()) == ref
    assert ref.to_dict() == {
        "kind": "Pod",
        "namespace": "n",
        "name": "p",
        "uid": "u",
        "apiVersion": "v1",
        "fieldPath": "f",
    }


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"kind": "Redis", "apiVersion": "v1"}, "metadata"),
        ({"kind": "Redis", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
        ({"kind": "Redis", "apiVersion": "v1", "metadata": {}}, "name"),
        (V1Pod(metadata=V1ObjectMeta(namespace="ns")), "name"),
        ("my-op-redis", "str"),
        (42, "int"),
    ],
)
def test_unusable_objects_are_rejected(obj: object, problem: str) -> None:
    with pytest.raises(InvalidObjectError, match=problem):
        reference_for(obj)


def test_model_of_an_unknown_kind_without_type_meta_is_rejected() -> None:
    class V1Gadget:
        metadata = V1ObjectMeta(name="g")

    with pytest.raises(InvalidObjectError, match="kind"):
        reference_for(V1Gadget())
