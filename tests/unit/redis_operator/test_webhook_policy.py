"""The webhook's rules (pure), and the review with a fake lookup."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from redis_operator.webhook.policy import (
    AdmissionPolicy,
    ChildNames,
    Verdict,
    conflict_warnings,
    image_is_allowed,
    names_to_check,
    qualified_image,
    review,
    validation_error,
    would_own,
)

Obj = dict[str, Any]
HUB = AdmissionPolicy(("redis:",))


def redis(
    name: str = "cache",
    replicas: int = 2,
    image: str = "redis:7-alpine",
    uid: str | None = None,
    **meta: Any,
) -> Obj:
    metadata: Obj = {"name": name, "namespace": "ns", **meta}
    if uid is not None:
        metadata["uid"] = uid
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": metadata,
        "spec": {"replicas": replicas, "image": image, "port": 6379},
    }


def child(
    name: str, owner: str | None = None, uid: str = "u-1", kind: str = "Redis", **meta: Any
) -> Obj:
    metadata: Obj = {"name": name, "namespace": "ns", **meta}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "myapp.tangx.in/v1",
                "kind": kind,
                "name": owner,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {"metadata": metadata}


# -- image allow-list --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "qualified"),
    [
        ("redis", "docker.io/library/redis"),
        ("redis:5-alpine", "docker.io/library/redis:5-alpine"),
        ("redis@sha256:" + "a" * 64, "docker.io/library/redis@sha256:" + "a" * 64),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("docker.io/redis:7", "docker.io/library/redis:7"),
        ("index.docker.io/library/redis:7", "docker.io/library/redis:7"),
        ("docker.io/library/redis:7", "docker.io/library/redis:7"),
        ("quay.io/opstree/redis:v7", "quay.io/opstree/redis:v7"),
        ("localhost/redis:7", "localhost/redis:7"),
        ("localhost:5000/redis:7", "localhost:5000/redis:7"),
        ("registry:5000/redis", "registry:5000/redis"),
        ("evil.io/redis:7", "evil.io/redis:7"),
    ],
)
def test_qualified_image_follows_docker_hub_short_names(image: str, qualified: str) -> None:
    assert qualified_image(image) == qualified


@pytest.mark.parametrize(
    ("image", "prefixes", "allowed"),
    [
        ("anything.io/x:1", (), True),
        ("redis:5-alpine", ("redis:",), True),
        ("redis:5-alpine", ("docker.io/library/",), True),  # via the qualified form
        ("docker.io/library/redis:7", ("docker.io/library/",), True),
        ("docker.io/library/redis:7", ("redis:",), False),  # a prefix is literal
        ("redis@sha256:" + "a" * 64, ("redis:",), False),
        ("bitnami/redis:7", ("docker.io/library/",), False),
        ("evil.io/redis:7", ("docker.io/library/", "redis:"), False),
        ("registry.example.com/team/redis:7", ("registry.example.com/",), True),
        ("registry.example.com.evil.io/redis:7", ("registry.example.com/",), False),
        ("registry.example.com.evil.io/redis:7", ("registry.example.com",), True),  # documented
    ],
)
def test_image_prefixes(image: str, prefixes: tuple[str, ...], allowed: bool) -> None:
    assert image_is_allowed(image, prefixes) is allowed


def test_create_with_a_disallowed_image_is_refused_naming_field_and_prefixes() -> None:
    policy = AdmissionPolicy(("docker.io/library/", "redis:"))
    message = validation_error("CREATE", redis(image="evil.io/redis:7"), None, policy)
    assert message == (
        'spec.image: "evil.io/redis:7" is not from an allowed registry '
        "(allowed: docker.io/library/, redis:)"
    )


def test_create_with_an_allowed_image_or_without_policy_passes() -> None:
    assert validation_error("CREATE", redis(image="redis:5-alpine"), None, HUB) is None
    assert validation_error("CREATE", redis(image="evil.io/x"), None, AdmissionPolicy()) is None


def test_create_without_an_image_is_judged_by_the_crd_default() -> None:
    obj = redis()
    del obj["spec"]["image"]  # the apiserver defaults it first; judged as redis:7-alpine
    assert validation_error("CREATE", obj, None, HUB) is None
    assert validation_error("CREATE", obj, None, AdmissionPolicy(("quay.io/",))) is not None


def test_update_changing_the_image_to_a_disallowed_one_is_refused() -> None:
    old = redis(image="redis:7", uid="u-1")
    new = redis(image="evil.io/redis:7", uid="u-1")
    assert validation_error("UPDATE", new, old, HUB) is not None
    assert validation_error("UPDATE", redis(image="redis:6", uid="u-1"), old, HUB) is None


def test_update_keeping_a_now_disallowed_image_passes() -> None:
    """An object from before the allow-list tightened stays scalable and deletable."""
    old = redis(image="evil.io/redis:7", uid="u-1")
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["metadata"]["finalizers"] = ["myapp.tangx.in/cleanup"]
    assert validation_error("UPDATE", new, old, HUB) is None


def test_status_only_updates_and_other_operations_pass() -> None:
    old = redis(image="redis:7", uid="u-1")
    new = redis(image="evil.io/redis:7", uid="u-1")
    assert validation_error("UPDATE", new, old, HUB, subresource="status") is None
    assert validation_error("DELETE", None, old, HUB) is None
    assert validation_error("CONNECT", new, None, HUB) is None


# -- child names -------------------------------------------------------------------------


def test_names_to_check_on_create_are_every_pod_and_the_service() -> None:
    names = names_to_check("CREATE", redis(replicas=3), None)
    assert names == ChildNames(("cache-0", "cache-1", "cache-2"), "cache")


def test_names_to_check_on_update_are_only_the_pods_a_scale_up_adds() -> None:
    old = redis(replicas=2, uid="u-1")
    assert names_to_check("UPDATE", redis(replicas=4, uid="u-1"), old).pods == (
        "cache-2",
        "cache-3",
    )
    assert names_to_check("UPDATE", redis(replicas=4, uid="u-1"), old).service is None
    assert not names_to_check("UPDATE", redis(replicas=2, uid="u-1"), old)
    assert not names_to_check("UPDATE", redis(replicas=1, uid="u-1"), old)


def test_no_names_for_status_deletion_or_zero_replicas() -> None:
    assert not names_to_check("UPDATE", redis(replicas=4), redis(), subresource="status")
    deleting = redis(replicas=4, uid="u-1", deletionTimestamp="2024-01-01T00:00:00Z")
    assert not names_to_check("UPDATE", deleting, redis(uid="u-1"))
    assert names_to_check("CREATE", redis(replicas=0), None) == ChildNames((), "cache")


def test_would_own_by_uid_once_the_redis_has_one() -> None:
    assert would_own(child("cache-0", "cache", uid="u-1"), redis(uid="u-1"))
    assert not would_own(child("cache-0", "cache", uid="old"), redis(uid="u-1"))
    assert not would_own(child("cache-0"), redis(uid="u-1"))


def test_would_own_on_create_by_the_controllers_kind_and_name() -> None:
    new = redis()  # CREATE: no uid yet
    assert would_own(child("cache-0", "cache", uid="deleted-namesake"), new)
    assert not would_own(child("cache-0", "other"), new)
    assert not would_own(child("cache-0", "cache", kind="StatefulSet"), new)
    assert not would_own(child("cache-0"), new)


def test_a_taken_child_name_gives_a_warning() -> None:
    new = redis(replicas=2)
    names = names_to_check("CREATE", new, None)
    pods = [child("cache-0"), child("cache-1", "cache"), child("unrelated")]
    (warning,) = conflict_warnings(new, names, pods, None)
    assert warning.startswith('pod "cache-0" already exists and is not controlled by this Redis')
    assert len(warning) < 256  # the apiserver may truncate longer warnings


def test_a_taken_service_name_gives_a_warning() -> None:
    new = redis(replicas=0)
    names = names_to_check("CREATE", new, None)
    (warning,) = conflict_warnings(new, names, [], child("cache"))
    assert warning.startswith('Service "cache" already exists and is not controlled by this Redis')
    assert conflict_warnings(new, names, [], child("cache", "cache")) == []


def test_owned_or_terminating_children_give_no_warning() -> None:
    new = redis(replicas=3, uid="u-1")
    names = ChildNames(("cache-0", "cache-1", "cache-2"), "cache")
    pods = [
        child("cache-0", "cache", uid="u-1"),
        child("cache-1", "cache", uid="u-1"),
        child("cache-2", deletionTimestamp="2024-01-01T00:00:00Z"),
    ]
    assert conflict_warnings(new, names, pods, child("cache", "cache", uid="u-1")) == []


# -- the review, with a fake lookup ------------------------------------------------------


class FakeLookup:
    def __init__(
        self, pods: list[Obj] | None = None, service: Obj | None = None, delay: float = 0
    ) -> None:
        self._pods = pods or []
        self._service = service
        self.delay = delay
        self.calls: list[str] = []

    async def pods(self, namespace: str) -> list[Obj]:
        self.calls.append(f"pods/{namespace}")
        await asyncio.sleep(self.delay)
        return self._pods

    async def service(self, namespace: str, name: str) -> Obj | None:
        self.calls.append(f"service/{namespace}/{name}")
        return self._service


class BrokenLookup(FakeLookup):
    async def pods(self, namespace: str) -> list[Obj]:
        raise ConnectionError("apiserver down")


async def test_review_warns_about_a_taken_name() -> None:
    lookup = FakeLookup([child("cache-1")])
    verdict = await review("CREATE", redis(), None, HUB, lookup, lookup_timeout=2.0)
    assert verdict.refusal is None
    assert len(verdict.warnings) == 1 and '"cache-1"' in verdict.warnings[0]
    assert lookup.calls == ["pods/ns", "service/ns/cache"]


async def test_a_refused_request_reads_nothing() -> None:
    lookup = FakeLookup([child("cache-1")])
    verdict = await review(
        "CREATE", redis(image="evil.io/r"), None, HUB, lookup, lookup_timeout=2.0
    )
    assert verdict.refusal is not None and verdict.warnings == ()
    assert lookup.calls == []


async def test_an_update_without_new_ordinals_reads_nothing() -> None:
    lookup = FakeLookup()
    old = redis(uid="u-1")
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["myapp.tangx.in/cleanup"]
    assert await review("UPDATE", new, old, HUB, lookup, lookup_timeout=2.0) == Verdict()
    assert lookup.calls == []


async def test_a_failing_or_slow_lookup_allows_without_warnings() -> None:
    assert (
        await review("CREATE", redis(), None, HUB, BrokenLookup(), lookup_timeout=2.0)
    ).warnings == ()
    slow = FakeLookup([child("cache-0")], delay=5)
    verdict = await review("CREATE", redis(), None, HUB, slow, lookup_timeout=0.05)
    assert verdict.refusal is None and verdict.warnings == ()
