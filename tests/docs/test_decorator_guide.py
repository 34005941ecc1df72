"""Guide 2's Function App, run as the worker would run it: indexed with azure-functions' own
API, each function called with the real ``azure.functions`` object of its trigger
(HttpRequest, QueueMessage, ServiceBusMessage, TimerRequest), its lease on a real
redis-server. The stand-in work is replaced by recorders that count how many run at once."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from singleton import LeaseBusy, close_default_starter
from tests.docs.blocks import tagged
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis


class Overlap:
    """Counts how many calls of one scope run at once (threads or tasks)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.calls: list[str] = []

    def enter(self, scope: str) -> None:
        with self.lock:
            self.running[scope] = self.running.get(scope, 0) + 1
            self.most[scope] = max(self.most.get(scope, 0), self.running[scope])
            self.calls.append(scope)

    def leave(self, scope: str) -> None:
        with self.lock:
            self.running[scope] -= 1


@pytest.fixture
async def guide(
    tmp_path: Path, redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ModuleType, dict[str, Callable[..., Any]], Overlap]]:
    """The guide's module imported, its functions indexed, its stand-ins recording."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    await close_default_starter()
    path = tmp_path / "guide_triggers.py"
    path.write_text(tagged("module", "triggers").code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("guide_triggers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["guide_triggers"] = module
    spec.loader.exec_module(module)
    indexed = module.app.get_functions()  # once per app, as the worker does
    module.INDEXED = indexed
    functions = {f.get_function_name(): f.get_user_function() for f in indexed}
    overlap = Overlap()

    async def render(customer_id: str, *, fence: int) -> None:
        overlap.enter(f"report:{customer_id}:{fence > 0}")
        await asyncio.sleep(0.2)
        overlap.leave(f"report:{customer_id}:{fence > 0}")

    def ship(order: dict[str, Any]) -> None:
        overlap.enter(f"order:{order['customerId']}")
        time.sleep(0.05)
        overlap.leave(f"order:{order['customerId']}")

    async def charge(body: bytes) -> None:
        account = json.loads(body)["accountId"]
        overlap.enter(f"payment:{account}")
        await asyncio.sleep(0.3)
        overlap.leave(f"payment:{account}")

    async def roll_up() -> None:
        overlap.enter("hourly")
        await asyncio.sleep(0.3)
        overlap.leave("hourly")

    monkeypatch.setattr(module, "render", render)
    monkeypatch.setattr(module, "ship", ship)
    monkeypatch.setattr(module, "charge", charge)
    monkeypatch.setattr(module, "roll_up", roll_up)
    yield module, functions, overlap
    sys.modules.pop("guide_triggers", None)
    await close_default_starter()


Guide = tuple[ModuleType, dict[str, Callable[..., Any]], Overlap]


def test_it_indexes_one_function_per_trigger_with_its_bindings(guide: Guide) -> None:
    module, _functions, _ = guide
    triggers = {f.get_function_name(): f.get_trigger().get_binding_name() for f in module.INDEXED}
    assert triggers == {
        "build_report": "httpTrigger",
        "handle_order": "queueTrigger",
        "handle_payment": "serviceBusTrigger",
        "hourly": "timerTrigger",
    }


async def test_http_a_concurrent_build_for_one_customer_is_a_409(guide: Guide) -> None:
    _, functions, overlap = guide

    def request(customer: str) -> func.HttpRequest:
        return func.HttpRequest(
            method="POST",
            url=f"http://127.0.0.1/api/reports/{customer}",
            route_params={"customerId": customer},
            body=b"",
        )

    first = asyncio.create_task(functions["build_report"](request("acme")))
    await asyncio.sleep(0.1)
    busy, other = await asyncio.gather(
        functions["build_report"](request("acme")), functions["build_report"](request("globex"))
    )
    assert (await first).status_code == 200
    assert busy.status_code == 409
    assert busy.headers["Retry-After"] == "1"
    assert other.status_code == 200
    # The body saw its lease (a fence > 0) and ran once per customer.
    assert sorted(overlap.calls) == ["report:acme:True", "report:globex:True"]


async def test_queue_orders_of_one_customer_wait_for_each_other(guide: Guide) -> None:
    _, functions, overlap = guide

    def message(n: int, customer: str) -> func.QueueMessage:
        body = json.dumps({"customerId": customer, "n": n}).encode()
        return QueueMessage(id=f"m-{n}", body=body, dequeue_count=1)

    await asyncio.gather(
        *(functions["handle_order"](message(n, "acme" if n % 2 else "globex")) for n in range(10))
    )
    assert len(overlap.calls) == 10  # every message handled: each waited its turn
    assert overlap.most == {"order:acme": 1, "order:globex": 1}


async def test_service_bus_a_busy_account_raises_lease_busy_for_redelivery(guide: Guide) -> None:
    _, functions, overlap = guide

    def message(account: str) -> func.ServiceBusMessage:
        return ServiceBusMessage(
            body=json.dumps({"accountId": account}).encode(),
            message_id=f"p-{account}",
            application_properties={},
            user_properties={},
        )

    first = asyncio.create_task(functions["handle_payment"](message("a-1")))
    await asyncio.sleep(0.1)
    with pytest.raises(LeaseBusy):
        await functions["handle_payment"](message("a-1"))
    await first
    await functions["handle_payment"](message("a-1"))  # redelivered once free: runs
    assert overlap.calls == ["payment:a-1", "payment:a-1"]


async def test_timer_a_late_run_is_skipped(guide: Guide) -> None:
    _, functions, overlap = guide
    runs = await asyncio.gather(
        functions["hourly"](TimerRequest(past_due=False)),
        functions["hourly"](TimerRequest(past_due=True)),
    )
    assert runs == [None, None]
    assert overlap.calls == ["hourly"]


async def test_the_lease_example_holds_and_its_fences_increase(
    tmp_path: Path, redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    path = tmp_path / "guide_lease.py"
    path.write_text(tagged("module", "lease").code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("guide_lease", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    first = await module.nightly_report()
    second = await module.nightly_report()

    assert 0 < first < second
    assert await redis_client.keys("my-app:*lease") == []  # released on the way out
