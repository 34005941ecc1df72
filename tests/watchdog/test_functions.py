"""The watchdog's Functions adapters: the timer runs a tick, the admin endpoint unwatches
(and terminates on request); real Redis, the real Durable client over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
import redis.asyncio as aioredis

from singleton import ConfigurationError, LeasePolicy, Leases, RuntimeStatus, SingletonStarter
from singleton.functions.watchdog import (
    handle_unwatch_request,
    handle_watched_request,
    run_tick,
    watchdog_blueprint,
)
from singleton.starter import PassOutcome
from tests.redis_servers import free_port
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import DurableHost

pytestmark = pytest.mark.redis


def _unwatch(instance_id: str, terminate: str | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        method="DELETE",
        url=f"http://127.0.0.1:7071/api/singleton/watchdog/{instance_id}",
        params={} if terminate is None else {"terminate": terminate},
        route_params={"instanceId": instance_id},
        body=b"",
    )


def _functions(starter: SingletonStarter) -> dict[str, Any]:
    app = df.DFApp()
    app.register_functions(watchdog_blueprint("*/5 * * * * *", starter=lambda: starter))
    return {f.get_function_name(): f for f in app.get_functions()}


def test_the_blueprint_has_a_timer_with_a_durable_client_and_an_admin_route(
    starter: SingletonStarter,
) -> None:
    functions = _functions(starter)
    assert set(functions) == {"SingletonWatchdog", "SingletonUnwatch", "SingletonWatched"}
    timer = {
        b["type"]: b for b in map(json.loads, functions["SingletonWatchdog"].get_raw_bindings())
    }
    assert timer["timerTrigger"]["schedule"] == "*/5 * * * * *"
    assert "durableClient" in timer
    route = {
        b["type"]: b for b in map(json.loads, functions["SingletonUnwatch"].get_raw_bindings())
    }
    assert route["httpTrigger"]["authLevel"].lower() == "admin"
    assert route["httpTrigger"]["methods"] == ["DELETE"]
    listing = {
        b["type"]: b for b in map(json.loads, functions["SingletonWatched"].get_raw_bindings())
    }
    assert listing["httpTrigger"]["authLevel"].lower() == "admin"
    assert listing["httpTrigger"]["methods"] == ["GET"]
    assert listing["httpTrigger"]["route"] == "singleton/watchdog"


def test_the_blueprint_leaves_out_the_routes_asked_to() -> None:
    app = df.DFApp()
    app.register_functions(watchdog_blueprint(unwatch_route=None, watched_route=None))
    assert [f.get_function_name() for f in app.get_functions()] == ["SingletonWatchdog"]


async def test_the_listing_names_the_watched_ids_of_the_hub_and_not_their_inputs(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "listed-b", {"secret": 1})
    await starter.ensure_running(client, WAIT_FOR_FINISH, "listed-a", stuck_after=30)
    await starter.unwatch(client, "listed-b")
    await starter.ensure_running(client, WAIT_FOR_FINISH, "listed-c")
    request = func.HttpRequest(
        method="GET", url="http://127.0.0.1:7071/api/singleton/watchdog", body=b""
    )
    response = await handle_watched_request(request, client, lambda: starter)
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["count"] == 2
    assert [entry["instanceId"] for entry in body["watched"]] == ["listed-a", "listed-c"]
    assert body["watched"][0]["orchestrator"].lower() == WAIT_FOR_FINISH.lower()
    assert body["watched"][0]["stuckAfterSeconds"] == 30
    assert "secret" not in response.get_body().decode()
    assert body["taskHub"]


@pytest.mark.parametrize("schedule", ["", "every minute", "* * *"])
def test_a_bad_schedule_is_refused(schedule: str) -> None:
    with pytest.raises(ConfigurationError):
        watchdog_blueprint(schedule)


async def test_the_timer_runs_one_tick_with_the_hosts_client(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "timed")
    await durable.wait_for_status("timed", RuntimeStatus.RUNNING)
    await starter.watchdog.tick(client)  # ran a whole tick: no backoff left
    await client.terminate("timed", "by hand")
    await durable.wait_for_status("timed", RuntimeStatus.TERMINATED)
    timer = _functions(starter)["SingletonWatchdog"].get_user_function()
    await timer(timer=None, client=durable.binding)
    await durable.wait_for_status("timed", RuntimeStatus.RUNNING)
    assert durable.started("timed") == 2


async def test_unwatch_with_terminate_stops_it_for_good(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "stop-me")
    await durable.wait_for_status("stop-me", RuntimeStatus.RUNNING)
    response = await handle_unwatch_request(_unwatch("stop-me", "true"), client, lambda: starter)
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {
        "instanceId": "stop-me",
        "unwatched": True,
        "terminated": True,
    }
    await durable.wait_for_status("stop-me", RuntimeStatus.TERMINATED)
    assert await starter.watchdog.tick(client) == []
    assert durable.started("stop-me") == 1


async def test_unwatch_without_terminate_leaves_the_instance_running(
    durable: DurableHost, starter: SingletonStarter
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "keep-me")
    response = await handle_unwatch_request(_unwatch("keep-me"), client, lambda: starter)
    assert json.loads(response.get_body())["terminated"] is False
    status = await durable.wait_for_status("keep-me", RuntimeStatus.RUNNING)
    assert status.runtime_status.value == "Running"


@pytest.mark.parametrize(
    ("instance_id", "terminate", "status", "slug"),
    [
        ("never-watched", None, 404, "not-watched"),
        ("x", "maybe", 400, "invalid-request"),
        ("@bad", None, 400, "invalid-instance-id"),
    ],
)
async def test_bad_unwatch_requests_get_a_problem(
    durable: DurableHost,
    starter: SingletonStarter,
    instance_id: str,
    terminate: str | None,
    status: int,
    slug: str,
) -> None:
    response = await handle_unwatch_request(
        _unwatch(instance_id, terminate), durable.client(), lambda: starter
    )
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["type"].endswith(slug)


async def test_unwatch_when_redis_fails_is_a_503(durable: DurableHost) -> None:
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}")
    leases = Leases(dead, namespace="dead", policy=LeasePolicy(ttl=1.0, wait=0.1))
    starter = SingletonStarter(leases=leases)
    response = await handle_unwatch_request(_unwatch("x"), durable.client(), lambda: starter)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "127.0.0.1" not in response.get_body().decode()
    await leases.aclose()
    await dead.aclose()


async def test_unwatch_waits_for_a_pass_and_answers_503_when_the_lease_stays_busy(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    client = durable.client()
    await starter.ensure_running(client, WAIT_FOR_FINISH, "held")
    async with leases.hold("TestHub/held"):  # a pass (or a start) in flight on the ID
        response = await handle_unwatch_request(_unwatch("held", "true"), client, lambda: starter)
    assert response.status_code == 503
    assert json.loads(response.get_body())["type"].endswith("watchdog-busy")
    # Nothing changed: still watched, still running.
    assert [r.outcome for r in await starter.watchdog.tick(client)] == [PassOutcome.RUNNING]
    assert durable.started("held") == 1


async def test_a_tick_without_settings_fails_loudly(
    durable: DurableHost, caplog: pytest.LogCaptureFixture
) -> None:
    def unconfigured() -> SingletonStarter:
        raise ConfigurationError("REDIS_URL is not set")

    with pytest.raises(ConfigurationError):
        await run_tick(durable.client(), unconfigured)
    assert "watchdog tick failed, nothing restarted: REDIS_URL" in caplog.text
