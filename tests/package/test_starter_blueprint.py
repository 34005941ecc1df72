"""``starter_blueprint``: starters with their own routes, names and auth levels in one app,
indexed by azure-functions as the worker indexes them, each answering on the devhost under
its own route over real HTTP, all guarded by the same leases."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import azure.functions as func
import pytest

from devhost import RunningDevHost, run_devhost
from singleton import InvalidOrchestratorName, close_default_starter
from singleton.functions import starter_blueprint
from singleton.functions.http import START_FUNCTION_NAME, START_ROUTE, blueprint
from tests.redis_servers import RedisServer

APP = Path(__file__).parent / "two_starters" / "function_app.py"


def load_app() -> Any:
    spec = importlib.util.spec_from_file_location("two_starters_app", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def http_triggers(app: Any) -> dict[str, dict[str, Any]]:
    """Function name → its HTTP trigger binding, as the worker indexes the app."""
    triggers = {}
    for function in app.get_functions():
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        for binding in bindings:
            if binding["type"] == "httpTrigger":
                triggers[function.get_function_name()] = binding
        if any(b["type"] == "httpTrigger" for b in bindings):
            assert any(b["type"] == "durableClient" for b in bindings)
    return triggers


def test_each_starter_is_indexed_with_its_own_name_route_and_auth_level() -> None:
    triggers = http_triggers(load_app())

    assert set(triggers) == {"StartSingleton", "HttpStart", "StartEcho"}
    assert triggers["StartSingleton"]["route"] == "orchestrators/{functionName}/{instanceId}"
    assert triggers["StartSingleton"]["authLevel"] == "FUNCTION"
    assert triggers["HttpStart"]["route"] == "jobs/{functionName}/{instanceId}"
    assert triggers["HttpStart"]["authLevel"] == "ANONYMOUS"
    assert triggers["StartEcho"]["route"] == "echo/{instanceId}"
    assert str(triggers["StartEcho"]["authLevel"]).upper() == "ADMIN"
    for binding in triggers.values():
        assert [m.upper() for m in binding["methods"]] == ["POST"]


def test_the_module_blueprint_is_the_default_starter() -> None:
    assert (START_ROUTE, START_FUNCTION_NAME) == (
        "orchestrators/{functionName}/{instanceId}",
        "StartSingleton",
    )
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(blueprint)
    assert http_triggers(app)["StartSingleton"]["route"] == START_ROUTE


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"route": "start/{functionName}"}, ValueError, "instanceId"),
        ({"route": "start/{instanceId}"}, ValueError, "orchestrators="),
        ({"route": "start/{instanceId}", "orchestrators": ["A", "B"]}, ValueError, "no {funct"),
        ({"orchestrators": "Echo"}, TypeError, "not one string"),
        ({"orchestrators": []}, ValueError, "empty"),
        ({"orchestrators": ["@bad"]}, InvalidOrchestratorName, "@bad"),
        ({"name": "has space"}, ValueError, "identifier"),
    ],
)
def test_a_starter_that_could_not_work_is_refused_at_import(
    options: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        starter_blueprint(**options)


@pytest.fixture
async def host(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningDevHost]:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("SINGLETON_KEY_PREFIX", "two-starters")
    await close_default_starter()
    try:
        async with run_devhost(
            app_path=APP, port=0, out=io.StringIO(), run_timers=False
        ) as running:
            yield running
    finally:
        await close_default_starter()


async def post(url: str, body: object = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def output_of(status_url: str) -> Any:
    """The orchestration's output once it completed (polled, bounded)."""
    body: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            async with http.get(status_url) as response:
                body = await response.json()
            if body.get("runtimeStatus") == "Completed":
                return body["output"]
            await asyncio.sleep(0.05)
    raise AssertionError(f"never completed: {body}")


@pytest.mark.redis
async def test_each_starter_answers_under_its_own_route(host: RunningDevHost) -> None:
    status, body = await post(host.url("orchestrators/Other/d-1"), {"n": 1})
    assert status == 202, body
    assert body["id"] == "d-1"
    assert await output_of(body["statusQueryGetUri"]) == {"other": {"n": 1}}

    status, body = await post(host.url("jobs/Echo/j-1"), {"n": 2})
    assert status == 202, body
    assert body["id"] == "j-1"

    status, body = await post(host.url("echo/e-1"), {"n": 3})
    assert status == 202, body
    # The route names no orchestrator: the one in orchestrators= (Echo) ran.
    assert await output_of(body["statusQueryGetUri"]) == {"n": 3}

    # The same instance ID through another starter: the same starter's decision.
    await output_of(body["statusQueryGetUri"].replace("e-1", "j-1"))
    status, body = await post(host.url("orchestrators/Echo/j-1?reuse=reject"))
    assert status == 409, body
    assert body["type"] == "urn:durable-singleton:problem:reuse-rejected"
    assert len(host.backend.start_records("j-1")) == 1


@pytest.mark.redis
async def test_a_restricted_starter_refuses_other_orchestrators_and_starts_nothing(
    host: RunningDevHost,
) -> None:
    status, problem = await post(host.url("jobs/Other/j-2"), {"n": 1})

    assert status == 404
    assert problem["type"] == "urn:durable-singleton:problem:unknown-orchestrator"
    assert "'Other'" in problem["detail"]
    assert host.backend.start_records("j-2") == []
    # Durable function names are case-insensitive: so is the list (the start goes on to the
    # host, whatever the local backend then makes of the case).
    status, body = await post(host.url("jobs/echo/j-3"))
    assert body.get("type") != "urn:durable-singleton:problem:unknown-orchestrator", body
