"""The admin endpoint of function_app.py on the devhost, over real HTTP, on real Redis; and its
handler's error answers, called with real azure.functions.HttpRequest objects."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import azure.functions as func
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton import LeasePolicy, Leases
from singleton.functions.admin import LEASES_ROUTE, handle_leases_request
from tests.e2e.conftest import DevHostFactory
from tests.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.redis

HUB = "DurableSingletonHub"  # host.json's hub: the names the starter's leases take


async def test_lists_the_held_leases_and_force_releases_one(
    devhost: DevHostFactory, http: aiohttp.ClientSession, redis_server: RedisServer
) -> None:
    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    # Another process of the app, holding two leases under the app's default namespace.
    other = Leases(client, namespace="durable-singleton", policy=LeasePolicy(ttl=30))
    stuck = await other.acquire(f"{HUB}/stuck-job")
    await other.acquire(f"{HUB}/other")
    try:
        async with devhost() as host:
            async with http.get(host.url(LEASES_ROUTE)) as response:
                assert response.status == 200
                listed = await response.json()
            assert listed["namespace"] == "durable-singleton"
            assert listed["count"] == 2
            assert [lease["name"] for lease in listed["leases"]] == [
                f"{HUB}/other",
                f"{HUB}/stuck-job",
            ]
            assert listed["leases"][1]["fence"] == stuck.fence
            assert 29 < listed["leases"][1]["ttlSeconds"] <= 30

            # A start of that ID waits for the stuck lease; the force-release lets it through.
            start = asyncio.create_task(http.post(host.url("orchestrators/ProcessBatch/stuck-job")))
            await asyncio.sleep(0.3)
            name = quote(f"{HUB}/stuck-job")
            async with http.delete(host.url(f"{LEASES_ROUTE}?name={name}")) as response:
                assert response.status == 200
                assert await response.json() == {"name": f"{HUB}/stuck-job", "released": True}
            async with await start as started:
                assert started.status == 202  # well within SINGLETON_LEASE_WAIT (5 s)
            assert len(host.backend.start_records("stuck-job")) == 1

            async with http.delete(host.url(f"{LEASES_ROUTE}?name={name}")) as response:
                assert response.status == 404
            async with http.get(host.url(LEASES_ROUTE)) as response:
                assert [lease["name"] for lease in (await response.json())["leases"]] == [
                    f"{HUB}/other"
                ]
    finally:
        await other.aclose()
        await client.aclose()


def _request(method: str, params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"http://127.0.0.1:7071/api/{LEASES_ROUTE}",
        headers={},
        params=params or {},
        route_params={},
        body=b"",
    )


async def test_delete_without_a_name_is_400(redis_client: aioredis.Redis) -> None:
    leases = Leases(redis_client, namespace="admin-http")
    response = await handle_leases_request(_request("DELETE"), lambda: leases)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


async def test_redis_down_is_503_without_the_address() -> None:
    port = free_port()
    client = aioredis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    leases = Leases(client, namespace="admin-http")
    for request in (_request("GET"), _request("DELETE", {"name": "x"})):
        response = await handle_leases_request(request, lambda: leases)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert str(port) not in response.get_body().decode()
    await leases.aclose()
    await client.aclose()
