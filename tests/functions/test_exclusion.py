"""One scope never runs twice at once; different scopes run side by side.

Every invocation records when its body entered and exited; the tests then look for two
invocations of one scope whose intervals overlap (there must be none) and for invocations of
different scopes that did (there must be some: scopes do not serialise each other). In one
process with two "hosts" (each its own Leases and Redis pool), and across two OS processes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import azure.functions as func
import pytest

from singleton import Leases, singleton
from tests.functions.conftest import MakeLeases, http_request
from tests.functions.records import Record, overlaps_across_scopes, overlaps_within_scopes
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
BODY_SECONDS = 0.02
ROUNDS = 12


def host(leases: Leases, records: list[Record], who: str, body: str):  # type: ignore[no-untyped-def]
    """One Function App instance's copy of the function (same lease name, own Leases)."""

    @singleton("{customerId}", name="build", leases=lambda: leases)
    async def build_async(req: func.HttpRequest) -> func.HttpResponse:
        enter = time.monotonic()
        await asyncio.sleep(BODY_SECONDS)
        records.append(Record(req.route_params["customerId"], enter, time.monotonic(), who))
        return func.HttpResponse("built")

    @singleton("{customerId}", name="build", leases=lambda: leases)
    def build_sync(req: func.HttpRequest) -> func.HttpResponse:
        enter = time.monotonic()
        time.sleep(BODY_SECONDS)
        records.append(Record(req.route_params["customerId"], enter, time.monotonic(), who))
        return func.HttpResponse("built")

    return build_async if body == "async" else build_sync


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_one_scope_never_overlaps_in_one_process_while_scopes_run_in_parallel(
    body: str, make_leases: MakeLeases
) -> None:
    records: list[Record] = []
    hosts = [host(make_leases(wait=30), records, f"host-{i}", body) for i in range(2)]
    calls = [hosts[i % 2](http_request(scope)) for i in range(ROUNDS * 2) for scope in ("c1", "c2")]
    responses = await asyncio.wait_for(asyncio.gather(*calls), 60)
    assert [r.status_code for r in responses] == [200] * len(calls)
    assert len(records) == len(calls)
    assert overlaps_within_scopes(records) == []
    assert overlaps_across_scopes(records) > 0
    assert {r.who for r in records if r.scope == "c1"} == {"host-0", "host-1"}


def contender(url: str, body: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.functions.contender", url, str(ROUNDS), body],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_one_scope_never_overlaps_across_two_os_processes(
    body: str, redis_server: RedisServer
) -> None:
    processes = [contender(redis_server.url, body) for _ in range(2)]
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
            assert line.strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(p.communicate) for p in processes)), 60
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [p.returncode for p in processes] == [0, 0]
    started: list[float] = []
    records: list[Record] = []
    for index, (stdout, _) in enumerate(outputs):
        first, *rest = stdout.splitlines()
        started += json.loads(first)
        records += [Record(*json.loads(line), who=str(index)) for line in rest]
    assert len(records) == 2 * 2 * ROUNDS
    assert overlaps_within_scopes(records) == []
    assert overlaps_across_scopes(records) > 0
    # Both processes contended at the same time: each had called all its invocations before
    # the other's last one ended (who wins each hand-off is up to the lease, not asserted).
    last_exit = [max(r.exit for r in records if r.who == str(i)) for i in (0, 1)]
    assert started[0] < last_exit[1]
    assert started[1] < last_exit[0]
