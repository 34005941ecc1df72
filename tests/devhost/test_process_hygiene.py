"""``python -m devhost`` as a real process: clean exits, Redis checked at start, no secrets
printed, a loud warning off loopback."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from devhost import run_devhost
from tests.devhost.conftest import app_file
from tests.devhost.test_cli import ROOT, child_environment, devhost_command, wait_for_line
from tests.redis_servers import RedisServer, free_port, running_redis_server

pytestmark = pytest.mark.slow

SECRET = "s3cret-Pa55"
# What a clean exit must not print: aiohttp's unclosed-session errors, redis-py's unclosed
# connections, any traceback or error log line.
DIRT = ("Unclosed", "unclosed", "ResourceWarning", "Traceback", " ERROR ")


def start_devhost(*arguments: str, **environ: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*devhost_command(*arguments)],
        cwd=ROOT,
        # ResourceWarnings are silent by default: show every one, so a leak is seen.
        # The repository's app with its examples (AwaitApproval), as ./dev run serves it.
        env=child_environment(
            PYTHONWARNINGS="always::ResourceWarning", SINGLETON_EXAMPLES="true", **environ
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    with running_redis_server("--requirepass", SECRET) as server:
        yield server


async def exercise(port: int, instance_id: str) -> None:
    """A start (Durable client session + Redis pool opened), a conflict and a status read."""
    base = f"http://127.0.0.1:{port}"
    start = f"{base}/api/orchestrators/AwaitApproval/{instance_id}"
    async with aiohttp.ClientSession() as http:
        async with http.post(start, json={"timeoutSeconds": 600}) as response:
            assert response.status == 202, await response.text()
        async with http.post(start) as response:
            assert response.status == 409
        status = f"{base}/runtime/webhooks/durabletask/instances/{instance_id}"
        async with http.get(status) as response:
            assert (await response.json())["runtimeStatus"] in {"Pending", "Running"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_after_requests_exits_0_with_nothing_left_open(signum: int) -> None:
    port = free_port()
    process = start_devhost("--port", str(port), "--no-timers")
    try:
        wait_for_line(process, "Host started on")
        await exercise(port, "clean-exit")
        code, _, err = stop(process, signum)
    finally:
        process.kill()
        process.wait()
    assert code == 0, err
    for dirt in DIRT:
        assert dirt not in err, err


@pytest.mark.parametrize(
    "url_of",
    [
        lambda server: f"redis://:{SECRET}@127.0.0.1:{server.port}/0",
        lambda server: f"redis://default:{SECRET}@127.0.0.1:{server.port}/0",
        lambda server: f"redis://127.0.0.1:{server.port}/0?password={SECRET}",
    ],
    ids=["password", "user and password", "?password="],
)
async def test_a_password_in_redis_url_is_never_printed(
    password_redis: RedisServer, url_of: object
) -> None:
    port = free_port()
    url = url_of(password_redis)  # type: ignore[operator]
    process = start_devhost("--port", str(port), "--no-timers", "--verbose", REDIS_URL=url)
    try:
        banner = "".join(wait_for_line(process, "Host started on"))
        await exercise(port, "secret-kept")
        code, out, err = stop(process, signal.SIGINT)
    finally:
        process.kill()
        process.wait()
    assert code == 0, err
    assert f"127.0.0.1:{password_redis.port}/0" in banner
    assert "answered PING" in err
    for text in (banner, out, err):
        assert SECRET not in text


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"redis://:{SECRET}@127.0.0.1:{{port}}/0", "did not answer PING"),
        ("http://127.0.0.1:{port}/0", "REDIS_URL must start with redis:// or rediss://"),
        (f"redis://:{SECRET}@127.0.0.1:notaport/0", "REDIS_URL is malformed"),
        ("redis://example.redis.cache.windows.net/0", "only takes TLS"),
    ],
    ids=["unreachable", "wrong scheme", "bad port", "Azure without TLS"],
)
def test_a_bad_redis_url_stops_the_start_with_one_line(url: str, says: str) -> None:
    result = subprocess.run(
        devhost_command("--port", "0", "--no-timers"),
        cwd=ROOT,
        env=child_environment(REDIS_URL=url.format(port=free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("devhost: error:")]
    assert len(errors) == 1, result.stderr
    assert says in errors[0]
    assert SECRET not in result.stderr + result.stdout
    assert "Host started" not in result.stdout


async def test_listening_off_loopback_warns_loudly() -> None:
    port = free_port()
    process = start_devhost("--port", str(port), "--host", "0.0.0.0", "--no-timers")
    try:
        banner = "".join(wait_for_line(process, "Host started on"))
        code, _, err = stop(process, signal.SIGTERM)
    finally:
        process.kill()
        process.wait()
    assert "!!! LISTENING ON 0.0.0.0, NOT LOOPBACK" in banner
    assert "management API" in banner
    assert "not loopback" in err
    assert code == 0


def test_help_names_only_apps_that_exist() -> None:
    result = subprocess.run(
        devhost_command("--help"), cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "examples/function_app.py" not in result.stdout
    for app in (
        line.split("--app ", 1)[1].split()[0]
        for line in result.stdout.splitlines()
        if "python -m devhost --app " in line
    ):
        if "/" in app:
            continue  # a folder of the user's own (``--app ../other-app``), not one of ours
        module = app.split(":", 1)[0].removesuffix(".py")
        assert (Path(ROOT) / f"{module.replace('.', '/')}.py").is_file(), app


async def test_the_example_settings_keep_the_embedded_redis(tmp_path: Path) -> None:
    """Copying local.settings.example.json to local.settings.json must not silently point the
    host at a Redis that is not there: its empty REDIS_URL means "embedded"."""
    app = Path(app_file("http_basic"))
    shutil.copy(app, tmp_path / "function_app.py")
    shutil.copy(ROOT / "local.settings.example.json", tmp_path / "local.settings.json")
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    async with run_devhost(
        app_path=tmp_path / "function_app.py", environ=environ, out=io.StringIO()
    ) as running:
        assert running.redis_embedded
        assert environ["REDIS_URL"] == running.redis_url != ""
        assert "EMBEDDED REDIS" in running.banner
    assert "REDIS_URL" not in environ
