"""Fixtures of the docs suite: the documentation's apps served on the devhost with a real
redis-server, and its shell blocks run against them."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from singleton import close_default_starter
from tests.docs.blocks import ROOT, Block, tagged
from tests.redis_servers import RedisServer

ServeBlock = Callable[..., AbstractAsyncContextManager[RunningDevHost]]


def write_app(block: Block, folder: Path) -> Path:
    """The block as ``folder/function_app.py``, beside the repository's host.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(block.code, encoding="utf-8")
    (folder / "host.json").write_text((ROOT / "host.json").read_text(encoding="utf-8"))
    return folder / "function_app.py"


@pytest.fixture
async def serve(
    redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[ServeBlock]:
    """``serve(app_name)``: the block tagged ``app app_name`` served on a devhost on a free
    port (``serve(path=...)`` serves a file of the repository), with the session's real
    redis-server as ``REDIS_URL`` (flushed by ``redis_client``)."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    # The repository's app registers its examples only when asked, as ./dev run asks.
    monkeypatch.setenv("SINGLETON_EXAMPLES", "true")
    await close_default_starter()

    def start(
        name: str | None = None, *, path: Path | None = None, **options: Any
    ) -> AbstractAsyncContextManager[RunningDevHost]:
        app = path if path is not None else write_app(tagged("app", name), tmp_path / str(name))
        options.setdefault("run_timers", False)
        return run_devhost(app_path=app, port=0, out=io.StringIO(), **options)

    yield start
    await close_default_starter()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def run_shell(block: Block, host: RunningDevHost, *, timeout: float = 60) -> str:
    """Run a ``shell`` block with bash (``set -euo pipefail``) and ``S`` = the host's base
    URL, in the repository's root; its standard output (AssertionError on a non-zero exit)."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "set -euo pipefail\n" + block.code,
        cwd=ROOT,
        env={**os.environ, "S": host.base_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, f"{block.where} exited {process.returncode}: {err.decode()}"
    return out.decode()


async def wait_for_status(
    http: aiohttp.ClientSession, url: str, wanted: set[str], *, seconds: float = 10
) -> dict[str, Any]:
    """Poll a status URL until its runtimeStatus is one of ``wanted``."""
    body: dict[str, Any] = {}
    for _ in range(int(seconds / 0.05)):
        async with http.get(url) as response:
            if response.status in (200, 202):  # 202 while it runs, as on the host
                body = json.loads(await response.text())
                if body.get("runtimeStatus") in wanted:
                    return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never reached {wanted}: {body}")
