"""Storage queue triggers and outputs on the local host, over real HTTP, with the host's rules."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from devhost import HostConfigError, RunningDevHost, UnsupportedBindingError, run_devhost
from devhost._azurite import STORAGE_SETTING, AzuriteQueueStore
from devhost._bindings import json_fields
from devhost._queue_store import EmbeddedQueueStore, QueueStore
from devhost._queues import LocalQueues, QueueCodec, QueueListener, output_bodies
from devhost._settings import HostConfig, QueuesOptions
from tests.devhost.azurite import Azurite
from tests.devhost.conftest import app_file, clear_queues
from tests.redis_servers import free_port


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (checked every 20 ms); fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def host(storage: str) -> AsyncIterator[RunningDevHost]:
    async with run_devhost(
        app_path=app_file("queues"), port=0, out=io.StringIO(), storage=storage
    ) as running:
        yield running


def app_module() -> ModuleType:
    return sys.modules["function_app"]


def seen(function: str) -> list[Any]:
    return [message for name, message in app_module().SEEN if name == function]


async def messages(http: aiohttp.ClientSession, host: RunningDevHost, queue: str) -> list[Any]:
    async with http.get(f"{host.base_url}/admin/devhost/queues/{queue}/messages") as response:
        assert response.status == 200, await response.text()
        return list((await response.json())["messages"])


async def send(http: aiohttp.ClientSession, host: RunningDevHost, queue: str, body: bytes) -> Any:
    url = f"{host.base_url}/admin/devhost/queues/{queue}/messages"
    async with http.post(url, data=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def test_an_http_queue_output_feeds_a_chain_of_queue_triggers(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    async with http.post(host.url("enqueue"), data=b"order-1") as response:
        assert response.status == 202
    await wait_for(lambda: len(seen("record")) == 1)
    (relayed,) = seen("relay")
    assert relayed.get_body() == b"order-1"  # "Orders-In" is the queue "orders-in"
    (message,) = seen("record")
    assert json.loads(message.get_body()) == {"relayed": "order-1"}  # via %SETTING% queue name
    assert message.dequeue_count == 1
    assert message.id
    assert message.pop_receipt
    assert message.expiration_time - message.insertion_time == timedelta(days=7)
    assert message.time_next_visible > message.insertion_time
    assert await messages(http, host, "orders-in") == []  # deleted once the function succeeded


async def test_a_list_output_writes_one_message_per_item(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    await send(http, host, "fan", b"3")
    await wait_for(lambda: len(seen("record")) == 3)
    assert sorted(m.get_body() for m in seen("record")) == [b"part-0", b"part-1", b"part-2"]


async def test_a_failing_function_moves_the_message_to_poison_after_max_dequeue_count(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    sent = await send(http, host, "doomed", b"cursed")
    poison: list[Any] = []

    async def poisoned() -> bool:
        poison[:] = await messages(http, host, "doomed-poison")
        return bool(poison)

    for _ in range(500):
        if await poisoned():
            break
        await asyncio.sleep(0.02)
    # maxDequeueCount is 3 in this app's host.json: three attempts, then the poison queue.
    assert [m.dequeue_count for m in seen("doomed")] == [1, 2, 3]
    assert {m.id for m in seen("doomed")} == {sent["id"]}
    assert [m["body"] for m in poison] == ["cursed"]
    assert await messages(http, host, "doomed") == []
    assert await messages(http, host, "never") == []  # a failed run writes no outputs


async def test_messages_are_stored_base64_and_undecodable_ones_are_poison(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    sent = await send(http, host, "parked", "héllo".encode())
    assert sent["content"] == base64.b64encode("héllo".encode()).decode()
    assert sent["body"] == "héllo"
    await host.queues.store.put("relayed", "not base64!")
    for _ in range(500):
        if await messages(http, host, "relayed-poison"):
            break
        await asyncio.sleep(0.02)
    (poison,) = await messages(http, host, "relayed-poison")
    assert poison["content"] == "not base64!"
    assert seen("record") == []  # never run


async def test_the_admin_api_lists_queues(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    await send(http, host, "parked", b"one")
    async with http.get(f"{host.base_url}/admin/devhost/queues") as response:
        body = await response.json()
    assert body["messageEncoding"] == "base64"
    queues = {q["name"]: q for q in body["queues"]}
    assert queues["parked"] == {"name": "parked", "messages": 1, "visible": 1}
    assert {"orders-in", "relayed", "fan", "doomed"} <= set(queues)  # the triggers' queues
    async with http.get(f"{host.base_url}/admin/devhost/queues/Not_A_Queue/messages") as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"


async def test_admin_invokes_a_timer_and_a_queue_function(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    url = f"{host.base_url}/admin/functions"
    async with http.post(f"{url}/yearly", json={"input": ""}) as response:
        assert response.status == 202
    async with http.post(f"{url}/RECORD", json={"input": "by hand"}) as response:
        assert response.status == 202  # names ignore case, as in the host
    await wait_for(lambda: len(app_module().TICKS) == 1 and len(seen("record")) == 1)
    assert app_module().TICKS[0].past_due is False
    (message,) = seen("record")
    assert message.get_body() == b"by hand"
    assert message.dequeue_count == 0


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("nope", {"input": "x"}, 404),
        ("enqueue", {"input": "x"}, 400),  # HTTP functions are called at their route
        ("record", ["x"], 400),
        ("record", {"input": 7}, 400),
    ],
)
async def test_admin_invoke_refuses_what_it_cannot_run(
    host: RunningDevHost, http: aiohttp.ClientSession, name: str, body: Any, status: int
) -> None:
    async with http.post(f"{host.base_url}/admin/functions/{name}", json=body) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert (await response.json())["detail"]
    assert seen("record") == []


async def test_an_app_with_unsupported_triggers_starts_and_lists_them(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="devhost"):
        async with run_devhost(app_path=app_file("unsupported"), port=0, out=out) as running:
            async with http.get(running.url("hello")) as response:
                assert response.status == 200
                assert await response.text() == "hello"
            async with http.get(running.url("with-cosmos")) as response:
                assert response.status == 404  # not served: it could not get its documents
            for name in ("on_event", "with_cosmos"):
                admin = f"{running.base_url}/admin/functions/{name}"
                async with http.post(admin, json={"input": "{}"}) as response:
                    assert response.status == 501
    banner = out.getvalue()
    assert "on_event: eventHubTrigger (not run locally)" in banner
    assert "with_cosmos: httpTrigger (not run locally)" in banner
    assert "cosmosDB" in caplog.text


def write_app(folder: Path, source: str, settings: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(source)
    if settings is not None:
        values = {"FUNCTIONS_WORKER_RUNTIME": "python", **settings}
        (folder / "local.settings.json").write_text(json.dumps({"Values": values}))
    return folder / "function_app.py"


QUEUE_APP = """
import azure.functions as func
app = func.FunctionApp()

@app.queue_trigger(arg_name="msg", queue_name="{queue}", connection="AzureWebJobsStorage")
def take(msg: {annotation}) -> None:
    pass
"""


async def test_a_queue_trigger_without_its_connection_setting_fails_at_start(
    tmp_path: Path,
) -> None:
    path = write_app(tmp_path, QUEUE_APP.format(queue="takes", annotation="func.QueueMessage"))
    with pytest.raises(HostConfigError, match="AzureWebJobsStorage"):
        async with run_devhost(app_path=path, port=0, environ={}, out=io.StringIO()):
            pass


@pytest.mark.parametrize(
    ("queue", "annotation", "error", "match"),
    [
        ("takes", "str", UnsupportedBindingError, "annotation"),  # the worker refuses it too
        ("no_underscores", "func.QueueMessage", HostConfigError, "not a valid queue name"),
    ],
)
async def test_a_queue_trigger_the_host_would_refuse_fails_at_start(
    tmp_path: Path, queue: str, annotation: str, error: type[Exception], match: str
) -> None:
    settings = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    path = write_app(tmp_path, QUEUE_APP.format(queue=queue, annotation=annotation), settings)
    with pytest.raises(error, match=match):
        async with run_devhost(app_path=path, port=0, environ={}, out=io.StringIO()):
            pass


async def test_messages_are_kept_across_restarts_with_store(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    store = tmp_path / "durable.sqlite"
    async with run_devhost(app_path=app_file("queues"), port=0, store_path=store) as first:
        await send(http, first, "parked", b"kept")
    async with run_devhost(app_path=app_file("queues"), port=0, store_path=store) as second:
        assert [m["body"] for m in await messages(http, second, "parked")] == ["kept"]


async def test_a_message_written_by_the_storage_sdk_reads_back_the_same(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    await clear_queues(azurite.connection_string)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    async with run_devhost(
        app_path=app_file("queues"), port=0, out=io.StringIO(), storage="azurite"
    ) as host:
        assert "Storage: queues Azurite at http://127.0.0.1:" in host.banner
        client = QueueClient.from_connection_string(
            azurite.connection_string, "relayed", message_encode_policy=TextBase64EncodePolicy()
        )
        async with client:
            await client.send_message("from the SDK: é")
        await wait_for(lambda: len(seen("record")) == 1)
    assert seen("record")[0].get_body() == "from the SDK: é".encode()


async def test_use_development_storage_alone_keeps_the_embedded_store() -> None:
    # The app's local.settings.json holds AzureWebJobsStorage=UseDevelopmentStorage=true.
    async with run_devhost(app_path=app_file("queues"), port=0, out=io.StringIO()) as host:
        assert "Storage: queues embedded, in memory" in host.banner


async def test_storage_azurite_without_azurite_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "AzureWebJobsStorage",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    with pytest.raises(HostConfigError, match="no queue service answers"):
        async with run_devhost(
            app_path=app_file("queues"), port=0, out=io.StringIO(), storage="azurite"
        ):
            pass


# --- host.json, codec and output encoding --------------------------------------------------


def test_queues_options_defaults_match_the_extension() -> None:
    options = HostConfig().queues
    assert (options.batch_size, options.threshold, options.max_dequeue_count) == (16, 8, 5)
    assert (options.visibility_timeout, options.max_polling_interval) == (0.0, 60.0)
    assert options.message_encoding == "base64"


def test_queues_options_are_read_from_host_json(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    section = {
        "batchSize": 32,
        "newBatchThreshold": 0,
        "visibilityTimeout": "00:00:05.5",
        "maxDequeueCount": 2,
        "maxPollingInterval": "00:00:02",
        "messageEncoding": "None",
    }
    path.write_text(json.dumps({"version": "2.0", "extensions": {"queues": section}}))
    options = HostConfig.load(path).queues
    assert options == QueuesOptions(
        batch_size=32,
        new_batch_threshold=0,
        visibility_timeout=5.5,
        max_dequeue_count=2,
        max_polling_interval=2.0,
        message_encoding="none",
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batchSize", 33),
        ("batchSize", 0),
        ("maxDequeueCount", 0),
        ("maxDequeueCount", "5"),
        ("visibilityTimeout", 30),
        ("visibilityTimeout", "00:61:00"),
        ("maxPollingInterval", "00:00:00.05"),
        ("messageEncoding", "utf8"),
    ],
)
def test_invalid_queues_options_fail_naming_the_key(tmp_path: Path, key: str, value: Any) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": {key: value}}}))
    with pytest.raises(HostConfigError, match=key):
        HostConfig.load(path)


def test_output_values_become_messages_as_the_worker_and_host_write_them() -> None:
    assert output_bodies(None) == []
    assert output_bodies("plain") == [b"plain"]
    assert output_bodies(b"\x00raw") == [b"\x00raw"]
    assert output_bodies('["a", 2, {"b": 1}]') == [b"a", b"2", b'{"b": 1}']  # python-worker #1492
    assert output_bodies(["x", "y"]) == [b"x", b"y"]
    with pytest.raises(TypeError):
        output_bodies({"a": 1})
    with pytest.raises(TypeError):
        output_bodies([1])


def test_the_codec_round_trips_and_rejects() -> None:
    assert QueueCodec("base64").decode(QueueCodec("base64").encode(b"\xff\x00")) == b"\xff\x00"
    assert QueueCodec("none").encode(b"text") == "text"
    with pytest.raises(ValueError, match="base64"):
        QueueCodec("base64").decode("not base64!")
    with pytest.raises(ValueError, match="UTF-8"):
        QueueCodec("none").encode(b"\xff")


# --- the listener's batches ----------------------------------------------------------------


@pytest.fixture
async def queue_store(storage: str) -> AsyncIterator[QueueStore]:
    store: QueueStore
    if storage == "azurite":
        store = AzuriteQueueStore(os.environ[STORAGE_SETTING])
    else:
        store = EmbeddedQueueStore()
    try:
        yield store
    finally:
        await store.close()


async def test_the_listener_takes_batch_size_then_refills_at_new_batch_threshold(
    queue_store: QueueStore,
) -> None:
    options = QueuesOptions(batch_size=4, new_batch_threshold=2, max_polling_interval=0.1)
    store = queue_store
    queues = LocalQueues(store=store, options=options)
    await queues.send_bodies("work", [str(i).encode() for i in range(20)])
    started: list[bytes] = []
    releases: dict[bytes, asyncio.Event] = {}

    async def run(message: Any) -> None:
        body = message.get_body()
        releases[body] = asyncio.Event()
        started.append(body)
        await releases[body].wait()

    listener = QueueListener(
        function_name="work", queue="work", queues=queues, run=run, options=options
    )
    await listener.start()
    try:
        await wait_for(lambda: len(started) == 4)
        await asyncio.sleep(0.3)  # several polls: none fetches more while 4 > 2 run
        assert len(started) == 4
        releases[started[0]].set()
        await asyncio.sleep(0.3)
        assert len(started) == 4  # 3 still running, still above the threshold
        releases[started[1]].set()
        await wait_for(lambda: len(started) == 8)  # 2 running: a new batch of 4
        await asyncio.sleep(0.3)
        assert len(started) == 8
    finally:
        await listener.stop()


def test_binding_data_takes_top_level_scalars_and_survives_hostile_json() -> None:
    assert json_fields(b'{"customerId": "c1", "n": 7, "ok": true, "x": {"y": 1}}') == {
        "customerId": "c1",
        "n": "7",
        "ok": "true",
    }
    assert json_fields(b'{"a": ' + b"[" * 100_000) == {}  # not a RecursionError
    assert json_fields(b"[1, 2]") == {}
