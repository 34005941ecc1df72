"""A start the backend served whose reply never reached the starter (the connection dropped
after the instance was created). The caller is told the outcome is unclear (502, never a
202 it cannot prove), and its retry does not start the instance a second time."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from singleton import LeasePolicy, Leases, SingletonStarter
from singleton.functions.http import handle_start_request
from tests.faults.conftest import served_backend
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import post

pytestmark = pytest.mark.redis


def losing_the_first_start_reply() -> Any:
    lost: list[str] = []

    @web.middleware
    async def middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        response = await handler(request)  # served: the instance is created
        if request.method == "POST" and "/orchestrators/" in request.path and not lost:
            lost.append(request.path)
            assert request.transport is not None
            request.transport.close()  # ...and the reply is lost on the way back
        return response

    return middleware


@pytest.mark.parametrize("storage_latency", [0.0, 0.02], ids=["plain", "azure-storage-like"])
async def test_a_lost_start_reply_is_502_and_the_retry_starts_nothing_more(
    redis_client: aioredis.Redis, storage_latency: float
) -> None:
    leases = Leases(redis_client, namespace="lost", policy=LeasePolicy(ttl=5.0, wait=1.0))
    starter = SingletonStarter(leases=leases)
    try:
        async with served_backend(
            storage_latency=storage_latency, middlewares=[losing_the_first_start_reply()]
        ) as served:
            client = df.DurableOrchestrationClient(served.binding)

            async def call() -> func.HttpResponse:
                request = post(WAIT_FOR_FINISH, "lost-reply", b'{"n": 1}')
                return await handle_start_request(request, client, starter=lambda: starter)

            first = await call()
            assert first.status_code == 502, first.get_body()
            assert served.created("lost-reply") == 1  # it was served

            retry = await call()
            assert retry.status_code == 409, retry.get_body()
            assert json.loads(retry.get_body())["runtimeStatus"] in {"Pending", "Running"}
            assert served.created("lost-reply") == 1
            assert served.started("lost-reply") == 1
            assert [s.instance_id for s in await served.backend.list_states()] == ["lost-reply"]
    finally:
        await leases.aclose()
    # The lease was released on both paths: nothing holds the ID.
    assert await redis_client.keys("lost:*lease") == []
