"""The webhook's API read: metadata only, from the watch cache, within the lookup's budget; a
missing Service is None, any other failure a KubeError."""

from __future__ import annotations

import aiohttp
import pytest

from redis_operator.kube.errors import ApiError, TransportError
from redis_operator.webhook.lookup import ApiChildLookup
from tests.unit.redis_operator.support import StubApiClient, status_exception

TIMEOUT = 2.0
POD = {"metadata": {"name": "cache-0", "namespace": "ns"}}


async def test_pods_are_one_metadata_list_from_the_watch_cache() -> None:
    stub = StubApiClient({"kind": "PartialObjectMetadataList", "items": [POD]})
    assert await ApiChildLookup(stub, TIMEOUT).pods("ns") == [POD]
    assert stub.calls == [("GET", "/api/v1/namespaces/ns/pods", [("resourceVersion", "0")])]
    options = stub.options[0]
    assert options["header_params"]["Accept"].startswith(
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    )
    assert options["_request_timeout"] == TIMEOUT


async def test_the_service_is_one_metadata_get() -> None:
    service = {"kind": "PartialObjectMetadata", "metadata": {"name": "cache"}}
    stub = StubApiClient(service)
    assert await ApiChildLookup(stub, TIMEOUT).service("ns", "cache") == service
    assert stub.calls == [("GET", "/api/v1/namespaces/ns/services/cache", None)]
    options = stub.options[0]
    assert options["header_params"]["Accept"].startswith(
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    )
    assert options["_request_timeout"] == TIMEOUT


async def test_a_missing_service_is_none() -> None:
    stub = StubApiClient(status_exception(404, "NotFound", 'services "cache" not found'))
    assert await ApiChildLookup(stub, TIMEOUT).service("ns", "cache") is None


async def test_other_failures_are_kube_errors() -> None:
    stub = StubApiClient(
        status_exception(403, "Forbidden", 'services "cache" is forbidden'),
        aiohttp.ClientConnectionError("refused"),
    )
    lookup = ApiChildLookup(stub, TIMEOUT)
    with pytest.raises(ApiError) as refused:
        await lookup.service("ns", "cache")
    assert refused.value.status == 403
    with pytest.raises(TransportError):
        await lookup.pods("ns")
