"""Every answer of the HTTP starter, with a real Durable client over real HTTP and real Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis

from singleton import LeasePolicy, Leases, SingletonStarter, close_default_starter
from singleton.functions.http import FENCE_HEADER, handle_start_request, start_singleton
from tests.redis_servers import RedisServer, free_port
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost, input_of, post

pytestmark = pytest.mark.redis


def problem_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:durable-singleton:problem:")
    assert body["title"]
    assert body["detail"]
    return body


async def call(
    durable: DurableHost, starter: SingletonStarter, req: func.HttpRequest
) -> func.HttpResponse:
    return await handle_start_request(req, durable.client(), starter=lambda: starter)


async def test_202_is_the_check_status_response_with_a_fence(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    response = await call(durable, starter, post(WAIT_FOR_FINISH, "a1", b'{"x": 1}'))

    assert response.status_code == 202
    body = json.loads(response.get_body())
    assert body["id"] == "a1"
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith("http://127.0.0.1:7071/")
    assert "a1" in body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    assert int(response.headers[FENCE_HEADER]) >= 1
    status = await durable.client().get_status("a1")
    assert input_of(status) == {"x": 1}


async def test_empty_body_starts_with_no_input(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    response = await call(durable, starter, post(WAIT_FOR_FINISH, "a2"))

    assert response.status_code == 202
    status = await durable.client().get_status("a2")
    assert input_of(status) is None


async def test_409_names_the_running_instance(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    await call(durable, starter, post(WAIT_FOR_FINISH, "a3", b'"first"'))

    response = await call(durable, starter, post(WAIT_FOR_FINISH, "a3", b'"second"'))

    assert response.status_code == 409
    body = problem_of(response)
    assert body["instanceId"] == "a3"
    assert body["runtimeStatus"] in {"Pending", "Running"}
    assert body["statusQueryGetUri"] == response.headers["Location"]
    assert "a3" in body["statusQueryGetUri"]
    assert durable.started("a3") == 1
    assert input_of(await durable.client().get_status("a3")) == "first"


async def test_409_when_the_lease_stays_busy(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    async with leases.hold(f"{HUB}/a4"):
        response = await call(durable, starter, post(WAIT_FOR_FINISH, "a4"))

    assert response.status_code == 409
    body = problem_of(response)
    assert body["instanceId"] == "a4"
    assert "lease" in body["detail"]
    assert durable.started("a4") == 0


@pytest.mark.parametrize(
    "instance_id",
    ["@entity", "a\\b", "a?b", "a#b", "50%", "a b", "ctl\x01", "x" * 257, ""],
)
async def test_400_for_instance_ids_the_host_or_client_would_mishandle(
    durable: DurableHost, starter: SingletonStarter, instance_id: str
) -> None:
    response = await call(durable, starter, post(WAIT_FOR_FINISH, instance_id))

    assert response.status_code == 400
    assert "instance ID" in problem_of(response)["detail"]


async def test_400_for_an_invalid_orchestrator_name(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    response = await call(durable, starter, post("no such", "a5"))

    assert response.status_code == 400
    assert "orchestrator name" in problem_of(response)["detail"]


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2"])
async def test_400_for_invalid_json_and_nothing_started(
    durable: DurableHost, starter: SingletonStarter, body: bytes
) -> None:
    response = await call(durable, starter, post(WAIT_FOR_FINISH, "a6", body))

    assert response.status_code == 400
    assert "JSON" in problem_of(response)["detail"]
    assert durable.started("a6") == 0


async def test_400_when_the_host_knows_no_such_orchestrator(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    response = await call(durable, starter, post("NoSuchOrchestrator", "a7"))

    assert response.status_code == 400
    assert "NoSuchOrchestrator" in problem_of(response)["detail"]


async def test_503_with_retry_after_when_redis_is_down(durable: DurableHost) -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    leases = Leases(unreachable, namespace="http", policy=LeasePolicy(ttl=5.0, wait=0.2))
    try:
        response = await call(durable, SingletonStarter(leases=leases), post(WAIT_FOR_FINISH, "a8"))
    finally:
        await leases.aclose()
        await unreachable.aclose()

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "nothing was started" in problem_of(response)["detail"]
    assert durable.started("a8") == 0


async def test_502_when_the_status_read_fails(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    durable.backend.inject_fault(operation="status", status=500, times=1)

    response = await call(durable, starter, post(WAIT_FOR_FINISH, "a9"))

    assert response.status_code == 502
    problem_of(response)
    assert durable.started("a9") == 0


async def test_502_when_the_start_fails_and_a_retry_starts_once(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    durable.backend.inject_fault(operation="start", status=500, times=1)

    failed = await call(durable, starter, post(WAIT_FOR_FINISH, "a10"))
    retried = await call(durable, starter, post(WAIT_FOR_FINISH, "a10"))
    again = await call(durable, starter, post(WAIT_FOR_FINISH, "a10"))

    assert failed.status_code == 502
    problem_of(failed)
    assert retried.status_code == 202
    assert again.status_code == 409
    assert durable.started("a10") == 1


@pytest.fixture
async def app_settings(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[pytest.MonkeyPatch]:
    """App settings for the default starter, built afresh for the test and closed after it."""
    await close_default_starter()
    yield monkeypatch
    await close_default_starter()


async def test_500_when_redis_url_is_missing_and_nothing_started(
    durable: DurableHost, app_settings: pytest.MonkeyPatch
) -> None:
    app_settings.delenv("REDIS_URL", raising=False)

    response = await handle_start_request(post(WAIT_FOR_FINISH, "a11"), durable.client())

    assert response.status_code == 500
    assert "REDIS_URL" in problem_of(response)["detail"]
    assert durable.started("a11") == 0


async def test_the_registered_function_wires_binding_settings_and_starter(
    durable: DurableHost, redis_server: RedisServer, app_settings: pytest.MonkeyPatch
) -> None:
    """The decorated function, given the binding JSON as the host passes it."""
    app_settings.setenv("REDIS_URL", redis_server.url)
    app_settings.setenv("SINGLETON_KEY_PREFIX", "wired")
    user_function = start_singleton.build().get_user_function()

    first = await user_function(req=post(WAIT_FOR_FINISH, "a12"), client=durable.binding)
    second = await user_function(req=post(WAIT_FOR_FINISH, "a12"), client=durable.binding)

    assert (first.status_code, second.status_code) == (202, 409)
    assert durable.started("a12") == 1
