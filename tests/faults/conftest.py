"""Fixtures of the fault suite: a Durable backend over real HTTP, starter processes, and a
storm of real HTTP starts through the devhost. Outcomes are read from the backend's start
records and from Redis, never from status codes alone."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from singleton import close_default_starter
from tests.singleton.harness import DurableHost, running_durable_host

ROOT = Path(__file__).resolve().parents[2]
HUB = "FaultHub"


class ServedBackend(DurableHost):
    """The starter tests' served backend, with the count of starts that created an instance
    (``started`` counts every start the store answered with success, swallowed ones too)."""

    def created(self, instance_id: str) -> int:
        return sum(record.created for record in self.backend.start_records(instance_id))


def served_backend(
    *, storage_latency: float = 0.0, middlewares: Sequence[Any] = ()
) -> contextlib.AbstractAsyncContextManager[ServedBackend]:
    """The embedded Durable backend on a free loopback port, behind ``middlewares``."""
    return running_durable_host(
        storage_latency=storage_latency,
        hub=HUB,
        middlewares=middlewares,
        host_type=ServedBackend,
    )


class Racers:
    """Starter processes (tests/faults/racer.py), each sent the same instance ID at once."""

    def __init__(self, processes: list[subprocess.Popen[str]]) -> None:
        self.processes = processes

    def race(self, instance_id: str) -> list[dict[str, Any]]:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(instance_id + "\n")
            process.stdin.flush()
        return [read_json_line(process) for process in self.processes]


def read_json_line(process: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    line = read_line(process, timeout)
    answer: dict[str, Any] = json.loads(line)
    return answer


def read_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = process.stdout.readline()
    if not line or time.monotonic() > deadline:
        _, err = process.communicate(timeout=5)
        raise AssertionError(f"racer {process.pid} ended ({process.poll()}): {err}")
    return line


@contextlib.contextmanager
def racer_processes(
    tmp_path: Path,
    binding: str,
    redis_url: str,
    *,
    count: int,
    mode: str = "guarded",
    ttl: float = 15.0,
    wait: float = 10.0,
) -> Iterator[Racers]:
    binding_file = tmp_path / "binding.json"
    binding_file.write_text(binding, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "tests.faults.racer",
        str(binding_file),
        redis_url,
        mode,
        str(ttl),
        str(wait),
    ]
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert read_line(process, timeout=60).strip() == "ready"
        yield Racers(processes)
    finally:
        for process in processes:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()  # the racer's cue to finish
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


# ------------------------------------------------------------------ storms over HTTP


@dataclass
class Answer:
    instance_id: str
    status: int
    problem_type: str | None


@dataclass
class Storm:
    """Starts of fresh instance IDs over real HTTP, ``concurrency`` at a time, until stopped."""

    host: RunningDevHost
    http: aiohttp.ClientSession
    concurrency: int = 8
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _next: int = 0

    async def one(self, instance_id: str) -> None:
        url = self.host.url(f"orchestrators/AwaitApproval/{instance_id}")
        try:
            async with self.http.post(url, json={"timeoutSeconds": 600}) as response:
                body = await response.json(content_type=None)
                problem_type = body.get("type") if response.status != 202 else None
                self.answers.append(Answer(instance_id, response.status, problem_type))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise AssertionError(f"the app itself failed for {instance_id!r}: {exc!r}") from exc

    async def _worker(self, number: int) -> None:
        while not self._stop.is_set():
            self._next += 1
            await self.one(f"storm-{number}-{self._next}")

    async def run_while(self, fault: Any) -> None:
        """Storm while ``fault()`` (a coroutine function) runs, then stop."""
        workers = [asyncio.create_task(self._worker(n)) for n in range(self.concurrency)]
        try:
            await fault()
        finally:
            self._stop.set()
            await asyncio.gather(*workers)

    def since(self, mark: int) -> list[Answer]:
        return self.answers[mark:]

    def statuses(self, answers: Sequence[Answer] | None = None) -> Counter[int]:
        return Counter(a.status for a in (self.answers if answers is None else answers))


async def assert_every_outcome_matches_the_store(storm: Storm) -> None:
    """202 = exactly one created instance; 503 lease-unavailable = nothing started; nothing
    in the store that no 202 accounts for (a lease-lost 503 may have, by its contract)."""
    backend = storm.host.backend
    accepted = {a.instance_id for a in storm.answers if a.status == 202}
    unknown = {
        a.instance_id for a in storm.answers if a.problem_type and "lease-lost" in a.problem_type
    }
    for answer in storm.answers:
        records = backend.start_records(answer.instance_id)
        if answer.status == 202:
            assert [r.created for r in records] == [True], answer
        elif answer.status == 503 and "lease-unavailable" in (answer.problem_type or ""):
            assert records == [], answer
            assert await backend.get_state(answer.instance_id) is None, answer
        else:
            assert answer.instance_id in unknown, answer
    stored = {state.instance_id for state in await backend.list_states()}
    assert stored - accepted <= unknown, sorted(stored - accepted - unknown)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@contextlib.asynccontextmanager
async def devhost_on(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, **settings: str
) -> AsyncIterator[RunningDevHost]:
    """function_app.py on the devhost, its starter on ``redis_url`` with ``settings``."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SINGLETON_EXAMPLES", "true")  # the faults start AwaitApproval
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    await close_default_starter()
    try:
        async with run_devhost(
            app_path=ROOT / "function_app.py", port=0, out=io.StringIO(), run_timers=False
        ) as host:
            yield host
    finally:
        await close_default_starter()
