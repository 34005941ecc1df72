"""Fixtures: a real backend served over real HTTP, the real Durable client, an HTTP session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import azure.durable_functions as df
import pytest

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from tests.devhost.durable.orchestrations import build_functions

HUB = "DurableSingletonHub"


@dataclass
class Served:
    backend: DurableBackend
    base_url: str

    @property
    def client(self) -> df.DurableOrchestrationClient:
        return df.DurableOrchestrationClient(self.backend.client_binding(self.base_url))

    def webhook(self, path: str) -> str:
        return f"{self.base_url}/runtime/webhooks/durabletask/{path}"

    def rpc(self, path: str) -> str:
        return f"{self.base_url}/durabletask/{path}"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    backend = DurableBackend(functions=build_functions(), hub_name=HUB, store=MemoryStore())
    async with serve_backend(backend) as base_url:
        yield Served(backend, base_url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def wait_for(
    probe: Callable[[], Awaitable[Any]],
    accept: Callable[[Any], bool],
    *,
    timeout: float = 5.0,
    interval: float = 0.02,
) -> Any:
    """Poll ``probe`` until ``accept`` says yes; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not accept(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


async def wait_for_status(
    client: df.DurableOrchestrationClient, instance_id: str, *statuses: str, timeout: float = 5.0
) -> Any:
    """The instance's status once its runtimeStatus is one of ``statuses``."""
    return await wait_for(
        lambda: client.get_status(instance_id, show_input=True),
        lambda s: s.runtime_status is not None and s.runtime_status.value in statuses,
        timeout=timeout,
    )
