"""End-to-end: function_app.py's ``BuildReport`` (``@singleton("{customerId}")``) on the devhost.

Concurrent POSTs over real HTTP: one build per customer runs, the others of that customer get
409 + Retry-After at once; another customer builds meanwhile; the fence grows per customer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import DevHostFactory

pytestmark = pytest.mark.redis


async def post(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], str | None]:
    async with http.post(url) as response:
        return (
            response.status,
            await response.json(content_type=None),
            response.headers.get("Retry-After"),
        )


async def test_one_report_build_per_customer_at_a_time(
    devhost: DevHostFactory, http: aiohttp.ClientSession
) -> None:
    async with devhost() as host:
        slow = host.url("reports/acme?seconds=1")
        answers = await asyncio.gather(
            *(post(http, slow) for _ in range(10)), post(http, host.url("reports/globex?seconds=0"))
        )
        acme, globex = answers[:10], answers[10]
        assert sorted(status for status, _, _ in acme) == [200] + [409] * 9
        built = next(body for status, body, _ in acme if status == 200)
        assert built["customerId"] == "acme"
        for status, body, retry_after in acme:
            if status == 409:
                assert body["type"] == "urn:durable-singleton:problem:scope-busy"
                assert retry_after == "1"
        assert globex[0] == 200
        assert globex[1]["finishedAt"] < built["finishedAt"]  # it did not wait for acme's build
        status, again, _ = await post(http, host.url("reports/acme?seconds=0"))
        assert status == 200
        assert again["fence"] > built["fence"]
