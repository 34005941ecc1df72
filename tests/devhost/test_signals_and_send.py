"""The host on an event loop without add_signal_handler (Windows), and ``devhost send``."""

from __future__ import annotations

import asyncio
import io
import signal
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from devhost._cli import _serve, main
from devhost._host import DevHostOptions
from devhost._send import send_main
from tests.devhost.conftest import app_file
from tests.devhost.test_queues import messages
from tests.redis_servers import free_port


class WindowsLikeLoop(asyncio.SelectorEventLoop):
    """An event loop that, like Windows' loops, has no add_signal_handler."""

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_host_stops_on_a_signal_on_a_loop_without_add_signal_handler(
    signum: signal.Signals, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    before = signal.getsignal(signum)
    app = app_file("http_basic")
    options = DevHostOptions(app=app.name, cwd=app.parent, port=0, run_timers=False)
    started: list[RunningDevHost] = []

    def on_started(running: RunningDevHost) -> None:
        started.append(running)
        asyncio.get_running_loop().call_soon(signal.raise_signal, signum)

    loop = WindowsLikeLoop()
    try:
        loop.run_until_complete(asyncio.wait_for(_serve(options, on_started=on_started), 30))
    finally:
        loop.close()
    assert len(started) == 1
    assert "Stopping the host..." in capsys.readouterr().out
    assert signal.getsignal(signum) is before  # the previous handler is back


async def test_devhost_send_puts_a_message_on_a_running_hosts_queue(
    http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    async with run_devhost(app_path=app_file("queues"), port=0, out=io.StringIO()) as host:
        code = await asyncio.to_thread(
            send_main, ["Parked", '{"customerId": "c1"}', "--url", host.base_url]
        )
        assert code == 0
        assert "to queue 'parked'" in capsys.readouterr().out
        (message,) = await messages(http, host, "parked")
        assert message["body"] == '{"customerId": "c1"}'
        bad = await asyncio.to_thread(send_main, ["no_such!", "x", "--url", host.base_url])
        assert bad == 1
        assert "not a valid queue name" in capsys.readouterr().err


def test_devhost_send_without_a_running_host_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert send_main(["orders", "x", "--url", url]) == 1
    assert f"no local host answers at {url}" in capsys.readouterr().err


def test_python_m_devhost_send_is_dispatched_to_the_send_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["send", "orders", "x", "--url", url]) == 1
    assert "devhost send: error: no local host answers" in capsys.readouterr().err


def test_storage_azurite_without_azurite_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    port = free_port()
    monkeypatch.setenv(
        "AzureWebJobsStorage",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    app = str(app_file("queues"))
    assert main(["--app", app, "--port", "0", "--storage", "azurite"]) == 1
    assert "no queue service answers" in capsys.readouterr().err
