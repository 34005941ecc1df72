"""The README's ``@singleton`` queue example on the local host, against a real redis-server."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from tests.devhost.conftest import app_file
from tests.devhost.test_queues import messages, send, wait_for
from tests.redis_servers import RedisServer


@pytest.fixture
async def host(
    storage: str, redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningDevHost]:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    async with run_devhost(
        app_path=app_file("singleton_queue"), port=0, out=io.StringIO(), storage=storage
    ) as running:
        yield running
    sys.modules["function_app"].RELEASE.set()


async def test_orders_of_one_customer_never_overlap_and_all_run(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    app = sys.modules["function_app"]
    orders = [{"customerId": f"c{i % 3}", "order": i} for i in range(20)]
    await asyncio.gather(*(send(http, host, "orders", json.dumps(o).encode()) for o in orders))
    await wait_for(lambda: len(app.RUNS) == 20, timeout=30)
    assert sorted(order for _, order, _, _ in app.RUNS) == list(range(20))
    for customer in ("c0", "c1", "c2"):
        runs = sorted((start, end) for c, _, start, end in app.RUNS if c == customer)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(runs))
    # ... while different customers did run at the same time (the queue's batch is concurrent).
    spans = sorted((start, end) for _, _, start, end in app.RUNS)
    assert any(next_start < end for (_, end), (next_start, _) in itertools.pairwise(spans))


async def test_a_busy_scope_with_on_busy_fail_sends_the_message_to_poison(
    host: RunningDevHost, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    app = sys.modules["function_app"]
    caplog.set_level(logging.INFO, logger="devhost")
    await send(http, host, "hold", b'{"customerId": "c1"}')
    await wait_for(app.HOLDING.is_set)
    sent = await send(http, host, "busy", b'{"customerId": "c1", "order": 7}')
    poison: list[Any] = []
    for _ in range(1500):
        poison = await messages(http, host, "busy-poison")
        if poison:
            break
        await asyncio.sleep(0.02)
    app.RELEASE.set()
    assert [m["body"] for m in poison] == ['{"customerId": "c1", "order": 7}']
    assert app.BUSY_RAN == []  # the body never ran: the scope was held throughout
    failed = [r for r in caplog.records if r.getMessage().startswith("Executed 'Functions.busy'")]
    assert len(failed) == 5  # maxDequeueCount's default: five attempts, each refused busy
    assert all("Failed" in r.getMessage() for r in failed)
    assert "LeaseBusy" in caplog.text
    assert await messages(http, host, "busy") == []
    assert sent["id"] not in {m["id"] for m in poison}  # the poison copy is a new message
