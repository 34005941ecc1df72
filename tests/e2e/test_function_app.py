"""The real function_app.py on the devhost: what a user sees over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from examples.orchestrations import APPROVAL_EVENT, AWAIT_APPROVAL, MONITOR, PROCESS_BATCH
from tests.e2e.conftest import RACE_APP, DevHostFactory, wait_for_status

pytestmark = pytest.mark.redis

STORM = 100


async def test_a_storm_on_one_id_starts_it_once_and_it_runs_to_completion(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost(storage_latency=0.005) as host:
        url = host.url(f"orchestrators/{AWAIT_APPROVAL}/storm-1")
        bodies = [f'{{"caller": {n}}}'.encode() for n in range(STORM)]

        async def post(body: bytes) -> tuple[int, dict[str, object]]:
            async with http.post(url, data=body) as response:
                return response.status, await response.json(content_type=None)

        answers = await asyncio.gather(*(post(body) for body in bodies))

        assert Counter(status for status, _ in answers) == Counter({202: 1, 409: STORM - 1})
        assert len(host.backend.start_records("storm-1")) == 1
        started = next(body for status, body in answers if status == 202)
        for status, body in answers:
            if status == 409:
                assert body["runtimeStatus"] in {"Pending", "Running"}
                assert body["statusQueryGetUri"] == started["statusQueryGetUri"]

        event_url = str(started["sendEventPostUri"]).replace("{eventName}", APPROVAL_EVENT)
        async with http.post(event_url, json="alice") as response:
            assert response.status == 202
        final = await wait_for_status(http, str(started["statusQueryGetUri"]), {"Completed"})
        assert final["output"] == {"decision": "approved", "by": "alice"}


async def test_a_finishing_orchestration_computes_its_output(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost() as host:
        async with http.post(
            host.url(f"orchestrators/{PROCESS_BATCH}/batch-1"), json={"items": [1, 2, 3, 4]}
        ) as response:
            assert response.status == 202
            status_url = response.headers["Location"]

        final = await wait_for_status(http, status_url, {"Completed"})

        assert final["output"] == {"items": 4, "total": 20}


async def test_the_timer_wins_when_no_approval_comes(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost() as host:
        async with http.post(
            host.url(f"orchestrators/{AWAIT_APPROVAL}/late"), json={"timeoutSeconds": 0.3}
        ) as response:
            assert response.status == 202
            status_url = response.headers["Location"]

        final = await wait_for_status(http, status_url, {"Completed"})

        assert final["output"] == {"decision": "timed out"}


async def test_the_eternal_monitor_conflicts_terminates_and_starts_again(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost() as host:
        url = host.url(f"orchestrators/{MONITOR}/monitor-1")
        async with http.post(url, json={"target": "db", "intervalSeconds": 0.1}) as response:
            assert response.status == 202
            links = await response.json()

        # It keeps going round: check, timer, continue_as_new.
        checks_seen: set[int] = set()
        for _ in range(100):
            async with http.get(links["statusQueryGetUri"]) as response:
                assert response.status == 202  # the host's answer while it runs
                status = await response.json()
            assert status["runtimeStatus"] in {"Running", "ContinuedAsNew", "Pending"}
            if status["customStatus"]:
                checks_seen.add(status["customStatus"]["checks"])
            if len(checks_seen) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(checks_seen) >= 3, checks_seen

        async with http.post(url) as response:
            assert response.status == 409
            assert response.content_type == "application/problem+json"

        terminate = links["terminatePostUri"].replace("{text}", "demo")
        async with http.post(terminate) as response:
            assert response.status == 202
        await wait_for_status(http, links["statusQueryGetUri"], {"Terminated"})
        async with http.post(terminate) as response:
            assert response.status == 410  # the host's answer for a finished instance

        async with http.post(url, json={"intervalSeconds": 0.1}) as response:
            assert response.status == 202

        async with http.post(terminate) as response:
            assert response.status == 202
        await wait_for_status(http, links["statusQueryGetUri"], {"Terminated"})
        async with http.delete(links["purgeHistoryDeleteUri"]) as response:
            assert response.status == 200
            assert (await response.json())["instancesDeleted"] == 1
        async with http.get(links["statusQueryGetUri"]) as response:
            assert response.status == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "no/such/route", 404),
        ("GET", f"orchestrators/{MONITOR}/m", 404),  # the host routes by method: no match
        ("POST", "orchestrators/NoSuchOrchestrator/m", 400),
        ("POST", f"orchestrators/{MONITOR}/%40entity", 400),
        ("POST", f"orchestrators/{MONITOR}/50%25", 400),
        ("POST", f"orchestrators/{MONITOR}/a%20b", 400),
    ],
)
async def test_bad_requests_get_clear_answers(
    devhost: DevHostFactory, http: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    async with devhost() as host:
        url = host.url(path)
        async with http.request(method, url) as response:
            assert response.status == status
            if status == 400:
                assert response.content_type == "application/problem+json"
                assert (await response.json())["detail"]
        assert host.backend.start_records("m") == []


async def test_invalid_json_body_is_400_and_starts_nothing(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost() as host:
        async with http.post(host.url(f"orchestrators/{MONITOR}/j"), data=b"{oops") as response:
            assert response.status == 400
            assert "JSON" in (await response.json())["detail"]
        assert host.backend.start_records("j") == []


async def test_with_azure_storage_latency_the_sample_races_and_ours_does_not(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    """The documented sample and ours, on one host emulating Azure Storage's race."""

    async def storm(url: str) -> Counter[int]:
        async def post() -> int:
            async with http.post(url, json={"timeoutSeconds": 60}) as response:
                return response.status

        return Counter(await asyncio.gather(*(post() for _ in range(30))))

    async with devhost(app=RACE_APP, storage_latency=0.02) as host:
        sample = await storm(host.url(f"seed/orchestrators/{AWAIT_APPROVAL}/raced"))
        ours = await storm(host.url(f"orchestrators/{AWAIT_APPROVAL}/guarded"))

        assert sample[202] > 1, sample
        assert [r.lost for r in host.backend.start_records("raced")].count(False) == 1
        assert ours == Counter({202: 1, 409: 29})
        assert len(host.backend.start_records("guarded")) == 1
