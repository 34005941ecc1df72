"""``@singleton(scope, limit=N)``: at most N invocations of one scope at once, and the
per-function app setting ``SINGLETON_LIMIT_<FUNCTION>`` that overrides it."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
import pytest

from singleton import singleton
from singleton._settings import limit_setting
from tests.functions.conftest import MakeLeases, http_request

pytestmark = pytest.mark.redis


class Meter:
    """How many bodies run at once, and the most that ever did."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.runs = 0

    async def run(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.03)
        self.now -= 1
        self.runs += 1


async def test_limit_3_runs_3_of_one_scope_at_once_and_never_4(make_leases: MakeLeases) -> None:
    leases = make_leases(ttl=5, wait=30)
    meter = Meter()

    @singleton("{customerId}", limit=3, leases=lambda: leases)
    async def build(req: func.HttpRequest) -> func.HttpResponse:
        await meter.run()
        return func.HttpResponse("built")

    responses = await asyncio.gather(*(build(http_request("c1")) for _ in range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    assert meter.runs == 12
    assert meter.most == 3


async def test_the_app_setting_overrides_the_code_limit(
    make_leases: MakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = make_leases(ttl=5, wait=30)
    meter = Meter()

    @singleton("{customerId}", leases=lambda: leases)  # limit 1 in the code
    async def sync_orders(req: func.HttpRequest) -> func.HttpResponse:
        await meter.run()
        return func.HttpResponse("synced")

    assert limit_setting("sync_orders") == "SINGLETON_LIMIT_SYNC_ORDERS"
    monkeypatch.setenv("SINGLETON_LIMIT_SYNC_ORDERS", "2")
    responses = await asyncio.gather(*(sync_orders(http_request("c1")) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert meter.most == 2


async def test_a_malformed_limit_setting_is_a_clear_500_and_nothing_runs(
    make_leases: MakeLeases, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = make_leases(ttl=5, wait=30)
    meter = Meter()

    @singleton("{customerId}", leases=lambda: leases)
    async def nightly(req: func.HttpRequest) -> func.HttpResponse:
        await meter.run()
        return func.HttpResponse("ran")

    monkeypatch.setenv("SINGLETON_LIMIT_NIGHTLY", "0")
    response = await nightly(http_request("c1"))
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "SINGLETON_LIMIT_NIGHTLY" in json.loads(response.get_body())["detail"]
    assert meter.runs == 0


@pytest.mark.parametrize("limit", [0, -2, True, 2.0, "3"])
def test_a_bad_limit_is_refused_at_decoration(limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        singleton("{customerId}", limit=limit)  # type: ignore[call-overload]
