"""``python -m bench decorator [--quick] [--runs N]``: an uncontended ``@singleton`` HTTP
invocation against the hand-written wrapper a user would write instead — the body under
``async with redis.lock(f"...:{scope}")`` of redis.asyncio — and the distinct scopes per second
each keeps up with when many invocations on distinct scopes run at once.

Both contenders are HTTP functions taking ``req`` with the scope in a route parameter
(``{customerId}``), called as the worker calls them, with an empty body. Measured per contender,
in interleaved blocks (so drift of the machine hits both alike):

* one invocation after another on one scope: the wall-clock median (µs) and the client's CPU
  time per invocation (``time.process_time`` over the block; redis-server runs on the other
  core and is not counted);
* ``CONCURRENT`` invocations at once, each on a scope of its own, over and over: invocations per
  wall-clock second and the client's CPU time per invocation.

On a loaded machine the wall-clock figures move with the other work; the CPU-time ratios do
not, so the targets are judged on both and each is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
import redis
import redis.asyncio as aioredis

from bench._runs import Check, RunOutcome, add_run_options, repeat, report
from bench._stats import summarize, table
from singleton.functions.decorator import singleton
from singleton.lease._leases import LeasePolicy, Leases
from tests.redis_servers import running_redis_server

# Targets from issue 18 (the hot path).
INVOCATION_VS_LOCK = 1.10
SCOPES_PER_SECOND_VS_LOCK = 1.0
CONCURRENT = 50

Invoke = Callable[[func.HttpRequest], Awaitable[Any]]


def request(scope: str) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url=f"http://localhost/api/reports/{scope}",
        route_params={"customerId": scope},
        body=b"",
    )


def contenders(client: aioredis.Redis, leases: Leases) -> dict[str, Invoke]:
    """``@singleton("{customerId}")`` and the hand-written redis.asyncio Lock wrapper."""

    @singleton("{customerId}", leases=lambda: leases)
    async def ours(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    def lock_wrapper(
        function: Callable[[func.HttpRequest], Awaitable[func.HttpResponse]],
    ) -> Invoke:
        # What a user writes by hand: a lock per scope, the route parameter as the scope.
        async def wrapped(req: func.HttpRequest) -> func.HttpResponse:
            scope = req.route_params["customerId"]
            lock = client.lock(f"lockwrapper:build_report:{scope}", timeout=15, blocking_timeout=5)
            if not await lock.acquire():
                return func.HttpResponse("busy", status_code=409)
            try:
                return await function(req)
            finally:
                await lock.release()

        return wrapped

    @lock_wrapper
    async def theirs(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    async def hold_only(req: func.HttpRequest) -> func.HttpResponse:
        # The lease alone, as the decorator takes it: what is left once the decorator's own
        # work (binding the arguments, finding the trigger, filling the scope) is taken away.
        async with leases.hold(f"function:build_report:{req.route_params['customerId']}"):
            return func.HttpResponse("ok")

    return {
        "@singleton": ours,
        "redis.asyncio Lock wrapper": theirs,
        "the lease alone: leases.hold()": hold_only,
    }


async def checked(invoke: Invoke, req: func.HttpRequest) -> None:
    response = await invoke(req)
    if response.status_code != 200:
        raise RuntimeError(f"an uncontended invocation was answered {response.status_code}")


async def one_scope(invoke: Invoke, per_round: int, latencies: list[int]) -> tuple[float, int]:
    """``per_round`` invocations in a row on one scope: (client CPU seconds, invocations)."""
    req = request("customer-1")
    gc.collect()
    cpu = time.process_time()
    for _ in range(per_round):
        began = time.perf_counter_ns()
        await checked(invoke, req)
        latencies.append(time.perf_counter_ns() - began)
    return time.process_time() - cpu, per_round


async def distinct_scopes(invoke: Invoke, batches: int, prefix: str) -> tuple[float, float, int]:
    """``batches`` rounds of ``CONCURRENT`` invocations at once, each on a distinct scope:
    (wall seconds, client CPU seconds, invocations)."""
    requests = [[request(f"{prefix}-{b}-{i}") for i in range(CONCURRENT)] for b in range(batches)]
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in requests:
        await asyncio.gather(*(checked(invoke, req) for req in batch))
    return time.perf_counter() - wall, time.process_time() - cpu, batches * CONCURRENT


async def run_async(url: str, rounds: int, per_round: int, batches: int) -> dict[str, Any]:
    client = aioredis.from_url(url)
    leases = Leases(client, namespace="bench", policy=LeasePolicy(ttl=15.0))
    calls = contenders(client, leases)
    latencies: dict[str, list[int]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}  # µs per invocation, per block
    rate: dict[str, list[float]] = {name: [] for name in calls}  # invocations per wall second
    rate_cpu: dict[str, list[float]] = {name: [] for name in calls}  # µs CPU per invocation
    try:
        for name, invoke in calls.items():  # warm: connections, scripts, first-call checks
            await one_scope(invoke, 200, [])
            await distinct_scopes(invoke, 2, f"warm-{name}")
        for turn in range(rounds):
            order = list(calls) if turn % 2 == 0 else list(calls)[::-1]
            for name in order:
                seconds, count = await one_scope(calls[name], per_round, latencies[name])
                cpu[name].append(seconds / count * 1e6)
            for name in order:
                wall, seconds, count = await distinct_scopes(calls[name], batches, f"{name}-{turn}")
                rate[name].append(count / wall)
                rate_cpu[name].append(seconds / count * 1e6)
    finally:
        await leases.aclose()
        await client.aclose()
    return {"latencies": latencies, "cpu": cpu, "rate": rate, "rate_cpu": rate_cpu}


def outcome_of(results: dict[str, Any]) -> RunOutcome:
    ours, theirs = "@singleton", "redis.asyncio Lock wrapper"
    latencies = {n: summarize(n, s) for n, s in results["latencies"].items()}
    cpu = {n: statistics.median(v) for n, v in results["cpu"].items()}
    rate = {n: statistics.median(v) for n, v in results["rate"].items()}
    rate_cpu = {n: statistics.median(v) for n, v in results["rate_cpu"].items()}
    wall_ratio = latencies[ours].median_us / latencies[theirs].median_us
    cpu_ratio = cpu[ours] / cpu[theirs]
    rate_ratio = rate[ours] / rate[theirs]
    rate_cpu_ratio = rate_cpu[theirs] / rate_cpu[ours]  # scopes per CPU second, ours / theirs
    rows = [
        [
            name,
            f"{latencies[name].median_us:.0f}",
            f"{latencies[name].p99_us:.0f}",
            f"{cpu[name]:.0f}",
            f"{rate[name]:.0f}",
            f"{rate_cpu[name]:.0f}",
        ]
        for name in latencies
    ]
    headers = ["contender", "median µs", "p99 µs", "client CPU µs / invocation"]
    detail = [
        "## Uncontended invocation, and distinct scopes at once\n",
        table(
            [*headers, f"distinct scopes / s ({CONCURRENT} at once)", "client CPU µs / scope"],
            rows,
        ),
        f"\n@singleton / wrapper: median {wall_ratio:.2f}x, client CPU {cpu_ratio:.2f}x; "
        f"distinct scopes per second {rate_ratio:.2f}x (per client CPU second "
        f"{rate_cpu_ratio:.2f}x)",
    ]
    outcome = RunOutcome(detail="\n".join(detail))
    for name in latencies:
        outcome.figures[f"{name}: median µs"] = latencies[name].median_us
        outcome.figures[f"{name}: p99 µs"] = latencies[name].p99_us
        outcome.figures[f"{name}: client CPU µs / invocation"] = cpu[name]
        outcome.figures[f"{name}: distinct scopes / s"] = rate[name]
        outcome.figures[f"{name}: client CPU µs / distinct scope"] = rate_cpu[name]
    outcome.checks = {
        f"invocation median <= {INVOCATION_VS_LOCK}x the Lock wrapper": Check(
            wall_ratio <= INVOCATION_VS_LOCK, wall_ratio, "x"
        ),
        f"invocation client CPU <= {INVOCATION_VS_LOCK}x the Lock wrapper": Check(
            cpu_ratio <= INVOCATION_VS_LOCK, cpu_ratio, "x"
        ),
        f"distinct scopes / s >= {SCOPES_PER_SECOND_VS_LOCK}x the Lock wrapper": Check(
            rate_ratio >= SCOPES_PER_SECOND_VS_LOCK, rate_ratio, "x"
        ),
        f"distinct scopes per client CPU s >= {SCOPES_PER_SECOND_VS_LOCK}x the Lock wrapper": Check(
            rate_cpu_ratio >= SCOPES_PER_SECOND_VS_LOCK, rate_cpu_ratio, "x"
        ),
    }
    return outcome


def main(argv: list[str]) -> int:
    from bench.__main__ import pin_apart

    parser = argparse.ArgumentParser(prog="python -m bench decorator", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    rounds, per_round, batches = (4, 200, 4) if args.quick else (10, 500, 10)
    versions: dict[str, str] = {}

    def one_run(index: int) -> RunOutcome:
        with running_redis_server() as server:
            pin_apart(server.process.pid)
            versions["redis"] = redis.Redis.from_url(server.url).info("server")["redis_version"]
            results = asyncio.run(run_async(server.url, rounds, per_round, batches))
        return outcome_of(results)

    outcomes, load = repeat(args.runs, one_run)
    print(
        f"# @singleton benchmark: redis-server {versions['redis']} on loopback, "
        f"Python {platform.python_version()}, redis-py {redis.__version__}"
        f"{parser_text()}; "
        f"{rounds * per_round} invocations on one scope and {rounds * batches * CONCURRENT} on "
        f"distinct scopes per contender, {args.runs} runs (a fresh redis-server each)\n\n{load}\n"
    )
    print(report(outcomes, each=args.each))
    return 0


def parser_text() -> str:
    version = hiredis_version()
    return ", no hiredis" if version is None else f", hiredis {version}"


def hiredis_version() -> str | None:
    """hiredis's version when it is installed (redis-py then parses replies with it)."""
    from importlib import metadata

    try:
        return metadata.version("hiredis")
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
