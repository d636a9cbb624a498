"""One call on JSON: the body is read and decoded by ``call`` (the client loads nothing), a
Status answer is the ApiError it describes, a body that is no JSON a TransportError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from redis_operator.kube.client import call, new_api_client
from redis_operator.kube.errors import ApiError, TransportError
from tests.unit.redis_operator.support import KUBECONFIG


async def refused(request: web.Request) -> web.Response:
    status = {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not there"}
    return web.json_response(status, status=404)


async def garbled(request: web.Request) -> web.Response:
    return web.Response(text="{not json", content_type="application/json")


async def created(request: web.Request) -> web.Response:
    return web.json_response({**await request.json(), "kind": "Pod"}, status=201)


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[client.ApiClient]:
    """A client of a loopback server with one route per kind of answer."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    app = web.Application()
    app.router.add_get("/refused", refused)
    app.router.add_get("/garbled", garbled)
    app.router.add_post("/created", created)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(server=f"http://127.0.0.1:{runner.addresses[0][1]}"))
    api_client = await new_api_client(str(kubeconfig))
    yield api_client
    await api_client.close()
    await runner.cleanup()


async def test_a_refusal_is_the_api_error_of_its_status(api: client.ApiClient) -> None:
    with pytest.raises(ApiError) as error:
        await call(api, "GET", "/refused")
    assert (error.value.status, error.value.reason, error.value.message) == (
        404,
        "NotFound",
        "not there",
    )


async def test_an_answer_that_is_no_json_is_a_transport_error(api: client.ApiClient) -> None:
    with pytest.raises(TransportError, match="undecodable"):
        await call(api, "GET", "/garbled")


async def test_a_created_object_is_answered_as_decoded(api: client.ApiClient) -> None:
    body = {"metadata": {"name": "p"}}
    assert await call(api, "POST", "/created", body) == {**body, "kind": "Pod"}
