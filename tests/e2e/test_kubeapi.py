"""The controller's plain-JSON API calls against the real apiserver: paging, merge patches, and
deletes that never hit a successor of the object a pass saw."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client

from redis_operator.api import ChildKind
from redis_operator.kube import client as kube_client
from redis_operator.kube.client import JsonKubeApi
from redis_operator.kube.errors import ApiError

pytestmark = pytest.mark.e2e


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": "kubeapi"}},
        "spec": {"containers": [{"name": "redis", "image": "redis:5-alpine"}]},
    }


async def test_create_list_in_pages_and_delete_by_uid(
    api: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = JsonKubeApi(api)
    created = [await kube.create(ChildKind.POD, namespace, pod(f"p{i}")) for i in range(3)]
    assert all(isinstance(c, dict) and c["metadata"]["uid"] for c in created)
    assert created[0]["metadata"]["namespace"] == namespace

    monkeypatch.setattr(kube_client, "LIST_PAGE_SIZE", 2)  # 3 pods: two pages
    listed = await kube.list_children(ChildKind.POD, namespace)
    assert sorted(p["metadata"]["name"] for p in listed) == ["p0", "p1", "p2"]
    everywhere = await kube.list_children(ChildKind.POD, None)
    assert {"p0", "p1", "p2"} <= {p["metadata"]["name"] for p in everywhere}

    # A successor under the same name is not deleted by a pass that saw its predecessor.
    first = created[0]["metadata"]["uid"]
    await kube.delete(ChildKind.POD, namespace, "p0", first)
    with pytest.raises(ApiError) as refused:
        await kube.delete(ChildKind.POD, namespace, "p1", first)
    assert refused.value.status == 409
    # Until kwok finishes the graceful deletion, a second delete of p0 succeeds; once it is
    # gone, the same delete is a 404.
    for _ in range(150):  # 30 s
        names = {p["metadata"]["name"] for p in await kube.list_children(ChildKind.POD, namespace)}
        if "p0" not in names:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("p0 was not gone within 30 s")
    with pytest.raises(ApiError) as gone:
        await kube.delete(ChildKind.POD, namespace, "p0", first)
    assert gone.value.status == 404


async def test_merge_patch_replaces_lists_whole(api: client.ApiClient, namespace: str) -> None:
    kube = JsonKubeApi(api)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"clusterIP": "None", "ports": [{"name": "redis", "port": 6379}]},
    }
    await kube.create(ChildKind.SERVICE, namespace, service)
    patched = await kube.patch(
        ChildKind.SERVICE, namespace, "svc", {"spec": {"ports": [{"name": "redis", "port": 8333}]}}
    )
    assert [p["port"] for p in patched["spec"]["ports"]] == [8333]
