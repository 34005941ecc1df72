"""The Durable Task guide's code against the SDK's own gRPC backend (``durabletask.testing``)
with a real ``TaskHubGrpcWorker`` running its orchestration, and a real redis-server."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from durabletask import client as dt
from durabletask.worker import TaskHubGrpcWorker

from singleton import Outcome, close_default_starter
from tests.docs.blocks import tagged
from tests.grpc.backends import CountingBackend
from tests.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def guide(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "guide_grpc.py"
    path.write_text(tagged("module", "grpc").code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("guide_grpc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["guide_grpc"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("guide_grpc", None)


@pytest.fixture
async def client(
    guide: ModuleType, redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[dt.AsyncTaskHubGrpcClient, CountingBackend]]:
    """The backend with a worker running the guide's orchestration; the guide's starter on
    the session's redis-server (``REDIS_URL``)."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    await close_default_starter()
    backend = CountingBackend(port=free_port())
    address = backend.start()
    worker = TaskHubGrpcWorker(host_address=address)
    assert worker.add_orchestrator(guide.process_order) == "process_order"
    worker.start()
    grpc_client = dt.AsyncTaskHubGrpcClient(host_address=address)
    try:
        yield grpc_client, backend
    finally:
        await grpc_client.close()
        await close_default_starter()
        worker.stop()
        backend.stop()


async def test_concurrent_starts_with_the_guides_call_start_once_and_deliver_the_event(
    guide: ModuleType, client: tuple[dt.AsyncTaskHubGrpcClient, CountingBackend]
) -> None:
    grpc_client, backend = client

    results = await asyncio.gather(*(guide.start_order(grpc_client, 42) for _ in range(10)))

    assert backend.created["order-42"] == 1
    assert {r.outcome for r in results} == {Outcome.STARTED}  # one start, nine replays of it
    assert sum(not r.replayed for r in results) == 1
    state = await grpc_client.wait_for_orchestration_completion("order-42", timeout=30)
    assert state is not None
    assert state.serialized_output is not None
    # The event's data arrived as the value sent, not as a JSON string of it.
    assert state.serialized_output == '{"order": 42, "approved_by": "alice"}'

    again = await guide.start_order(grpc_client, 42)  # a retry after it finished: replayed
    assert (again.outcome, again.replayed) == (Outcome.STARTED, True)
    assert backend.created["order-42"] == 1
