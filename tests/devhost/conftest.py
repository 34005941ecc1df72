"""Helpers for the local-host tests: the test apps and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from tests.devhost.azurite import Azurite, running_azurite

APPS = Path(__file__).parent / "apps"


def app_file(name: str) -> Path:
    """The function_app.py of one of the small test apps in tests/devhost/apps/."""
    path = APPS / name / "function_app.py"
    assert path.is_file(), path
    return path


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One real Azurite queue service for the session, on a free loopback port."""
    with running_azurite() as server:
        yield server


async def clear_queues(connection_string: str) -> None:
    """Delete every queue and container of a (session-wide) Azurite: each test starts empty."""
    async with QueueServiceClient.from_connection_string(connection_string) as service:
        names = [queue.name async for queue in service.list_queues()]
        for name in names:
            await service.delete_queue(name)
    async with BlobServiceClient.from_connection_string(connection_string) as blobs:
        containers = [container.name async for container in blobs.list_containers()]
        for name in containers:
            await blobs.delete_container(name)


@pytest.fixture(params=["embedded", "azurite"])
async def storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each queue test runs on both backings: the embedded store and a real Azurite."""
    if request.param == "azurite":
        azurite: Azurite = request.getfixturevalue("azurite")
        await clear_queues(azurite.connection_string)
        monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    return str(request.param)
