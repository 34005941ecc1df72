"""On queue and Service Bus triggers ``on_busy="wait"`` waits up to the function's own timeout
less a margin (issue 15): a message whose scope frees in time is run, not retried and
poisoned. Before, it waited ``SINGLETON_LEASE_WAIT`` (5 s) and raised, so the host retried it
and, after ``maxDequeueCount`` tries, moved it to the poison queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import azure.functions as func
import pytest

from singleton import ConfigurationError, LeaseBusy, singleton
from singleton.functions._host import (
    CONSUMPTION_TIMEOUT,
    ENTITY_LOCK,
    LOCK_RENEWAL,
    PLAN_TIMEOUT,
    UNLIMITED_WAIT,
    function_timeout,
    lock_renewal,
    message_wait,
)
from tests.functions.conftest import MakeLeases, http_request, queue_message


def app_root(tmp_path: Path, host: object | None) -> dict[str, str]:
    if host is not None:
        text = host if isinstance(host, str) else json.dumps(host)
        (tmp_path / "host.json").write_text(text, encoding="utf-8")
    return {"AzureWebJobsScriptRoot": str(tmp_path)}


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [("00:10:00", 600.0), ("00:00:30", 30.0), ("1.00:00:00", 86400.0), ("00:00:01.5", 1.5)],
)
def test_host_json_function_timeout_is_read_from_the_app_root(
    tmp_path: Path, timeout: str, seconds: float
) -> None:
    environ = app_root(tmp_path, {"version": "2.0", "functionTimeout": timeout})
    assert function_timeout(environ | {"WEBSITE_SKU": "Dynamic"}) == seconds


def test_unlimited_function_timeout_waits_the_unlimited_wait(tmp_path: Path) -> None:
    environ = app_root(tmp_path, {"functionTimeout": "-1"})
    assert function_timeout(environ) is None
    assert message_wait(environ) == UNLIMITED_WAIT


@pytest.mark.parametrize(
    ("sku", "seconds"),
    [
        ("Dynamic", CONSUMPTION_TIMEOUT),
        ("ElasticPremium", PLAN_TIMEOUT),
        ("FlexConsumption", PLAN_TIMEOUT),
        ("Standard", PLAN_TIMEOUT),
        (None, CONSUMPTION_TIMEOUT),  # not on App Service (a local run): the shortest
    ],
)
def test_without_function_timeout_the_plans_default_applies(
    tmp_path: Path, sku: str | None, seconds: float
) -> None:
    environ = app_root(tmp_path, {"version": "2.0"})
    if sku is not None:
        environ["WEBSITE_SKU"] = sku
    assert function_timeout(environ) == seconds
    assert function_timeout(app_root(tmp_path / "missing", None) | environ) == seconds


def test_the_working_directory_is_the_root_without_the_hosts_setting(tmp_path: Path) -> None:
    app_root(tmp_path, {"functionTimeout": "00:02:00"})
    assert function_timeout({}, cwd=tmp_path) == 120.0


def test_the_margin_is_a_tenth_within_1_and_60_seconds(tmp_path: Path) -> None:
    for timeout, wait in (("00:05:00", 270.0), ("00:30:00", 1740.0), ("00:00:05", 4.0)):
        assert message_wait(app_root(tmp_path, {"functionTimeout": timeout})) == wait


def test_a_host_json_with_comments_falls_back_to_the_plan_default_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = app_root(
        tmp_path, '{\n  // the host allows comments\n  "functionTimeout": "00:01:00"\n}'
    )
    with caplog.at_level(logging.WARNING, logger="singleton.functions._host"):
        assert function_timeout(environ | {"WEBSITE_SKU": "Standard"}) == PLAN_TIMEOUT
    assert "not plain JSON" in caplog.text


@pytest.mark.parametrize("bad", ["five minutes", "00:00:00", "00:05", 300])
def test_a_malformed_function_timeout_is_a_configuration_error(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="functionTimeout"):
        function_timeout(app_root(tmp_path, {"functionTimeout": bad}))


def test_service_bus_waits_no_longer_than_the_host_renews_the_message_lock(
    tmp_path: Path,
) -> None:
    plan = {"WEBSITE_SKU": "ElasticPremium"}  # 30 min
    environ = app_root(tmp_path, {"version": "2.0"}) | plan
    assert lock_renewal(environ) == LOCK_RENEWAL
    assert message_wait(environ) == 1740.0  # a Storage queue: the function timeout
    assert message_wait(environ, service_bus=True) == 270.0  # 5 min of lock renewal
    renewed = {"extensions": {"serviceBus": {"maxAutoLockRenewalDuration": "00:20:00"}}}
    assert message_wait(app_root(tmp_path, renewed) | plan, service_bus=True) == 1140.0
    unlimited = {"functionTimeout": "-1", **renewed}
    assert message_wait(app_root(tmp_path, unlimited), service_bus=True) == 1140.0
    none = {"extensions": {"serviceBus": {"maxAutoLockRenewalDuration": "00:00:00"}}}
    assert lock_renewal(app_root(tmp_path, none)) == ENTITY_LOCK
    bad = {"extensions": {"serviceBus": {"maxAutoLockRenewalDuration": "-1"}}}
    with pytest.raises(ConfigurationError, match="maxAutoLockRenewalDuration"):
        lock_renewal(app_root(tmp_path, bad))


class Holder:
    """A body that holds its scope until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.released = asyncio.Event()
        self.runs: list[float] = []

    async def hold(self) -> None:
        self.runs.append(time.monotonic())
        self.entered.set()
        await self.released.wait()


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("message", ["queue", "service bus"])
async def test_wait_holds_the_message_until_the_scope_frees_beyond_the_lease_wait(
    message: str, make_leases: MakeLeases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_root(tmp_path, {"functionTimeout": "00:00:30"}).items():
        monkeypatch.setenv(name, value)  # waits 27 s
    leases = make_leases(wait=5)  # SINGLETON_LEASE_WAIT's default: what it waited before
    holder = Holder()

    @singleton("{customerId}", leases=lambda: leases)
    async def on_order(msg: func.QueueMessage) -> None:
        await holder.hold()

    @singleton("{customerId}", leases=lambda: leases)
    async def on_bus(msg: func.ServiceBusMessage) -> None:
        await holder.hold()

    def invoke() -> asyncio.Task[None]:
        if message == "queue":
            return asyncio.create_task(on_order(queue_message({"customerId": "c1"})))
        bus = func.ServiceBusMessage(body=json.dumps({"customerId": "c1"}).encode())
        return asyncio.create_task(on_bus(bus))

    first = invoke()
    await asyncio.wait_for(holder.entered.wait(), 5)
    second = invoke()
    await asyncio.sleep(6)  # past the 5 s the message used to wait
    assert not second.done()
    assert len(holder.runs) == 1
    freed = time.monotonic()
    holder.released.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert len(holder.runs) == 2
    assert holder.runs[1] >= freed  # the second ran once the first freed its scope


@pytest.mark.redis
async def test_wait_gives_up_before_the_function_timeout(
    make_leases: MakeLeases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_root(tmp_path, {"functionTimeout": "00:00:03"}).items():
        monkeypatch.setenv(name, value)  # waits 2 s, though the lease policy would wait 30
    leases = make_leases(wait=30)
    holder = Holder()

    @singleton("{customerId}", leases=lambda: leases)
    async def on_order(msg: func.QueueMessage) -> None:
        await holder.hold()

    first = asyncio.create_task(on_order(queue_message({"customerId": "c1"})))
    await asyncio.wait_for(holder.entered.wait(), 5)
    started = time.monotonic()
    with pytest.raises(LeaseBusy):
        await on_order(queue_message({"customerId": "c1"}))
    assert 2.0 <= time.monotonic() - started < 2.9  # before the host's 3 s cut-off
    assert len(holder.runs) == 1
    holder.released.set()
    await first


@pytest.mark.redis
async def test_http_keeps_the_lease_policys_wait(
    make_leases: MakeLeases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_root(tmp_path, {"functionTimeout": "00:10:00"}).items():
        monkeypatch.setenv(name, value)
    leases = make_leases(wait=0.3)
    holder = Holder()

    @singleton("{customerId}", leases=lambda: leases)
    async def build(req: func.HttpRequest) -> func.HttpResponse:
        await holder.hold()
        return func.HttpResponse("built")

    first = asyncio.create_task(build(http_request("c1")))
    await asyncio.wait_for(holder.entered.wait(), 5)
    started = time.monotonic()
    assert (await build(http_request("c1"))).status_code == 409
    assert time.monotonic() - started < 2.0  # the policy's 0.3 s, not the function's 9 min
    holder.released.set()
    await first


@pytest.mark.redis
async def test_a_malformed_function_timeout_fails_the_message_before_it_runs(
    make_leases: MakeLeases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_root(tmp_path, {"functionTimeout": "soon"}).items():
        monkeypatch.setenv(name, value)
    leases = make_leases(wait=0)
    runs: list[str] = []

    @singleton("{customerId}", leases=lambda: leases)
    async def on_order(msg: func.QueueMessage) -> None:
        runs.append("queue")

    with pytest.raises(ConfigurationError, match="functionTimeout 'soon'"):
        await on_order(queue_message({"customerId": "c1"}))
    assert runs == []
