"""End-to-end: the real function_app.py on the devhost, driven over real HTTP."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from singleton import close_default_starter
from tests.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_APP = ROOT / "function_app.py"
RACE_APP = Path(__file__).parent / "race_app" / "function_app.py"

DevHostFactory = Callable[..., AbstractAsyncContextManager[RunningDevHost]]


@pytest.fixture
async def devhost(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DevHostFactory]:
    """Starts devhosts on free ports, sharing the session's real redis-server.

    The app's default starter is per event loop and the tests share one loop, so it is
    closed around each test: every host gets a starter for its own settings.
    """
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    # The examples (orchestrations, BuildReport) are registered only when asked for.
    monkeypatch.setenv("SINGLETON_EXAMPLES", "true")
    await close_default_starter()

    def start(
        app: Path = FUNCTION_APP, **options: Any
    ) -> AbstractAsyncContextManager[RunningDevHost]:
        options.setdefault("run_timers", False)
        return run_devhost(app_path=app, port=0, out=io.StringIO(), **options)

    yield start
    await close_default_starter()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def wait_for_status(
    http: aiohttp.ClientSession, status_url: str, wanted: set[str], *, seconds: float = 10
) -> dict[str, Any]:
    """Poll the public status endpoint until runtimeStatus is one of ``wanted``."""
    body: dict[str, Any] = {}
    for _ in range(int(seconds / 0.05)):
        async with http.get(status_url) as response:
            body = await response.json()
        if body.get("runtimeStatus") in wanted:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {wanted}: {body}")
