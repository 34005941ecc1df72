"""``python -m bench devhost [--quick] [--runs N]``: the local host's embedded Durable backend.

Two questions, each answered against a baseline measured in the same run:

* **Chain rate.** Orchestrations per second of a 2-activity chain against an orchestration
  that calls no activity at all. The chain does three episodes where the baseline does one,
  so 1/3 is the floor the SDK's replay sets; the target is >= 0.5x.
Times are CPU times (this process for rates, the loop's thread for steps), so other work on
the machine moves them little.

* **Per-step cost against history length.** One orchestration calls activities one after
  another; each step appends four events (OrchestratorStarted, TaskCompleted, TaskScheduled,
  OrchestratorCompleted). The backend's own cost of a step (the engine's work minus the time
  inside the SDK's replay, which the real host pays to the Python worker too) is reported at
  about 10 and about 1,000 events; the target is flat (1,000-event steps within 1.5x of
  10-event steps). The SDK's own replay grows with the history, in Azure as here: it is
  printed beside, not hidden.

The backend runs in this process (no HTTP), as the local host embeds it, with the in-memory
store and with the SQLite store (``--store``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.durable import DurableBackend, InstanceStore, MemoryStore, RuntimeStatus, SqliteStore
from devhost.durable import _engine as engine_module

CHAIN_RATE_TARGET = 0.5
FLAT_STEP_TARGET = 1.5

NOOP = "bench_noop"
CHAIN = "bench_chain2"
LONG = "bench_long_chain"
STEP = "bench_step"

Orchestration = Generator[Any, Any, Any]


def build_functions() -> list[func.Function]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context", orchestration=NOOP)
    def noop(context: df.DurableOrchestrationContext) -> Orchestration:
        return context.get_input()
        yield  # a generator, as every orchestrator is

    @app.orchestration_trigger(context_name="context", orchestration=CHAIN)
    def chain(context: df.DurableOrchestrationContext) -> Orchestration:
        first = yield context.call_activity(STEP, 1)
        second = yield context.call_activity(STEP, first)
        return second

    @app.orchestration_trigger(context_name="context", orchestration=LONG)
    def long_chain(context: df.DurableOrchestrationContext) -> Orchestration:
        total = 0
        for _ in range(int(context.get_input()["steps"])):
            total = yield context.call_activity(STEP, total)
        return total

    @app.activity_trigger(input_name="value", activity=STEP)
    def step(value: int) -> int:
        return value + 1

    return list(app.get_functions())


class EpisodeClock:
    """Times each episode of the engine and the part of it spent in the SDK's replay."""

    def __init__(self) -> None:
        self.records: list[tuple[int, float, float]] = []  # (history length, total, sdk)
        self._sdk = 0.0
        # The engine's own names, patched for the run: the benchmark times the real code.
        self._original_run = getattr(engine_module, "run_episode")  # noqa: B009
        self._original_advance = getattr(engine_module.Engine, "_advance")  # noqa: B009

    def install(self) -> None:
        clock = self
        original_run = self._original_run
        original_advance = self._original_advance

        def timed_run(handle: Callable[[str], str], **kwargs: Any) -> Any:
            # Only the SDK's own call is the SDK's: building its context JSON is the host's.
            def timed_handle(context: str) -> str:
                started = time.thread_time()
                try:
                    return handle(context)
                finally:
                    clock._sdk += time.thread_time() - started

            clock._length = len(kwargs["history"])
            return original_run(timed_handle, **kwargs)

        def timed_advance(engine: Any, instance_id: str) -> None:
            clock._sdk = 0.0
            clock._length = -1
            started = time.thread_time()
            original_advance(engine, instance_id)
            elapsed = time.thread_time() - started
            if clock._length >= 0:
                clock.records.append((clock._length, elapsed, clock._sdk))

        setattr(engine_module, "run_episode", timed_run)  # noqa: B010
        setattr(engine_module.Engine, "_advance", timed_advance)  # noqa: B010

    def uninstall(self) -> None:
        setattr(engine_module, "run_episode", self._original_run)  # noqa: B010
        setattr(engine_module.Engine, "_advance", self._original_advance)  # noqa: B010

    _length = -1


async def _wait_done(backend: DurableBackend, instance_id: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = await backend.get_state(instance_id)
        if state is not None and state.status == RuntimeStatus.COMPLETED:
            return
        if state is not None and state.status == RuntimeStatus.FAILED:
            raise RuntimeError(f"{instance_id} failed: {state.output}")
        if time.monotonic() > deadline:
            raise TimeoutError(instance_id)
        await asyncio.sleep(0.02)  # rarely: polling costs CPU this benchmark counts


async def _with_backend(
    make_store: Callable[[], InstanceStore], body: Callable[[DurableBackend], Any]
) -> Any:
    backend = DurableBackend(functions=build_functions(), hub_name="BenchHub", store=make_store())
    await backend.start()
    try:
        return await body(backend)
    finally:
        await backend.stop()


async def rate(
    make_store: Callable[[], InstanceStore], name: str, count: int
) -> tuple[float, float]:
    """Orchestrations per CPU second, ``count`` of them started at once and run to completion:
    end to end, and with the SDK's replay subtracted (the backend's own work).

    CPU time of this process (the loop and the activities' threads), not wall time: the
    backend is CPU-bound, and CPU time does not move with the other work on the machine."""
    clock = EpisodeClock()
    clock.install()

    async def body(backend: DurableBackend) -> tuple[float, float]:
        started = time.process_time()
        ids = [await backend.start_new(name, f"{name}-{i}", '{"n": 1}') for i in range(count)]
        for instance_id in ids:
            await _wait_done(backend, instance_id)
        elapsed = time.process_time() - started
        sdk = sum(record[2] for record in clock.records)
        return count / elapsed, count / (elapsed - sdk)

    try:
        result: tuple[float, float] = await _with_backend(make_store, body)
    finally:
        clock.uninstall()
    return result


async def step_costs(
    make_store: Callable[[], InstanceStore], steps: int
) -> list[tuple[int, float, float]]:
    clock = EpisodeClock()
    clock.install()
    try:

        async def body(backend: DurableBackend) -> None:
            await backend.start_new(LONG, "long", f'{{"steps": {steps}}}')
            await _wait_done(backend, "long", timeout=600)

        await _with_backend(make_store, body)
    finally:
        clock.uninstall()
    return clock.records


def _near(records: list[tuple[int, float, float]], length: int) -> tuple[float, float]:
    """Median (backend-own, SDK) seconds of the steps whose history is closest to ``length``."""
    ordered = sorted(records, key=lambda r: abs(r[0] - length))[:25]
    own = statistics.median(total - sdk for _, total, sdk in ordered)
    sdk = statistics.median(sdk for _, _, sdk in ordered)
    return own, sdk


async def run(quick: bool, runs: int) -> bool:
    count = 100 if quick else 400
    steps = 260  # ~1,040 history events at the end
    met = True
    workdir = tempfile.mkdtemp(prefix="bench-devhost-")
    stores: dict[str, Callable[[], InstanceStore]] = {
        "memory": MemoryStore,
        "sqlite (--store)": lambda: SqliteStore(
            os.path.join(workdir, f"store-{time.perf_counter_ns()}.sqlite3")
        ),
    }
    print(f"load average at start: {os.getloadavg()}")
    for label, make_store in stores.items():
        ratios: list[float] = []
        own_ratios: list[float] = []
        flats: list[float] = []
        for _ in range(runs):
            baseline, baseline_own = await rate(make_store, NOOP, count)
            chained, chained_own = await rate(make_store, CHAIN, count)
            ratios.append(chained / baseline)
            own_ratios.append(chained_own / baseline_own)
            records = await step_costs(make_store, steps)
            own_10, sdk_10 = _near(records, 10)
            own_1000, sdk_1000 = _near(records, 1000)
            flats.append(own_1000 / own_10)
            print(
                f"[{label}] no-activity {baseline:8.1f}/s  2-activity chain {chained:8.1f}/s"
                f"  ratio {chained / baseline:.2f}x | step at ~10 events: backend"
                f" {own_10 * 1e3:.3f} ms + SDK replay {sdk_10 * 1e3:.3f} ms;"
                f" at ~1000: backend {own_1000 * 1e3:.3f} ms + SDK replay"
                f" {sdk_1000 * 1e3:.3f} ms; backend 1000/10 = {own_1000 / own_10:.2f}x"
            )
        chain_met = sum(r >= CHAIN_RATE_TARGET for r in ratios)
        flat_met = sum(f <= FLAT_STEP_TARGET for f in flats)
        print(
            f"[{label}] chain/no-activity rate: min {min(ratios):.2f} median"
            f" {statistics.median(ratios):.2f} max {max(ratios):.2f} (target >="
            f" {CHAIN_RATE_TARGET}x: met in {chain_met} of {runs} runs); the backend's own"
            f" work alone (SDK replay subtracted): median {statistics.median(own_ratios):.2f}x"
        )
        print(
            f"[{label}] backend step cost 1000/10 events: min {min(flats):.2f} median"
            f" {statistics.median(flats):.2f} max {max(flats):.2f} (target <="
            f" {FLAT_STEP_TARGET}x: met in {flat_met} of {runs} runs)"
        )
        met = met and chain_met == runs and flat_met == runs
    print(f"load average at end: {os.getloadavg()}")
    return met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench devhost")
    parser.add_argument("--quick", action="store_true", help="fewer orchestrations per run")
    parser.add_argument("--runs", type=int, default=5, help="independent runs (default 5)")
    args = parser.parse_args(argv)
    met = asyncio.run(run(args.quick, args.runs))
    print("all targets met" if met else "a target was missed")
    return 0
