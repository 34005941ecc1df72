"""The two contenders, called the way the Functions host calls an HTTP starter, from one
process or from several (each with its own starter, Redis pool and Durable client session).

A contender is ``call(orchestrator, instance_id) -> HTTP status``. The sample gets the binding
JSON and builds its client, as in the documentation; ours gets a client built from the same
binding per call, as the host hands one to each invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.utils import http_utils

from singleton import LeasePolicy, Leases, RedisSettings, SingletonStarter, create_redis_client
from singleton._settings import Settings
from singleton.functions.http import handle_start_request
from tests import seed_sample
from tests.singleton.harness import post

Call = Callable[[str, str], Coroutine[Any, Any, int]]
CONTENDERS = ("sample", "ours")


@contextlib.asynccontextmanager
async def contenders(binding: str, redis_url: str) -> AsyncIterator[dict[str, Call]]:
    """Both contenders; ours with a starter built from default app settings."""
    settings = Settings.from_environ({"REDIS_URL": redis_url})
    redis = create_redis_client(RedisSettings.from_environ({"REDIS_URL": redis_url}))
    leases = Leases(
        redis,
        namespace=settings.key_prefix,
        policy=LeasePolicy(ttl=settings.lease_ttl, wait=settings.lease_wait),
    )
    starter = SingletonStarter(leases=leases)

    async def sample(orchestrator: str, instance_id: str) -> int:
        try:
            response = await seed_sample.main(post(orchestrator, instance_id), binding)
        except Exception:  # the host's duplicate refusal, uncaught: the Functions host's 500
            return 500
        return int(response.status_code)

    async def ours(orchestrator: str, instance_id: str) -> int:
        client = df.DurableOrchestrationClient(binding)
        response = await handle_start_request(
            post(orchestrator, instance_id), client, starter=lambda: starter
        )
        return int(response.status_code)

    try:
        yield {"sample": sample, "ours": ours}
    finally:
        await leases.aclose()
        await redis.aclose()


async def fresh_latencies(
    call: Call, orchestrator: str, prefix: str, total: int, concurrency: int
) -> list[int]:
    """``total`` starts of fresh IDs by ``concurrency`` callers in a row each; ns per start.

    Each start runs in a task of its own, as the Functions worker runs each invocation.
    Awaited inline, a caller that has just put its Durable client connection back in the pool
    (limit 30) takes it again for its next start before the caller the pool woke for it can
    run: 30 callers then keep the connections and make almost every start while the rest
    starve — measured: 88% of the sample's starts by 30 of 100 callers (its start never yields
    between two Durable calls), a third of ours (the lease's release and acquire yield). That
    showed the sample a low p50 and a long p99 the host would never give it: it never runs one
    invocation straight after another in the same task.
    """
    samples: list[int] = []
    numbers = iter(range(total))

    async def caller() -> None:
        for number in numbers:
            began = time.perf_counter_ns()
            code = await asyncio.create_task(call(orchestrator, f"{prefix}-{number}"))
            samples.append(time.perf_counter_ns() - began)
            if code != 202:
                raise RuntimeError(f"a fresh ID was answered {code}")

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return samples


async def one_id(call: Call, orchestrator: str, instance_id: str, callers: int) -> Counter[int]:
    """``callers`` concurrent starts of one ID: their answers."""
    codes = await asyncio.gather(*(call(orchestrator, instance_id) for _ in range(callers)))
    return Counter(codes)


def one_id_in_worker(
    contender: str,
    binding: str,
    redis_url: str,
    orchestrator: str,
    instance_id: str,
    callers: int,
    go_at: float,
) -> tuple[Counter[int], float]:
    """In a worker process: warm up, wait for the wall-clock ``go_at``, fire ``callers``
    concurrent starts of one ID; (answers, wall-clock time the last was answered)."""

    async def run() -> tuple[Counter[int], float]:
        try:
            async with contenders(binding, redis_url) as calls:
                call = calls[contender]
                await call(orchestrator, f"warm-{instance_id}-{time.time_ns()}")
                await asyncio.sleep(max(0.0, go_at - time.time()))
                codes = await one_id(call, orchestrator, instance_id, callers)
                return codes, time.time()
        finally:
            await http_utils._close_session()

    return asyncio.run(run())


def ready() -> None:
    """A no-op a worker runs once, so that its imports are done before anything is timed."""
