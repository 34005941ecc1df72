"""Fixtures of the gRPC client tests: the SDK's in-memory gRPC backend with a real
``TaskHubGrpcWorker`` running the orchestrations, real gRPC clients, real Redis leases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from durabletask import client as dt
from durabletask.worker import TaskHubGrpcWorker

from singleton import LeasePolicy, Leases, RedisSettings, SingletonStarter, create_redis_client
from tests.grpc.backends import CountingBackend, StorageRaceBackend
from tests.grpc.orchestrations import ORCHESTRATORS
from tests.redis_servers import RedisServer, free_port

HOSTS = 3
"""Starters of the ``starters`` fixture, each on its own Redis client, as if in other processes."""


@pytest.fixture(scope="session")
def grpc_backend() -> Iterator[CountingBackend]:
    """The SDK's backend on a free port, with a worker that runs :data:`ORCHESTRATORS`."""
    backend = CountingBackend(port=free_port())
    address = backend.start()
    worker = TaskHubGrpcWorker(host_address=address)
    for name, function in ORCHESTRATORS.items():
        assert worker.add_orchestrator(function) == name
    worker.start()
    try:
        yield backend
    finally:
        worker.stop()
        backend.stop()


@pytest.fixture(scope="session")
def race_backend() -> Iterator[StorageRaceBackend]:
    """The Azure Storage race around the SDK's backend (no worker: the instances stay Pending,
    which is all a start race needs)."""
    backend = StorageRaceBackend(port=free_port())
    backend.start()
    try:
        yield backend
    finally:
        backend.stop()


def address_of(backend: CountingBackend) -> str:
    return f"localhost:{backend._port}"


@pytest.fixture(scope="session")
async def grpc_client(grpc_backend: CountingBackend) -> AsyncIterator[dt.AsyncTaskHubGrpcClient]:
    client = dt.AsyncTaskHubGrpcClient(host_address=address_of(grpc_backend))
    yield client
    await client.close()


@pytest.fixture(scope="session")
def sync_client(grpc_backend: CountingBackend) -> Iterator[dt.TaskHubGrpcClient]:
    client = dt.TaskHubGrpcClient(host_address=address_of(grpc_backend))
    yield client
    client.close()


@pytest.fixture
async def leases(redis_client: aioredis.Redis) -> AsyncIterator[Leases]:
    leases = Leases(redis_client, namespace="grpc", policy=LeasePolicy(ttl=5.0, wait=5.0))
    yield leases
    await leases.aclose()


@pytest.fixture
def starter(leases: Leases) -> SingletonStarter:
    return SingletonStarter(leases=leases, terminate_wait=5.0)


@pytest.fixture
async def starters(redis_server: RedisServer) -> AsyncIterator[list[SingletonStarter]]:
    """``HOSTS`` starters sharing one namespace, each on its own Redis client."""
    settings = RedisSettings.from_environ({"REDIS_URL": redis_server.url})
    clients = [create_redis_client(settings) for _ in range(HOSTS)]
    all_leases = [
        Leases(client, namespace="grpc-race", policy=LeasePolicy(ttl=15.0, wait=10.0))
        for client in clients
    ]
    yield [SingletonStarter(leases=leases) for leases in all_leases]
    for leases, client in zip(all_leases, clients, strict=True):
        await leases.aclose()
        await client.aclose()


async def wait_for_status(
    client: dt.AsyncTaskHubGrpcClient,
    instance_id: str,
    status: dt.OrchestrationStatus,
    *,
    timeout: float = 10.0,
) -> dt.OrchestrationState:
    """Poll until the instance reports ``status`` (a condition, not a sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await client.get_orchestration_state(instance_id)
        if state is not None and state.runtime_status is status:
            return state
        if asyncio.get_running_loop().time() > deadline:
            seen = state and state.runtime_status
            raise AssertionError(f"{instance_id!r} is {seen}, not {status}")
        await asyncio.sleep(0.01)
