"""Apps shaped like the official samples (azure-functions-durable-python ``samples-v2``:
function_chaining, simple_sub_orchestration, fan_in_fan_out) run unmodified on the devhost.

The apps are written here, in the samples' shape (a ``DFApp``, an HTTP starter on
``orchestrators/{functionName}`` that calls ``start_new`` and ``create_check_status_response``,
orchestrators and activities by decorator), into a temporary directory at test time; the
samples' own code is not copied into the project.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost import run_devhost

_STARTER = """
import azure.functions as func
import azure.durable_functions as df

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}")
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client):
    instance_id = await client.start_new(req.route_params.get("functionName"))
    return client.create_check_status_response(req, instance_id)
"""

_CHAINING = """

@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("greet", "Oslo")
    second = yield context.call_activity("greet", "Lima")
    return [first, second]


@app.activity_trigger(input_name="place")
def greet(place: str) -> str:
    return "Hi " + place
"""

_SUB_ORCHESTRATION = """

@app.orchestration_trigger(context_name="context")
def outer(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("inner", "Quito"))


@app.orchestration_trigger(context_name="context")
def inner(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("shout", context.get_input()))


@app.activity_trigger(input_name="word")
def shout(word: str):
    return word.upper()
"""

_FAN_OUT = """

@app.orchestration_trigger(context_name="context")
def spread(context: df.DurableOrchestrationContext):
    parts = yield context.call_activity("split_work", 4)
    sizes = yield context.task_all([context.call_activity("measure", p) for p in parts])
    return sum(sizes)


@app.activity_trigger(input_name="count")
def split_work(count: int) -> list:
    return ["x" * n for n in range(1, count + 1)]


@app.activity_trigger(input_name="part")
async def measure(part: str) -> int:
    return len(part)
"""


async def _run_sample(tmp_path: Path, body: str, orchestrator: str) -> Any:
    (tmp_path / "function_app.py").write_text(_STARTER + body, encoding="utf-8")
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}), encoding="utf-8")
    async with (
        run_devhost(app_path=tmp_path / "function_app.py", environ={}, run_timers=False) as host,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        async with http.post(host.url(f"orchestrators/{orchestrator}")) as response:
            assert response.status == 202
            status_url = (await response.json())["statusQueryGetUri"]
        for _ in range(200):
            async with http.get(status_url) as response:
                status = await response.json()
            if status["runtimeStatus"] not in ("Pending", "Running"):
                return status
            await asyncio.sleep(0.02)
    pytest.fail(f"{orchestrator} did not finish: {status}")


async def test_function_chaining_shape(tmp_path: Path) -> None:
    status = await _run_sample(tmp_path, _CHAINING, "chain")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", ["Hi Oslo", "Hi Lima"])


async def test_sub_orchestration_shape(tmp_path: Path) -> None:
    status = await _run_sample(tmp_path, _SUB_ORCHESTRATION, "outer")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "QUITO")


async def test_fan_out_fan_in_shape(tmp_path: Path) -> None:
    status = await _run_sample(tmp_path, _FAN_OUT, "spread")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 1 + 2 + 3 + 4)
