"""The starter benchmark on the gRPC client (the Durable Task SDK's ``AsyncTaskHubGrpcClient``),
side by side with the v1 figures: ours against the documentation's check-then-start written
with the gRPC client, on one backend — the SDK's in-memory gRPC backend in its own process,
with the same store latency per status read and per start as the v1 backend.

The backend process (``python -m bench.starter._grpc LATENCY``) prints its address, then
answers each line ``calls`` on its stdin with the gRPC calls it has served, by method.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]
from durabletask import client as dt
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from durabletask.testing import InMemoryOrchestrationBackend

from bench._stats import summarize, table
from bench.starter._callers import Call, fresh_latencies
from singleton import LeasePolicy, Leases, RedisSettings, SingletonStarter, create_redis_client
from singleton._settings import Settings

CONTENDERS = ("sample", "ours")
ORCHESTRATOR = "wait_for_finish"
FRESH_P50_VS_SAMPLE = 1.10
CALLS_PER_START = 2
FINISHED = frozenset(
    {
        dt.OrchestrationStatus.COMPLETED,
        dt.OrchestrationStatus.FAILED,
        dt.OrchestrationStatus.TERMINATED,
    }
)


class _LatencyBackend(InMemoryOrchestrationBackend):
    """The SDK's backend with ``latency`` seconds per store operation (a read, a create), and
    every call counted."""

    def __init__(self, *, port: int, latency: float) -> None:
        super().__init__(port=port)
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, method: str) -> None:
        with self._count_lock:
            self.calls[method] += 1

    def StartInstance(  # noqa: N802 - the gRPC method's name
        self, request: pb.CreateInstanceRequest, context: Any
    ) -> pb.CreateInstanceResponse:
        self._count("StartInstance")
        time.sleep(self.latency)
        return super().StartInstance(request, context)

    def GetInstance(  # noqa: N802
        self, request: pb.GetInstanceRequest, context: Any
    ) -> pb.GetInstanceResponse:
        self._count("GetInstance")
        time.sleep(self.latency)
        return super().GetInstance(request, context)


def _serve(latency: float) -> None:
    """The backend process: serve on a free port until stdin closes. 200 server threads (the
    SDK's own ``start()`` has 10): at concurrency 100 neither contender queues for one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    backend = _LatencyBackend(port=port, latency=latency)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=200))
    stubs.add_TaskHubSidecarServiceServicer_to_server(backend, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(json.dumps({"address": f"127.0.0.1:{port}"}), flush=True)
    for line in sys.stdin:
        if line.strip() == "calls":
            with backend._count_lock:
                print(json.dumps(dict(backend.calls)), flush=True)
    server.stop(None)


class BackendProcess:
    """The gRPC backend in its own process (off the callers' CPU, as the v1 backend)."""

    def __init__(self, process: subprocess.Popen[str], address: str) -> None:
        self._process = process
        self.address = address

    def calls(self) -> int:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write("calls\n")
        self._process.stdin.flush()
        counts: dict[str, int] = json.loads(self._process.stdout.readline())
        return sum(counts.values())


@contextlib.contextmanager
def backend_process(latency: float) -> Iterator[BackendProcess]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.starter._grpc", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the gRPC backend process exited before listening")
        yield BackendProcess(process, json.loads(line)["address"])
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextlib.asynccontextmanager
async def contenders(address: str, redis_url: str) -> AsyncIterator[dict[str, Call]]:
    """Both contenders on one gRPC client; ours with a starter from default app settings.
    Each answers 202 for a start, 409 for an instance that holds the ID."""
    settings = Settings.from_environ({"REDIS_URL": redis_url})
    redis = create_redis_client(RedisSettings.from_environ({"REDIS_URL": redis_url}))
    leases = Leases(
        redis,
        namespace=settings.key_prefix,
        policy=LeasePolicy(ttl=settings.lease_ttl, wait=settings.lease_wait),
    )
    starter = SingletonStarter(leases=leases)
    client = dt.AsyncTaskHubGrpcClient(host_address=address)
    client._logger.disabled = True  # it logs every start at INFO

    async def sample(orchestrator: str, instance_id: str) -> int:
        state = await client.get_orchestration_state(instance_id, fetch_payloads=False)
        if state is not None and state.runtime_status not in FINISHED:
            return 409
        await client.schedule_new_orchestration(orchestrator, instance_id=instance_id)
        return 202

    async def ours(orchestrator: str, instance_id: str) -> int:
        result = await starter.start(client, orchestrator, instance_id)
        return 202 if result.started else 409

    try:
        yield {"sample": sample, "ours": ours}
    finally:
        await client.close()
        await leases.aclose()
        await redis.aclose()


async def fresh(
    backend: BackendProcess, redis_url: str, plan: dict[int, int], rounds: int
) -> tuple[dict[int, dict[str, list[int]]], dict[str, float]]:
    """Fresh-ID start latencies per concurrency, contenders alternating by round; and the
    backend calls per start of each contender."""
    samples: dict[int, dict[str, list[int]]] = {c: {n: [] for n in CONTENDERS} for c in plan}
    calls: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    async with contenders(backend.address, redis_url) as call:
        for name in CONTENDERS:
            await call[name](ORCHESTRATOR, f"grpc-warm-{name}")
        for concurrency, total in plan.items():
            for turn in range(rounds):
                order = CONTENDERS if turn % 2 == 0 else CONTENDERS[::-1]
                for name in order:
                    before = await asyncio.to_thread(backend.calls)
                    taken = await fresh_latencies(
                        call[name],
                        ORCHESTRATOR,
                        f"grpc-fresh-{name}-{concurrency}-{turn}",
                        total // rounds,
                        concurrency,
                    )
                    calls[name] += await asyncio.to_thread(backend.calls) - before
                    starts[name] += len(taken)
                    samples[concurrency][name] += taken
    return samples, {name: calls[name] / starts[name] for name in CONTENDERS}


def report(
    samples: dict[int, dict[str, list[int]]], per_start: dict[str, float], latency: float
) -> str:
    """The gRPC section of the starter benchmark: its table and its targets."""
    rows, checks = [], []
    for concurrency, by_name in samples.items():
        sample, ours = summarize("sample", by_name["sample"]), summarize("ours", by_name["ours"])
        ratio = ours.median_us / sample.median_us
        rows.append(
            [
                str(concurrency),
                f"{sample.median_us / 1000:.1f} / {sample.p99_us / 1000:.1f}",
                f"{ours.median_us / 1000:.1f} / {ours.p99_us / 1000:.1f}",
                f"{ratio:.2f}x",
                f"{ours.p99_us / sample.p99_us:.2f}x",
                str(ours.samples),
            ]
        )
        checks.append(
            [
                f"gRPC fresh-ID p50 <= {FRESH_P50_VS_SAMPLE}x check-then-start, concurrency "
                f"{concurrency}",
                "yes" if ratio <= FRESH_P50_VS_SAMPLE else "NO",
                f"{ratio:.2f}x",
            ]
        )
    checks.append(
        [
            f"gRPC backend calls per start = {CALLS_PER_START}",
            "yes" if per_start["ours"] == CALLS_PER_START else "NO",
            f"{per_start['ours']:g} (check-then-start: {per_start['sample']:g})",
        ]
    )
    headers = ["concurrency", "check-then-start p50 / p99 ms", "ours p50 / p99 ms"]
    return (
        f"## gRPC client (durabletask AsyncTaskHubGrpcClient): fresh IDs\n\n"
        f"The SDK's in-memory gRPC backend (own process) with {latency * 1000:g} ms per status "
        f"read and per start; the same Redis.\n\n"
        + table([*headers, "p50 ratio", "p99 ratio", "starts each"], rows)
        + "\n\n### gRPC targets\n\n"
        + table(["target", "met", "measured"], checks)
    )


def run(latency: float, redis_url: str, *, quick: bool) -> str:
    """Measure and return the gRPC section (markdown)."""
    plan = {1: 40, 10: 100, 100: 200} if quick else {1: 200, 10: 600, 100: 1200}
    rounds = 2 if quick else 4
    with backend_process(latency) as backend:
        samples, per_start = asyncio.run(fresh(backend, redis_url, plan, rounds))
    return report(samples, per_start, latency)


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
