"""The starter benchmark's scenarios, tables and targets (see ``bench/starter/__init__.py``)."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import redis
from azure.durable_functions.models.utils import http_utils

from bench._runs import Check, RunOutcome, add_run_options, number, repeat, report
from bench._stats import summarize, table
from bench.starter import _grpc as grpc_bench
from bench.starter._callers import (
    CONTENDERS,
    contenders,
    fresh_latencies,
    one_id,
    one_id_in_worker,
    ready,
)
from tests.redis_servers import running_redis_server
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH

# Targets from the starter's issue (8), checked at the end of the run.
FRESH_P50_VS_SAMPLE = 1.10
ONE_ID_DURABLE_CALLS = 5
ONE_ID_REDIS_PER_REQUEST = 8
ONE_ID_TIME_VS_SAMPLE = 1.2
# Issue 18's hot-path target: the client's CPU per fresh start against the sample's.
FRESH_CPU_VS_SAMPLE = 1.6

SCENARIOS = {"running": WAIT_FOR_FINISH, "finishing at once": ECHO}


@dataclass
class Storm:
    """One trial of many callers on one ID."""

    seconds: float
    codes: Counter[int]
    durable_calls: int
    redis_commands: int
    starts: int
    lost: int


@contextlib.contextmanager
def backend_process(latency: float) -> Iterator[tuple[str, str]]:
    """The Durable backend in its own process: (its URL, the client binding JSON)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.starter._backend", str(latency)], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the Durable backend process exited before listening")
        served = json.loads(line)
        yield served["url"], served["binding"]
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def redis_commands(client: redis.Redis) -> int:
    """Commands Redis has run (those inside Lua scripts included), INFO/CONFIG excluded."""
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return sum(
        int(row["calls"])
        for name, row in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config"))
    )


class Run:
    def __init__(self, url: str, binding: str, redis_url: str, processes: int) -> None:
        self.url = url
        self.binding = binding
        self.redis_url = redis_url
        self.processes = processes
        self.redis = redis.Redis.from_url(redis_url)
        #: client CPU µs per fresh start, one caller at a time, per block and contender
        self.cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}

    async def durable(self, http: aiohttp.ClientSession, path: str) -> dict[str, int]:
        async with http.get(f"{self.url}/bench/{path}") as response:
            result: dict[str, int] = await response.json()
            return result

    async def everything(
        self, plan: dict[int, int], rounds: int, callers: int, trials: int
    ) -> tuple[dict[int, dict[str, list[int]]], dict[tuple[str, str], list[Storm]]]:
        try:
            return await self.fresh(plan, rounds), await self.storms(callers, trials)
        finally:
            # The Durable client keeps one module-level session, bound to this loop.
            await http_utils._close_session()

    async def fresh(self, plan: dict[int, int], rounds: int) -> dict[int, dict[str, list[int]]]:
        """Latency of fresh-ID starts per concurrency, contenders alternating by round; and,
        one caller at a time, the client's CPU time per start (``self.cpu``, µs per block)."""
        samples: dict[int, dict[str, list[int]]] = {c: {n: [] for n in CONTENDERS} for c in plan}
        async with contenders(self.binding, self.redis_url) as calls:
            for name in CONTENDERS:  # connections, sessions and scripts warm
                await calls[name](WAIT_FOR_FINISH, f"warm-{name}")
            for concurrency, total in plan.items():
                for turn in range(rounds):
                    order = CONTENDERS if turn % 2 == 0 else CONTENDERS[::-1]
                    for name in order:
                        # CPU time of this process only: the Durable backend and redis-server
                        # run in their own, so it is what the client spends per start.
                        cpu = time.process_time()
                        samples[concurrency][name] += await fresh_latencies(
                            calls[name],
                            WAIT_FOR_FINISH,
                            f"fresh-{name}-{concurrency}-{turn}",
                            total // rounds,
                            concurrency,
                        )
                        if concurrency == 1:
                            spent = (time.process_time() - cpu) / (total // rounds) * 1e6
                            self.cpu[name].append(spent)
        return samples

    async def storms(self, callers: int, trials: int) -> dict[tuple[str, str], list[Storm]]:
        results: dict[tuple[str, str], list[Storm]] = {}
        pool = None
        if self.processes > 1:
            pool = concurrent.futures.ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn")
            )
            list(pool.map(_call_ready, range(self.processes)))
        try:
            async with (
                aiohttp.ClientSession() as http,
                contenders(self.binding, self.redis_url) as calls,
            ):
                for name in CONTENDERS:
                    await calls[name](WAIT_FOR_FINISH, f"warm-storm-{name}")
                for scenario, orchestrator in SCENARIOS.items():
                    for trial in range(trials):
                        order = CONTENDERS if trial % 2 == 0 else CONTENDERS[::-1]
                        for name in order:
                            instance_id = f"one-{name}-{scenario.replace(' ', '-')}-{trial}"
                            results.setdefault((scenario, name), []).append(
                                await self._storm(
                                    http,
                                    pool,
                                    calls[name],
                                    name,
                                    orchestrator,
                                    instance_id,
                                    callers,
                                )
                            )
        finally:
            if pool is not None:
                pool.shutdown()
        return results

    async def _storm(
        self,
        http: aiohttp.ClientSession,
        pool: concurrent.futures.ProcessPoolExecutor | None,
        call: object,
        name: str,
        orchestrator: str,
        instance_id: str,
        callers: int,
    ) -> Storm:
        if pool is None:
            calls_before = (await self.durable(http, "calls"))["calls"]
            commands_before = redis_commands(self.redis)
            began = time.perf_counter()
            codes = await one_id(call, orchestrator, instance_id, callers)  # type: ignore[arg-type]
            seconds = time.perf_counter() - began
        else:
            go_at = time.time() + 2.0
            shares = [callers // self.processes] * self.processes
            shares[0] += callers - sum(shares)
            loop = asyncio.get_running_loop()
            futures = [
                loop.run_in_executor(
                    pool,
                    one_id_in_worker,
                    name,
                    self.binding,
                    self.redis_url,
                    orchestrator,
                    instance_id,
                    share,
                    go_at,
                )
                for share in shares
            ]
            # The workers warm up first; count from just before they fire.
            await asyncio.sleep(max(0.0, go_at - 0.05 - time.time()))
            calls_before = (await self.durable(http, "calls"))["calls"]
            commands_before = redis_commands(self.redis)
            answered = await asyncio.gather(*futures)
            codes = sum((codes for codes, _ in answered), Counter())
            seconds = max(end for _, end in answered) - go_at
        calls = (await self.durable(http, "calls"))["calls"] - calls_before
        commands = redis_commands(self.redis) - commands_before
        starts = await self.durable(http, f"starts/{instance_id}")
        return Storm(seconds, codes, calls, commands, starts["starts"], starts["lost"])


def _call_ready(_: int) -> None:
    ready()


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.1f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench starter", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--latency", type=float, default=0.02, help="store latency, s (0.02)")
    parser.add_argument("--callers", type=int, default=100, help="callers on one ID (100)")
    parser.add_argument(
        "--processes", type=int, default=1, help="OS processes the one-ID callers run in (1)"
    )
    add_run_options(parser)
    args = parser.parse_args(argv)
    plan = {1: 40, 10: 100, 100: 200} if args.quick else {1: 200, 10: 600, 100: 1200}
    rounds, trials = (2, 2) if args.quick else (4, 5)
    versions: dict[str, str] = {}

    def one_run(index: int) -> RunOutcome:
        with running_redis_server() as server, backend_process(args.latency) as (url, binding):
            run = Run(url, binding, server.url, args.processes)
            fresh, storms = asyncio.run(run.everything(plan, rounds, args.callers, trials))
            versions["redis"] = run.redis.info("server")["redis_version"]
        outcome = outcome_of(fresh, storms, args.callers, trials)
        add_client_cpu(outcome, run.cpu)
        return outcome

    outcomes, load = repeat(args.runs, one_run)
    print(
        f"# Starter benchmark: ours vs the documentation's sample, {args.runs} runs\n\n"
        f"Embedded Durable backend (own process, a fresh one each run) with "
        f"{args.latency * 1000:g} ms per store operation; redis-server {versions['redis']} on "
        f"loopback; Python {platform.python_version()}; {os.cpu_count()} CPUs "
        f"({platform.machine()}); one-ID callers in {args.processes} process(es), "
        f"{args.callers} callers, {trials} trials per run.\n\n{load}\n"
    )
    print(report(outcomes, each=args.each))
    # The gRPC clients beside the v1 figures: one run of their own (bench/starter/_grpc.py).
    with running_redis_server() as server:
        print("\n" + grpc_bench.run(args.latency, server.url, quick=args.quick))
    return 0


def outcome_of(
    fresh: dict[int, dict[str, list[int]]],
    storms: dict[tuple[str, str], list[Storm]],
    callers: int,
    trials: int,
) -> RunOutcome:
    """One run's figures, target checks and tables."""
    fresh_text, fresh_p50 = fresh_table(fresh)
    medians = {key: OneId.of(trials_run, callers) for key, trials_run in storms.items()}
    checks = target_checks(fresh_p50, medians)
    detail = [
        "### Fresh IDs: latency of a start\n",
        fresh_text,
        f"\n### {callers} concurrent callers on one ID (median of {trials} trials)\n",
        one_id_table(storms, medians, trials),
        "\n### Targets in this run\n",
        table(
            ["target", "met", "measured"],
            [
                [t, "yes" if c.met else "NO", f"{number(c.measured)}{c.unit}"]
                for t, c in checks.items()
            ],
        ),
    ]
    outcome = RunOutcome(checks=checks, detail="\n".join(detail))
    for concurrency, by_name in fresh.items():
        for name in CONTENDERS:
            summary = summarize(name, by_name[name])
            outcome.figures[f"fresh, concurrency {concurrency}, {name}: p50 ms"] = (
                summary.median_us / 1000
            )
            outcome.figures[f"fresh, concurrency {concurrency}, {name}: p99 ms"] = (
                summary.p99_us / 1000
            )
        outcome.figures[f"fresh, concurrency {concurrency}: p50 ours / sample (x)"] = fresh_p50[
            concurrency
        ]
    for (scenario, name), one in medians.items():
        prefix = f"one ID, {scenario}, {name}"
        outcome.figures[f"{prefix}: all answered ms"] = one.seconds * 1000
        outcome.figures[f"{prefix}: most starts in a trial"] = one.starts[1]
        outcome.figures[f"{prefix}: Durable calls"] = one.durable_calls
        outcome.figures[f"{prefix}: Redis commands / request"] = one.redis_per_request
    return outcome


def add_client_cpu(outcome: RunOutcome, cpu: dict[str, list[float]]) -> None:
    """The client's CPU time per fresh start (median of the blocks), and its target."""
    medians = {name: statistics.median(cpu[name]) for name in CONTENDERS}
    for name in CONTENDERS:
        outcome.figures[f"fresh, one caller, {name}: client CPU µs / start"] = medians[name]
    extra = medians["ours"] - medians["sample"]
    outcome.figures["fresh, one caller: client CPU ours - sample µs"] = extra
    ratio = medians["ours"] / medians["sample"]
    outcome.figures["fresh, one caller: client CPU ours / sample (x)"] = ratio
    outcome.checks[f"client CPU of one fresh start <= {FRESH_CPU_VS_SAMPLE}x the sample's"] = Check(
        ratio <= FRESH_CPU_VS_SAMPLE, ratio, "x"
    )
    outcome.detail += (
        f"\n\nClient CPU per fresh start, one caller: sample {medians['sample']:.0f} µs, "
        f"ours {medians['ours']:.0f} µs ({extra:+.0f} µs, {ratio:.2f}x)"
    )


def fresh_table(fresh: dict[int, dict[str, list[int]]]) -> tuple[str, dict[int, float]]:
    """The fresh-ID table, and ours/sample p50 per concurrency.

    The mean is shown beside the percentiles: past the Durable client's 30 connections the
    callers queue for a connection, and the mean follows the throughput (Little's law) while
    the p50 also depends on how fairly that queue serves them (see ``fresh_latencies``).
    """
    rows, ratios = [], {}
    for concurrency, by_name in fresh.items():
        sample = summarize("sample", by_name["sample"])
        ours = summarize("ours", by_name["ours"])
        means = {name: statistics.fmean(by_name[name]) / 1e6 for name in CONTENDERS}
        ratios[concurrency] = ours.median_us / sample.median_us
        rows.append(
            [
                str(concurrency),
                f"{sample.median_us / 1000:.1f} / {sample.p99_us / 1000:.1f}",
                f"{ours.median_us / 1000:.1f} / {ours.p99_us / 1000:.1f}",
                f"{ratios[concurrency]:.2f}x",
                f"{ours.p99_us / sample.p99_us:.2f}x",
                f"{means['sample']:.1f} / {means['ours']:.1f}",
                f"{means['ours'] / means['sample']:.2f}x",
                str(ours.samples),
            ]
        )
    headers = ["concurrency", "sample p50 / p99 ms", "ours p50 / p99 ms", "p50 ratio", "p99 ratio"]
    return table([*headers, "mean ms sample / ours", "mean ratio", "starts each"], rows), ratios


@dataclass(frozen=True)
class OneId:
    """The trials of one contender on one scenario, summarised."""

    seconds: float
    durable_calls: float
    redis_per_request: float
    starts: tuple[int, int]

    @classmethod
    def of(cls, trials: list[Storm], callers: int) -> OneId:
        return cls(
            seconds=statistics.median(s.seconds for s in trials),
            durable_calls=statistics.median(s.durable_calls for s in trials),
            redis_per_request=statistics.median(s.redis_commands for s in trials) / callers,
            starts=(min(s.starts for s in trials), max(s.starts for s in trials)),
        )

    @property
    def starts_text(self) -> str:
        low, high = self.starts
        return str(low) if low == high else f"{low}-{high}"


def one_id_table(
    storms: dict[tuple[str, str], list[Storm]],
    medians: dict[tuple[str, str], OneId],
    trials: int,
) -> str:
    rows = []
    for (scenario, name), trials_run in storms.items():
        mine, sample = medians[(scenario, name)], medians[(scenario, "sample")]
        answers = sum((s.codes for s in trials_run), Counter())
        rows.append(
            [
                scenario,
                name,
                f"{mine.seconds * 1000:.0f}",
                f"{mine.seconds / sample.seconds:.2f}x",
                mine.starts_text,
                ", ".join(f"{code}: {n / trials:g}" for code, n in sorted(answers.items())),
                f"{mine.durable_calls:g}",
                f"{mine.redis_per_request:.2f}",
            ]
        )
    headers = ["orchestration", "contender", "all answered ms", "vs sample", "starts"]
    return table([*headers, "answers per trial", "Durable calls", "Redis cmds / request"], rows)


def target_checks(
    fresh_p50: dict[int, float], medians: dict[tuple[str, str], OneId]
) -> dict[str, Check]:
    checks = {
        f"fresh-ID p50 <= {FRESH_P50_VS_SAMPLE}x the sample, concurrency {c}": Check(
            r <= FRESH_P50_VS_SAMPLE, r, "x"
        )
        for c, r in fresh_p50.items()
    }
    for scenario in SCENARIOS:
        ours, sample = medians[(scenario, "ours")], medians[(scenario, "sample")]
        ratio = ours.seconds / sample.seconds
        checks[f"{scenario}: exactly one start in every trial (most starts)"] = Check(
            ours.starts == (1, 1), ours.starts[1]
        )
        checks[f"{scenario}: <= {ONE_ID_DURABLE_CALLS} Durable calls in all"] = Check(
            ours.durable_calls <= ONE_ID_DURABLE_CALLS, ours.durable_calls
        )
        checks[f"{scenario}: <= {ONE_ID_REDIS_PER_REQUEST} Redis commands per request"] = Check(
            ours.redis_per_request <= ONE_ID_REDIS_PER_REQUEST, ours.redis_per_request
        )
        checks[f"{scenario}: all answered within {ONE_ID_TIME_VS_SAMPLE}x the sample's time"] = (
            Check(ratio <= ONE_ID_TIME_VS_SAMPLE, ratio, "x")
        )
    return checks
