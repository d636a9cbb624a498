"""The controller's plain-JSON API calls against the real apiserver: paging, watches resumed
from a resourceVersion, merge patches, and deletes that never hit a successor of the object a
pass saw."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client

from redis_operator.api import ChildKind
from redis_operator.kube import watch as kube_watch
from redis_operator.kube.client import JsonKubeApi
from redis_operator.kube.errors import ApiError
from redis_operator.kube.watch import BOOKMARK, JsonListWatch

POD = ChildKind.POD

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

    monkeypatch.setattr(kube_watch, "LIST_PAGE_SIZE", 2)  # 3 pods: two pages
    source = JsonListWatch(api, server_timeout=5, client_timeout=30.0)
    listed = await source.list_objects(ChildKind.POD, namespace)
    assert sorted(p["metadata"]["name"] for p in listed.items) == ["p0", "p1", "p2"]
    assert int(listed.resource_version) >= max(
        int(c["metadata"]["resourceVersion"]) for c in created
    )
    everywhere = await source.list_objects(ChildKind.POD, None)
    assert {"p0", "p1", "p2"} <= {p["metadata"]["name"] for p in everywhere.items}

    # A successor under the same name is not deleted by a pass that saw its predecessor.
    first = created[0]["metadata"]["uid"]
    await kube.delete(ChildKind.POD, namespace, "p0", first)
    with pytest.raises(ApiError) as refused:
        await kube.delete(ChildKind.POD, namespace, "p1", first)
    assert refused.value.status == 409
    # Until kwok finishes the graceful deletion, a second delete of p0 succeeds; once it is
    # gone, the same delete is a 404.
    for _ in range(150):  # 30 s
        names = {p["metadata"]["name"] for p in (await source.list_objects(POD, namespace)).items}
        if "p0" not in names:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("p0 was not gone within 30 s")
    with pytest.raises(ApiError) as gone:
        await kube.delete(ChildKind.POD, namespace, "p0", first)
    assert gone.value.status == 404


async def test_a_watch_replays_every_change_after_its_resource_version(
    api: client.ApiClient, namespace: str
) -> None:
    kube = JsonKubeApi(api)
    source = JsonListWatch(api, server_timeout=3, client_timeout=30.0)
    start = (await source.list_objects(POD, namespace)).resource_version
    created = await kube.create(POD, namespace, pod("w0"))
    await kube.delete(POD, namespace, "w0", created["metadata"]["uid"])
    other = await kube.create(POD, "default", pod(f"elsewhere-{namespace}"))
    seen: list[kube_watch.Event] = []
    async for event in source.watch(POD, namespace, start):  # ends after 3 s
        if event.type != BOOKMARK:
            seen.append(event)
    assert seen and seen[0].type == "ADDED"
    assert {event.object["metadata"]["name"] for event in seen} == {"w0"}  # this namespace's
    assert any(
        event.type == "DELETED" or "deletionTimestamp" in event.object["metadata"] for event in seen
    )  # its deletion, replayed
    await kube.delete(POD, "default", f"elsewhere-{namespace}", other["metadata"]["uid"])


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
