"""Every guide's code that can run here runs here: the apps are served on the devhost with a
real redis-server and called over real HTTP, the shell blocks are run with bash against them
and their output compared with the output the guide shows."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
import pytest

from tests.docs.blocks import ROOT, tagged
from tests.docs.conftest import ServeBlock, run_shell, wait_for_status

pytestmark = pytest.mark.redis


async def test_the_readme_quickstart_mounts_the_starter_and_guards_the_report(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("readme") as host:
        # The starter is mounted; an orchestrator this app lacks is the host's refusal (400).
        async with http.post(host.url("orchestrators/Nope/x-1")) as response:
            assert response.status == 400
            assert response.content_type == "application/problem+json"
        async with http.post(host.url("reports/acme")) as response:
            assert response.status == 200
            assert await response.text() == "report for acme"


async def test_guide_1_the_mounted_starter_answers_one_202_to_concurrent_callers(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("httpstart", storage_latency=0.005) as host:
        url = host.url("orchestrators/NightlyImport/nightly")

        async def post() -> int:
            async with http.post(url, json={"day": "2026-12-04"}) as response:
                return response.status

        statuses = await asyncio.gather(*(post() for _ in range(20)))

        assert Counter(statuses) == Counter({202: 1, 409: 19})
        assert len(host.backend.start_records("nightly")) == 1


async def test_guide_1_an_own_route_answers_through_handle_start_request(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("own-route") as host:
        async with http.post(host.url("jobs/NightlyImport/job-1")) as response:
            assert response.status == 202
            started = await response.json()
        async with http.post(host.url("jobs/NightlyImport/job-1")) as response:
            assert response.status == 409
            assert (await response.json())["instanceId"] == "job-1"
        async with http.post(host.url("jobs/Elsewhere/job-2")) as response:
            assert response.status == 404
            assert (await response.json())["type"].endswith(":unknown-orchestrator")
        async with http.post(
            host.url("jobs/NightlyImport/job-3"), headers={"X-Tenant": "suspended"}
        ) as response:
            assert response.status == 403  # the function's own check, before any start
        assert started["id"] == "job-1"
        assert host.backend.start_records("job-2") == []
        assert host.backend.start_records("job-3") == []


async def test_guide_1_starter_blueprint_mounts_a_route_and_an_allow_list(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("custom-route") as host:
        async with http.post(host.url("jobs/NightlyImport/j-1"), json={"day": 4}) as response:
            assert response.status == 202
        # The allow-list ignores case, as the host's function names do: the same instance.
        async with http.post(host.url("jobs/nightlyimport/j-1")) as response:
            assert response.status == 409
        async with http.post(host.url("jobs/BuildReport/j-2")) as response:
            assert response.status == 404
            assert response.content_type == "application/problem+json"
            assert (await response.json())["type"].endswith(":unknown-orchestrator")
        # The one-orchestrator route starts BuildReport without naming it.
        async with http.post(host.url("reports/r-1")) as response:
            assert response.status == 202
            status_url = (await response.json())["statusQueryGetUri"]
        status = await wait_for_status(http, status_url, {"Completed"})
        assert status["output"] == {"report": "r-1"}
        assert len(host.backend.start_records("j-1")) == 1
        assert host.backend.start_records("j-2") == []


def test_guide_1_local_settings_name_only_known_settings() -> None:
    values = json.loads(tagged("settings-json").code)["Values"]
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    from tests.docs.test_settings_table import code_settings

    ours = {name for name in values if name.startswith(("REDIS_", "SINGLETON_"))}
    assert ours <= code_settings()
    assert values["FUNCTIONS_WORKER_RUNTIME"] == example["FUNCTIONS_WORKER_RUNTIME"]


@pytest.mark.parametrize("name", ["policies", "idempotency"])
async def test_guide_3_the_shell_blocks_print_what_the_guide_shows(
    name: str, serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("httpstart") as host:
        out = await run_shell(tagged("shell", name), host)
        assert out == tagged("output", name).code
        if name == "policies":
            # The event raised with the last call finished the orchestration it started.
            status = await wait_for_status(
                http,
                f"{host.base_url}/runtime/webhooks/durabletask/instances/night-1",
                {"Completed"},
            )
            assert status["output"] == "imported"


async def test_guide_3_the_library_starts_once_and_raises_the_event_with_start(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve("library", run_timers=True) as host:
        # The timer ran on startup: the monitor runs, started once.
        await wait_for_status(
            http, f"{host.base_url}/runtime/webhooks/durabletask/instances/monitor", {"Running"}
        )
        assert len(host.backend.start_records("monitor")) == 1

        async with http.post(host.url("approve/7"), headers={"Idempotency-Key": "k-7"}) as r:
            assert (r.status, await r.text()) == (200, "started")
        status = await wait_for_status(
            http, f"{host.base_url}/runtime/webhooks/durabletask/instances/order-7", {"Completed"}
        )
        assert status["output"] == {"approved_by": "alice"}
        # The same request again is the stored answer; a new key meets reuse=REJECT.
        async with http.post(host.url("approve/7"), headers={"Idempotency-Key": "k-7"}) as r:
            assert (r.status, await r.text()) == (200, "started")
        async with http.post(host.url("approve/7"), headers={"Idempotency-Key": "k-8"}) as r:
            assert (r.status, await r.text()) == (200, "reuse_rejected")
        assert len(host.backend.start_records("order-7")) == 1


async def test_guide_4_the_tour_prints_what_the_guide_shows(
    serve: ServeBlock, http: aiohttp.ClientSession
) -> None:
    async with serve(path=ROOT / "function_app.py") as host:
        assert await run_shell(tagged("shell", "tour"), host) == tagged("output", "tour").code


async def test_guide_4_the_race_on_a_slow_store_still_starts_once(serve: ServeBlock) -> None:
    async with serve(path=ROOT / "function_app.py", storage_latency=0.02) as host:
        assert await run_shell(tagged("shell", "storm"), host) == tagged("output", "storm").code
        assert len(host.backend.start_records("storm-1")) == 1


async def test_guide_6_the_admin_endpoint_lists_and_refuses_an_unknown_release(
    serve: ServeBlock,
) -> None:
    async with serve(path=ROOT / "function_app.py") as host:
        assert await run_shell(tagged("shell", "admin"), host) == tagged("output", "admin").code
