"""The Durable backend mounted on the host's port, and the Redis the app gets."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from tests.devhost.conftest import app_file
from tests.redis_servers import RedisServer


@pytest.fixture
def no_redis_url() -> Iterator[None]:
    saved = os.environ.pop("REDIS_URL", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["REDIS_URL"] = saved


@pytest.fixture
async def embedded_host(no_redis_url: None) -> AsyncIterator[RunningDevHost]:
    async with run_devhost(app_path=app_file("durable_redis"), port=0, out=io.StringIO()) as host:
        yield host


async def probe(http: aiohttp.ClientSession, host: RunningDevHost) -> dict[str, Any]:
    async with http.get(host.url("redis-probe")) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def test_durable_orchestration_runs_end_to_end(
    embedded_host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    host = embedded_host
    async with http.post(host.url("orchestrators/greet/greet-1"), json="devhost") as response:
        assert response.status == 202, await response.text()
        status_url = (await response.json())["statusQueryGetUri"]
    assert status_url.startswith(host.base_url + "/runtime/webhooks/durabletask/instances/greet-1")
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: 10 s
        async with http.get(status_url) as response:
            status = await response.json()
        if status.get("runtimeStatus") == "Completed":
            break
        await asyncio.sleep(0.1)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "Hello devhost"
    assert "hub 'DevhostTestHub'" in host.banner


async def test_embedded_redis_supports_what_the_lease_needs(
    embedded_host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    body = await probe(http, embedded_host)
    assert embedded_host.redis_embedded
    assert body["url"] == embedded_host.redis_url
    assert body["url_at_import"] == embedded_host.redis_url  # exported before the import
    assert (body["set_nx_first"], body["set_nx_second"]) == (True, False)
    assert (body["eval"], body["evalsha"]) == ("from-lua", "from-sha")
    assert (body["published_to"], body["message"]) == (1, "ping")
    # fakeredis 2.41 has no WAIT: it degrades to an error reply, which the app must tolerate.
    assert body["wait"] == "error: unknown command 'wait', with args beginning with: "
    assert "EMBEDDED REDIS" in embedded_host.banner


@pytest.mark.redis
async def test_redis_url_is_respected_when_set(
    redis_server: RedisServer, http: aiohttp.ClientSession, no_redis_url: None
) -> None:
    os.environ["REDIS_URL"] = redis_server.url
    try:
        async with run_devhost(
            app_path=app_file("durable_redis"), port=0, out=io.StringIO()
        ) as host:
            body = await probe(http, host)
    finally:
        del os.environ["REDIS_URL"]
    assert not host.redis_embedded
    assert body["url"] == body["url_at_import"] == redis_server.url
    assert body["eval"] == "from-lua"
    assert "EMBEDDED REDIS" not in host.banner
    assert f"{redis_server.url} (REDIS_URL)" in host.banner
