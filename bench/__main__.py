"""``python -m bench [--quick] [--runs N] [--each]``: the lease benchmarks, N runs (default 5),
each against a fresh loopback redis-server; figures as min/median/max over the runs.

``python -m bench starter [--quick] [--processes N] [--runs N]``: the starter benchmark
(bench/starter/). ``python -m bench body [--runs N]``: the start body's check (bench/_body.py).
``python -m bench decorator [--quick] [--runs N]``: ``@singleton`` against a hand-written
redis.asyncio Lock wrapper (bench/_decorator.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys

import redis
import redis.asyncio as aioredis

from bench._handoff import lease_handoffs, python_redis_lock_handoffs, redis_py_lock_handoffs
from bench._runs import Check, RunOutcome, add_run_options, repeat, report
from bench._stats import Summary, summarize, table
from bench._uncontended import (
    ACQUIRE_CYCLE,
    LIMIT_CYCLE,
    async_cycles,
    commands_per_acquisition,
    cpu_per_cycle,
    lease_for_bench,
    per_acquisition,
    sync_cycles,
    time_async,
    time_sync,
)
from tests.redis_servers import running_redis_server

# Targets from the lease's issue; the run reports whether it met them.
UNCONTENDED_VS_FLOOR = 1.05
HANDOFF_MEDIAN_MS = 1.1
HANDOFF_P99_MS = 2.0
LIMIT_VS_ONE = 1.10


async def run_async(url: str, rounds: int, per_round: int, handoffs: int) -> dict[str, object]:
    client = aioredis.from_url(url)
    leases = lease_for_bench(client)
    try:
        cycles = await async_cycles(client, leases)
        uncontended = await time_async(cycles, rounds, per_round)
        commands = {
            name: await commands_per_acquisition(client, cycle) for name, cycle in cycles.items()
        }
        cpu = {
            name: await cpu_per_cycle(client, cycles[name]) for name in (ACQUIRE_CYCLE, LIMIT_CYCLE)
        }
        handoff = {
            "our lease (pub/sub push)": await lease_handoffs(leases, handoffs),
            "redis.asyncio Lock, sleep=0.01": await redis_py_lock_handoffs(
                client, 0.01, max(20, handoffs // 2)
            ),
            "redis.asyncio Lock, sleep=0.1 (default)": await redis_py_lock_handoffs(
                client, 0.1, max(20, handoffs // 4)
            ),
        }
        return {"uncontended": uncontended, "commands": commands, "handoff": handoff, "cpu": cpu}
    finally:
        await leases.aclose()
        await client.aclose()


def run_sync(url: str, rounds: int, per_round: int) -> tuple[dict[str, list[int]], dict[str, str]]:
    client = redis.Redis.from_url(url)
    try:
        cycles = sync_cycles(client)
        samples = time_sync(cycles, rounds, per_round)
        commands: dict[str, str] = {}
        for name, cycle in cycles.items():
            client.config_resetstat()
            for _ in range(200):
                cycle()
            commands[name] = per_acquisition(client.info("commandstats"), 200)
        return samples, commands
    finally:
        client.close()


def pin_apart(server_pid: int) -> None:
    """Server on one core, this client on another: on a small machine that keeps them from
    fighting over a core, so runs repeat closely. No-op with fewer than two cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(server_pid, {cores[-1]})
        os.sched_setaffinity(0, {cores[0]})


def main(argv: list[str]) -> int:
    if argv[:1] == ["devhost"]:
        from bench.devhost import main as devhost_main

        return devhost_main(argv[1:])
    if argv[:1] == ["starter"]:
        from bench.starter._run import main as starter_main

        return starter_main(argv[1:])
    if argv[:1] == ["decorator"]:
        from bench._decorator import main as decorator_main

        return decorator_main(argv[1:])
    if argv[:1] == ["body"]:
        from bench._body import main as body_main

        return body_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    rounds, per_round, handoffs = (2, 200, 40) if args.quick else (10, 500, 200)
    versions: dict[str, str] = {}

    def one_run(index: int) -> RunOutcome:
        with running_redis_server() as server:
            pin_apart(server.process.pid)
            versions["redis"] = redis.Redis.from_url(server.url).info("server")["redis_version"]
            results = asyncio.run(run_async(server.url, rounds, per_round, handoffs))
            sync_samples, sync_commands = run_sync(server.url, rounds, per_round)
            prl_handoffs = python_redis_lock_handoffs(server.url, handoffs)
        return outcome_of(results, sync_samples, sync_commands, prl_handoffs)

    outcomes, load = repeat(args.runs, one_run)
    print(
        f"# Lease benchmark: redis-server {versions['redis']} on loopback, "
        f"Python {platform.python_version()}, redis-py {redis.__version__}, "
        f"{rounds * per_round} uncontended cycles and {handoffs} hand-offs per contender, "
        f"{args.runs} runs (a fresh redis-server each)\n\n{load}\n"
    )
    print(report(outcomes, each=args.each))
    return 0


def outcome_of(
    results: dict[str, object],
    sync_samples: dict[str, list[int]],
    sync_commands: dict[str, str],
    prl_handoffs: list[int],
) -> RunOutcome:
    """One run's figures, target checks and tables."""
    uncontended: dict[str, list[int]] = results["uncontended"]  # type: ignore[assignment]
    commands: dict[str, str] = {**results["commands"], **sync_commands}  # type: ignore[dict-item]
    summaries = [summarize(n, s) for n, s in {**uncontended, **sync_samples}.items()]
    floor = summaries[0]
    sync_floor = next(s for s in summaries if s.name == "raw floor, sync client")

    def times_floor(summary: Summary) -> float:
        base = sync_floor if summary.name in sync_samples else floor
        return summary.median_us / base.median_us

    detail = ["## Uncontended acquire + release\n"]
    detail.append(
        table(
            ["contender", "median µs", "p99 µs", "vs floor (median)", "Redis commands per cycle"],
            [
                [
                    s.name,
                    f"{s.median_us:.0f}",
                    f"{s.p99_us:.0f}",
                    f"{times_floor(s):.2f}x",
                    commands[s.name],
                ]
                for s in summaries
            ],
        )
    )
    handoff = {**results["handoff"], "python-redis-lock (BLPOP)": prl_handoffs}  # type: ignore[dict-item]
    handoff_summaries = [summarize(n, s) for n, s in handoff.items()]
    detail.append("\n## Hand-off: release -> blocked waiter holds it\n")
    detail.append(
        table(
            ["contender", "median ms", "p99 ms", "samples"],
            [
                [s.name, f"{s.median_us / 1000:.2f}", f"{s.p99_us / 1000:.2f}", str(s.samples)]
                for s in handoff_summaries
            ],
        )
    )
    ours = next(s for s in summaries if s.name.startswith("our lease: async with"))
    redis_py = next(s for s in summaries if s.name == "redis.asyncio Lock")
    ours_handoff = handoff_summaries[0]
    scripts = next(s for s in summaries if s.name.startswith("raw, running our"))
    detail.append(
        f"\nWhere hold()'s gap to the floor goes: our scripts on a bare client "
        f"{scripts.median_us - floor.median_us:+.0f} µs (Redis and the wire), the library "
        f"{ours.median_us - scripts.median_us:+.0f} µs (hold() vs those scripts: "
        f"{ours.median_us / scripts.median_us:.2f}x)"
    )
    cpu: dict[str, tuple[float, float]] = results["cpu"]  # type: ignore[assignment]
    one, many = (next(s for s in summaries if s.name == n) for n in (ACQUIRE_CYCLE, LIMIT_CYCLE))
    detail.append("\n## limit=N vs limit=1, uncontended acquire + release\n")
    detail.append(
        table(
            ["contender", "median µs (wall)", "client CPU µs", "Redis CPU µs"],
            [
                [s.name, f"{s.median_us:.0f}", f"{cpu[s.name][0]:.0f}", f"{cpu[s.name][1]:.1f}"]
                for s in (one, many)
            ],
        )
    )
    outcome = RunOutcome(detail="\n".join(detail))
    for name, (client_us, server_us) in cpu.items():
        outcome.figures[f"{name}: client CPU µs"] = client_us
        outcome.figures[f"{name}: Redis CPU µs"] = server_us
    limit_cpu = (cpu[LIMIT_CYCLE][0] + cpu[LIMIT_CYCLE][1]) / (
        cpu[ACQUIRE_CYCLE][0] + cpu[ACQUIRE_CYCLE][1]
    )
    for s in summaries:
        outcome.figures[f"{s.name}: median µs"] = s.median_us
        outcome.figures[f"{s.name}: p99 µs"] = s.p99_us
        outcome.figures[f"{s.name}: median vs floor (x)"] = times_floor(s)
    for s in handoff_summaries:
        outcome.figures[f"hand-off, {s.name}: median ms"] = s.median_us / 1000
        outcome.figures[f"hand-off, {s.name}: p99 ms"] = s.p99_us / 1000
    outcome.checks = {
        f"uncontended hold() <= {UNCONTENDED_VS_FLOOR}x the raw floor": Check(
            times_floor(ours) <= UNCONTENDED_VS_FLOOR, times_floor(ours), "x"
        ),
        "uncontended hold() <= redis.asyncio Lock (ours / theirs)": Check(
            ours.median_us <= redis_py.median_us, ours.median_us / redis_py.median_us, "x"
        ),
        f"hand-off median <= {HANDOFF_MEDIAN_MS} ms": Check(
            ours_handoff.median_us <= HANDOFF_MEDIAN_MS * 1000, ours_handoff.median_us / 1000, "ms"
        ),
        f"hand-off p99 <= {HANDOFF_P99_MS} ms": Check(
            ours_handoff.p99_us <= HANDOFF_P99_MS * 1000, ours_handoff.p99_us / 1000, "ms"
        ),
        f"limit=N acquire <= {LIMIT_VS_ONE}x limit=1 (median wall)": Check(
            many.median_us <= LIMIT_VS_ONE * one.median_us, many.median_us / one.median_us, "x"
        ),
        f"limit=N acquire <= {LIMIT_VS_ONE}x limit=1 (client + Redis CPU)": Check(
            limit_cpu <= LIMIT_VS_ONE, limit_cpu, "x"
        ),
    }
    return outcome


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
