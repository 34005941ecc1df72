"""Blob triggers and blob input/output bindings on the local host, on both backings."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost import RunningDevHost, run_devhost
from devhost._blobs import BindingDataError, BlobPath
from tests.devhost.conftest import app_file
from tests.devhost.test_queues import messages, wait_for


@pytest.fixture
async def host(storage: str) -> AsyncIterator[RunningDevHost]:
    async with run_devhost(
        app_path=app_file("blobs"), port=0, out=io.StringIO(), storage=storage
    ) as running:
        yield running


def seen(function: str) -> list[tuple[str | None, bytes, object]]:
    return [entry[1:] for entry in sys.modules["function_app"].SEEN if entry[0] == function]


async def upload(http: aiohttp.ClientSession, host: RunningDevHost, path: str, body: bytes) -> Any:
    async with http.put(f"{host.base_url}/admin/devhost/blobs/{path}", data=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def test_a_blob_output_feeds_a_blob_trigger_whose_output_feeds_another(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    await upload(http, host, "notes/42.txt", b"a note")
    async with http.post(host.url("upload/42"), data=b'{"order": 42}') as response:
        assert response.status == 201
    await wait_for(lambda: len(seen("on_outbox")) == 1)
    assert seen("on_inbox") == [("inbox/42.json", b'{"order": 42}', "a note")]
    assert seen("on_outbox") == [("outbox/42.txt", b"processed inbox/42.json (13 bytes)", None)]
    async with http.get(f"{host.base_url}/admin/devhost/blobs/outbox/42.txt") as response:
        assert await response.read() == b"processed inbox/42.json (13 bytes)"


async def test_an_upload_fires_once_per_version_and_a_missing_input_is_none(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    await upload(http, host, "inbox/7.json", b"v1")
    await wait_for(lambda: len(seen("on_outbox")) == 1)
    await upload(http, host, "inbox/7.json", b"v2")  # a new ETag: fires again
    await wait_for(lambda: len(seen("on_outbox")) == 2)
    await upload(http, host, "inbox/not-json.txt", b"ignored")  # does not match {id}.json
    await asyncio.sleep(0.3)
    assert seen("on_inbox") == [("inbox/7.json", b"v1", None), ("inbox/7.json", b"v2", None)]


async def test_a_failing_blob_trigger_is_retried_then_reported_to_the_poison_queue(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    sent = await upload(http, host, "failing/bad.bin", b"\x00\x01")
    poison: list[Any] = []
    for _ in range(500):
        poison = await messages(http, host, "webjobs-blobtrigger-poison")
        if poison:
            break
        await asyncio.sleep(0.02)
    assert len(seen("on_failing")) == 2  # maxDequeueCount 2 in this app's host.json
    (message,) = poison
    assert json.loads(message["body"]) == {
        "Type": "Blob",
        "FunctionId": "Host.Functions.on_failing",
        "BlobType": "BlockBlob",
        "ContainerName": "failing",
        "BlobName": "bad.bin",
        "ETag": sent["etag"],
    }


async def test_admin_invokes_a_blob_function_with_the_blob_path(
    host: RunningDevHost, http: aiohttp.ClientSession
) -> None:
    admin = f"{host.base_url}/admin/functions/on_outbox"
    async with http.post(admin, json={"input": "outbox/missing.txt"}) as response:
        assert response.status == 404
    async with http.post(admin, json={"input": "inbox/7.json"}) as response:
        assert response.status == 400  # not the trigger's container
    await host.blobs.store.put("outbox", "by-hand.txt", b"hand")  # no trigger wake-up
    async with http.post(admin, json={"input": "outbox/by-hand.txt"}) as response:
        assert response.status == 202
    await wait_for(lambda: len(seen("on_outbox")) >= 1)
    assert seen("on_outbox")[0] == ("outbox/by-hand.txt", b"hand", None)


async def test_receipts_keep_a_restart_with_store_from_firing_again(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    store = tmp_path / "durable.sqlite"
    async with run_devhost(app_path=app_file("blobs"), port=0, store_path=store) as first:
        await upload(http, first, "outbox/kept.txt", b"once")
        await wait_for(lambda: len(seen("on_outbox")) == 1)
    async with run_devhost(app_path=app_file("blobs"), port=0, store_path=store) as second:
        await upload(http, second, "outbox/new.txt", b"new")  # a scan of the container
        await wait_for(lambda: len(seen("on_outbox")) == 1)
        await asyncio.sleep(0.2)
        assert seen("on_outbox") == [("outbox/new.txt", b"new", None)]


def test_blob_paths_match_and_render_like_the_host() -> None:
    path = BlobPath.parse("uploads/{customer}/{name}", what="t", trigger=True)
    assert path.match("c1/a/b.txt") == {"customer": "c1", "name": "a/b.txt"}
    assert path.match("no-slash") is None
    json_only = BlobPath.parse("inbox/{id}.json", what="t", trigger=True)
    assert json_only.match("42.json") == {"id": "42"}
    assert json_only.match("42.txt") is None
    out = BlobPath.parse("out/{Id}-{rand-guid}.txt", what="t", trigger=False)
    container, name = out.render({"id": "7"})  # names ignore case when not exact
    assert container == "out"
    assert name.startswith("7-")
    assert len(name) == len("7-") + 36 + len(".txt")
    with pytest.raises(BindingDataError, match="customer"):
        path.render({"name": "x"})
