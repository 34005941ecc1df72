"""Service Bus queues and topics on the local host (embedded only), over real HTTP."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from tests.devhost.conftest import app_file
from tests.devhost.test_queues import wait_for


@pytest.fixture
async def host() -> AsyncIterator[RunningDevHost]:
    async with run_devhost(app_path=app_file("servicebus"), port=0, out=io.StringIO()) as running:
        yield running


def seen(function: str) -> list[Any]:
    return [m for name, m in sys.modules["function_app"].SEEN if name == function]


async def bus_messages(http: aiohttp.ClientSession, host: RunningDevHost, path: str) -> Any:
    url = f"{host.base_url}/admin/devhost/servicebus/{path}/messages"
    async with http.get(url) as response:
        assert response.status == 200
        return (await response.json())["messages"]


async def send(
    http: aiohttp.ClientSession, host: RunningDevHost, entity: str, body: bytes, **headers: str
) -> Any:
    url = f"{host.base_url}/admin/devhost/servicebus/{entity}/messages"
    async with http.post(url, data=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def test_a_topic_output_reaches_every_subscription_and_a_queue_output_its_queue(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    async with http.post(host.url("orders"), data=b"order-9") as response:
        assert response.status == 202
    await wait_for(lambda: len(seen("file_invoice")) == 1 and len(seen("ship")) == 1)
    (billed,) = seen("bill")
    assert billed.get_body() == b"order-9"
    assert billed.delivery_count == 1
    assert billed.message_id
    assert billed.sequence_number >= 1
    assert billed.enqueued_time_utc is not None
    assert seen("ship")[0].get_body() == b"order-9"
    assert seen("file_invoice")[0].get_body() == b"invoice for order-9"


async def test_message_properties_reach_the_function(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    await send(
        http,
        host,
        "invoices",
        b'{"n": 1}',
        **{"Content-Type": "application/json", "X-Properties": '{"tenant": "t1"}'},
    )
    await wait_for(lambda: len(seen("file_invoice")) == 1)
    (message,) = seen("file_invoice")
    assert message.content_type == "application/json"
    assert message.application_properties == {"tenant": "t1"}
    assert message.user_properties == {"tenant": "t1"}


async def test_an_always_failing_function_dead_letters_after_max_delivery_count(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    sent = await send(http, host, "doomed", b"cursed")
    dead: list[Any] = []
    for _ in range(500):
        dead = await bus_messages(http, host, "doomed/$DeadLetterQueue")
        if dead:
            break
        await asyncio.sleep(0.02)
    assert [m.delivery_count for m in seen("doomed")] == list(range(1, 11))
    assert {m.message_id for m in seen("doomed")} == {sent["messageId"]}
    (letter,) = dead
    assert letter["body"] == "cursed"
    assert letter["deadLetterReason"] == "MaxDeliveryCountExceeded"
    assert letter["messageId"] == sent["messageId"]
    assert await bus_messages(http, host, "doomed") == []


async def test_max_concurrent_calls_bounds_the_calls(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    for i in range(8):
        await send(http, host, "slow", str(i).encode())
    await wait_for(lambda: len(seen("slow")) == 8)
    assert sys.modules["function_app"].CONCURRENT[1] == 2  # maxConcurrentCalls in host.json


async def test_sessions_are_listed_as_not_run_and_admin_invokes_a_bus_function(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    assert "in_session: serviceBusTrigger (not run locally)" in host.banner
    assert "ship: serviceBusTrigger (Service Bus 'orders/Subscriptions/shipping')" in host.banner
    async with http.post(
        f"{host.base_url}/admin/functions/ship", json={"input": "by hand"}
    ) as response:
        assert response.status == 202
    await wait_for(lambda: len(seen("ship")) == 1)
    assert seen("ship")[0].get_body() == b"by hand"
    async with http.get(f"{host.base_url}/admin/devhost/servicebus") as response:
        paths = {e["path"] for e in (await response.json())["entities"]}
    assert {"orders/Subscriptions/billing", "orders/Subscriptions/shipping", "doomed"} <= paths
