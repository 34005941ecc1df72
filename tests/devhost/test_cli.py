"""``python -m devhost`` as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.devhost.conftest import app_file
from tests.redis_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


def devhost_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "devhost", *arguments]


def child_environment(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ.update(extra)
    return environ


def wait_for_line(process: subprocess.Popen[str], marker: str) -> list[str]:
    """Read stdout until a line contains ``marker`` (bounded in time)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line == "":
            raise AssertionError(f"devhost exited early ({process.poll()}):\n{''.join(lines)}")
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {STARTUP_TIMEOUT}s:\n{''.join(lines)}")


@pytest.fixture
def devhost_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(
        devhost_command("--app", str(app_file("http_basic")), "--port", str(port)),
        cwd=ROOT,
        env=child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def test_serves_the_app_prints_the_banner_and_stops_on_sigterm(
    devhost_process: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = devhost_process
    lines = wait_for_line(process, "Host started on")
    output = "".join(lines)
    assert f"\techo_int: [GET,POST] http://127.0.0.1:{port}/api/echo/{{id:int}}" in output
    assert "Functions:\n\n" in output
    assert "EMBEDDED REDIS" in output
    assert "ONLY THIS ONE PROCESS" in output
    url = f"http://127.0.0.1:{port}/api/echo/5"
    async with aiohttp.ClientSession() as http, http.post(url, data=b"x") as response:
        assert response.status == 200
        assert (await response.json(content_type=None))["route_params"] == {"id": "5"}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_help_documents_every_option() -> None:
    result = subprocess.run(
        devhost_command("--help"), cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    for option in (
        "--port",
        "--host",
        "--app",
        "--store",
        "--storage-latency",
        "REDIS_URL",
        "local.settings.json",
        "host.json",
        "NCRONTAB",
    ):
        assert option in result.stdout, option


def test_import_failure_exits_1_with_a_clear_message() -> None:
    result = subprocess.run(
        devhost_command("--app", str(app_file("broken")), "--port", "0"),
        cwd=ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "devhost: error: importing" in result.stderr
    assert "this app is broken on purpose" in result.stderr


def test_missing_app_file_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        devhost_command("--app", str(tmp_path / "function_app.py")),
        cwd=ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not found" in result.stderr
