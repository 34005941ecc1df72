"""``@singleton`` and the lease outside Azure Functions: plain async and sync functions with a
callable scope bound to their arguments and no trigger, as an asyncio service or a Durable
Task worker's activity uses them; real Redis, and a real ``TaskHubGrpcWorker`` activity."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from durabletask import client as dt
from durabletask import task
from durabletask.worker import TaskHubGrpcWorker

from singleton import InvalidScope, LeaseBusy, Leases, current_lease, singleton
from tests.grpc.backends import CountingBackend
from tests.redis_servers import free_port

pytestmark = pytest.mark.redis


class Overlap:
    """How many bodies ran at once, at most (thread-safe: sync bodies run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.ran = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.ran += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.now -= 1


async def test_a_plain_async_function_one_call_per_argument_bound_scope(leases: Leases) -> None:
    release = asyncio.Event()

    @singleton(lambda customer: customer, on_busy="fail", leases=lambda: leases)
    async def bill(customer: str, amount: int) -> tuple[str, int, int]:
        lease = current_lease()
        assert lease is not None
        await release.wait()
        return customer, amount, lease.fence

    first = asyncio.create_task(bill("alice", 1))
    other = asyncio.create_task(bill("bob", 2))  # another scope runs meanwhile
    await asyncio.sleep(0.2)
    with pytest.raises(LeaseBusy, match="alice"):
        await bill("alice", 3)
    release.set()
    assert (await first)[:2] == ("alice", 1)
    assert (await other)[:2] == ("bob", 2)
    assert (await bill("alice", 4))[:2] == ("alice", 4)  # released after the body


async def test_a_plain_sync_function_runs_in_a_thread_one_at_a_time(leases: Leases) -> None:
    overlap = Overlap()
    loop_thread = threading.get_ident()

    @singleton(lambda order: order["customer"], wait=10, leases=lambda: leases)
    def ship(order: dict[str, Any]) -> int:
        assert threading.get_ident() != loop_thread  # never on the loop
        lease = current_lease()
        assert lease is not None
        with overlap:
            time.sleep(0.02)
        return lease.fence

    fences = await asyncio.gather(*(ship({"customer": "carol", "n": n}) for n in range(5)))

    assert overlap.ran == 5
    assert overlap.most == 1
    assert len(set(fences)) == 5  # each call held its own lease, one after another


async def test_a_template_scope_without_a_trigger_is_a_clear_error(leases: Leases) -> None:
    @singleton("{customer}", leases=lambda: leases)
    async def report(customer: str) -> None:
        raise AssertionError("must not run without its scope")

    with pytest.raises(InvalidScope, match="callable"):
        await report("dave")


# A Durable Task worker's activities are sync functions run in the worker's thread pool,
# without an event loop; they hand the guarded coroutine to the service's loop.
_service: dict[str, Any] = {}


def guarded_activity(ctx: task.ActivityContext, order: dict[str, Any]) -> int:
    loop: asyncio.AbstractEventLoop = _service["loop"]
    future = asyncio.run_coroutine_threadsafe(_service["work"](order), loop)
    return int(future.result(timeout=30))


def fan_out(ctx: task.OrchestrationContext, orders: list[dict[str, Any]]) -> Any:
    results = yield task.when_all([ctx.call_activity(guarded_activity, input=o) for o in orders])
    return results


@pytest.fixture
async def activity_worker(leases: Leases) -> AsyncIterator[dt.AsyncTaskHubGrpcClient]:
    backend = CountingBackend(port=free_port())
    address = backend.start()
    worker = TaskHubGrpcWorker(host_address=address)
    worker.add_orchestrator(fan_out)
    worker.add_activity(guarded_activity)
    worker.start()
    client = dt.AsyncTaskHubGrpcClient(host_address=address)
    try:
        yield client
    finally:
        await client.close()
        worker.stop()
        backend.stop()
        _service.clear()


async def test_a_durable_task_activity_guarded_by_singleton(
    activity_worker: dt.AsyncTaskHubGrpcClient, leases: Leases
) -> None:
    overlap = Overlap()

    @singleton(lambda order: order["customer"], wait=20, leases=lambda: leases)
    async def work(order: dict[str, Any]) -> int:
        with overlap:
            await asyncio.sleep(0.05)
        return int(order["n"])

    _service.update(loop=asyncio.get_running_loop(), work=work)
    orders = [{"customer": "erin", "n": n} for n in range(4)]
    instance_id = f"fan-out-{uuid.uuid4().hex[:8]}"

    await activity_worker.schedule_new_orchestration(fan_out, input=orders, instance_id=instance_id)
    state = await activity_worker.wait_for_orchestration_completion(instance_id, timeout=30)

    assert state is not None
    assert state.runtime_status is dt.OrchestrationStatus.COMPLETED, state.failure_details
    assert sorted(state.get_output()) == [0, 1, 2, 3]
    assert overlap.ran == 4
    assert overlap.most == 1  # the worker ran them concurrently; the lease kept them apart


@pytest.fixture
def without_azure() -> str:
    """Python code that makes ``azure`` and ``aiohttp`` unimportable, as in an install of the
    library without the [functions] extra."""
    return (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('azure', 'aiohttp'):\n"
        "            raise ImportError(f'{name} is not installed (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
    )


def test_the_starter_and_the_lease_import_without_the_functions_packages(
    without_azure: str,
) -> None:
    code = without_azure + (
        "from singleton.lease import Leases\n"
        "from singleton.starter import SingletonStarter\n"
        "import singleton.starter._grpc\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)
