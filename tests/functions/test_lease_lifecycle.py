"""The lease around a ``@singleton`` body: its fence, renewal through a long invocation, its
loss, and failing closed (no scope, no Redis, no settings: the body never runs)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import azure.functions as func
import pytest
import redis.asyncio as aioredis

from singleton import (
    InvalidScope,
    Lease,
    LeaseLost,
    Leases,
    LeaseUnavailable,
    close_default_starter,
    current_lease,
    singleton,
)
from tests.functions.conftest import MakeLeases, http_request, queue_message, timer_request
from tests.redis_servers import free_port

pytestmark = pytest.mark.redis


def problem_of(response: func.HttpResponse) -> dict[str, object]:
    assert response.mimetype == "application/problem+json"
    body: dict[str, object] = json.loads(response.get_body())
    return body


def http_and_queue_functions(leases: Leases, runs: list[str]) -> tuple[Any, Any]:
    """An HTTP and a queue function scoped by ``{customerId}``; each run is appended to runs."""

    @singleton("{customerId}", leases=lambda: leases)
    async def build(req: func.HttpRequest) -> func.HttpResponse:
        runs.append("http")
        return func.HttpResponse("built")

    @singleton("{customerId}", leases=lambda: leases)
    async def handle(msg: func.QueueMessage) -> None:
        runs.append("queue")

    return build, handle


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_the_body_reads_its_lease_and_the_fence_grows(
    body: str, make_leases: MakeLeases
) -> None:
    leases = make_leases(wait=5)
    seen: list[Lease | None] = []

    @singleton("{customerId}", name="fenced", leases=lambda: leases)
    async def build_async(req: func.HttpRequest) -> func.HttpResponse:
        seen.append(current_lease())
        return func.HttpResponse("built")

    @singleton("{customerId}", name="fenced", leases=lambda: leases)
    def build_sync(req: func.HttpRequest) -> func.HttpResponse:
        seen.append(current_lease())  # in the executor's thread
        return func.HttpResponse("built")

    build = build_async if body == "async" else build_sync
    for _ in range(3):
        await build(http_request("c1"))
    assert current_lease() is None  # outside a body
    fences = [lease.fence for lease in seen if lease is not None]
    assert len(fences) == 3
    assert fences == sorted(set(fences))
    assert {lease.name for lease in seen if lease is not None} == {"function:fenced:c1"}


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_a_long_invocation_keeps_its_lease_renewed_past_many_ttls(
    body: str, make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    ttl, runs_for = 0.3, 1.2  # four TTLs
    leases = make_leases(ttl=ttl, wait=0)
    held: list[Lease] = []
    still_ours: list[bool] = []

    async def check_at_end(lease: Lease) -> None:
        still_ours.append(await redis_client.get(lease.key) == lease.token.encode())

    @singleton(name="long", leases=lambda: leases)
    async def long_async(timer: func.TimerRequest) -> None:
        lease = current_lease()
        assert lease is not None
        held.append(lease)
        await asyncio.sleep(runs_for)
        await check_at_end(lease)

    @singleton(name="long", leases=lambda: leases)
    def long_sync(timer: func.TimerRequest) -> None:
        lease = current_lease()
        assert lease is not None
        held.append(lease)
        time.sleep(runs_for)  # blocks its thread, not the loop that renews

    @singleton(name="long", on_busy="fail", retry_after=2, leases=lambda: leases)
    async def meanwhile(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ran")

    long_one = long_async if body == "async" else long_sync
    task = asyncio.create_task(long_one(timer_request()))
    await asyncio.sleep(3 * ttl)  # long past the TTL a single acquisition had
    answer = await meanwhile(http_request("c1"))
    assert answer.status_code == 409  # the scope is still held
    assert await redis_client.pttl(held[0].key) > 0
    await task
    if body == "async":
        assert still_ours == [True]
    assert await redis_client.exists(held[0].key) == 0  # released at the end
    assert (await meanwhile(http_request("c1"))).status_code == 200


async def test_a_lost_lease_cancels_an_async_body_and_fails_the_invocation(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3, wait=0)
    finished: list[str] = []

    @singleton("{customerId}", name="losing", leases=lambda: leases)
    async def build(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(3)
        finished.append("http")
        return func.HttpResponse("built")

    @singleton("{customerId}", name="losing", leases=lambda: leases)
    async def handle(msg: func.QueueMessage) -> None:
        await asyncio.sleep(3)
        finished.append("queue")

    key = leases.keys("function:losing:c1").lease
    invocations = (
        lambda: build(http_request("c1")),
        lambda: handle(queue_message({"customerId": "c1"})),
    )
    for invoke in invocations:
        task = asyncio.create_task(invoke())
        await asyncio.sleep(0.05)
        assert await redis_client.delete(key) == 1  # e.g. flushed, or expired in a failover
        started = time.monotonic()
        try:
            outcome = await asyncio.wait_for(task, 2)
        except LeaseLost:
            outcome = "lost"
        assert time.monotonic() - started < 1.0  # cancelled at the next renewal, not at 3 s
        if isinstance(outcome, func.HttpResponse):
            assert outcome.status_code == 503
            assert outcome.headers["Retry-After"] == "5"
            assert problem_of(outcome)["type"] == "urn:durable-singleton:problem:lease-lost"
        else:
            assert outcome == "lost"
    assert finished == []


async def test_a_lost_lease_is_reported_after_a_sync_body_it_cannot_stop(
    make_leases: MakeLeases, redis_client: aioredis.Redis
) -> None:
    leases = make_leases(ttl=0.3, wait=0)
    body_ended: list[float] = []

    @singleton(name="losing-sync", leases=lambda: leases)
    def handle(msg: func.QueueMessage) -> str:
        time.sleep(0.8)
        body_ended.append(time.monotonic())
        return "done"

    task = asyncio.create_task(handle(queue_message({"n": 1})))
    key = leases.keys("function:losing-sync:").lease
    for _ in range(500):  # until the lease is held (under load that takes a while), <= 5 s
        if await redis_client.exists(key):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the invocation did not take its lease within 5 s")
    assert await redis_client.delete(key) == 1
    with pytest.raises(LeaseLost, match="was lost"):
        await asyncio.wait_for(task, 5)
    failed_at = time.monotonic()
    assert len(body_ended) == 1  # the body ran to its end...
    assert body_ended[0] <= failed_at  # ...before the invocation failed, its result discarded


async def test_a_scope_the_trigger_cannot_fill_is_400_or_raises_and_nothing_runs(
    make_leases: MakeLeases,
) -> None:
    leases = make_leases(wait=0)
    runs: list[str] = []
    build, handle = http_and_queue_functions(leases, runs)

    answer = await build(http_request(None, body={"other": 1}))
    assert answer.status_code == 400
    assert "customerId" in str(problem_of(answer)["detail"])
    with pytest.raises(InvalidScope, match="not a field of the JSON message"):
        await handle(queue_message({"other": 1}))
    with pytest.raises(InvalidScope, match="text or a number"):
        await handle(queue_message({"customerId": {"nested": 1}}))
    assert runs == []


async def test_redis_unreachable_is_503_or_raises_and_nothing_runs(
    make_leases: MakeLeases,
) -> None:
    port = free_port()
    leases = make_leases(url=f"redis://127.0.0.1:{port}/0", wait=0)
    runs: list[str] = []
    build, handle = http_and_queue_functions(leases, runs)

    answer = await build(http_request("c1"))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert problem_of(answer)["type"] == "urn:durable-singleton:problem:lease-unavailable"
    assert str(port) not in answer.get_body().decode()  # the address is logged, not answered
    with pytest.raises(LeaseUnavailable):
        await handle(queue_message({"customerId": "c1"}))
    assert runs == []


async def test_missing_settings_are_500_and_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    await close_default_starter()
    runs: list[str] = []

    @singleton("{customerId}")  # the process's leases, from the app settings
    async def build(req: func.HttpRequest) -> func.HttpResponse:
        runs.append("http")
        return func.HttpResponse("built")

    answer = await build(http_request("c1"))
    assert answer.status_code == 500
    assert "REDIS_URL" in str(problem_of(answer)["detail"])
    assert runs == []
    await close_default_starter()
