"""Payloads on the local host as the Durable extension carries them (the table in
``devhost.durable._payloads``): the real Python client and plain HTTP against the served
backend, the real SDK replaying the orchestrators. Each case failed while the host unwrapped
a JSON string holding JSON (for start inputs and event bodies alike)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import Served, wait_for_status


async def _status_input(served: Served, http: aiohttp.ClientSession, instance_id: str) -> Any:
    async with http.get(served.webhook(f"instances/{instance_id}?showInput=true")) as response:
        assert response.status == 200
        return (await response.json())["input"]


async def test_a_client_start_reads_as_the_value_and_shows_the_json_string(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """start_new posts ``json=df_dumps(value)``: get_input() gives the dict, the status shows
    the JSON string (durable-python #195)."""
    await served.client.start_new(o.ECHO, "client-start", {"order": 7})
    status = await wait_for_status(served.client, "client-start", "Completed")
    assert status.output == {"order": 7}
    assert await _status_input(served, http, "client-start") == '{"order": 7}'
    assert status.input_ == '{"order": 7}'


async def test_a_webhook_start_with_an_object_reads_and_shows_the_object(
    served: Served, http: aiohttp.ClientSession
) -> None:
    url = served.webhook(f"orchestrators/{o.ECHO}/hook-object")
    async with http.post(url, json={"order": 7}) as response:
        assert response.status == 202
    status = await wait_for_status(served.client, "hook-object", "Completed")
    assert status.output == {"order": 7}
    assert await _status_input(served, http, "hook-object") == {"order": 7}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("alice", "Expecting value"),  # json.loads("alice")
        (7, "must be str, bytes or bytearray, not int"),
        ([1, 2], "must be str, bytes or bytearray, not list"),
    ],
)
async def test_a_webhook_start_with_a_non_object_body_fails_get_input_as_the_sdk_does(
    served: Served, http: aiohttp.ClientSession, body: Any, error: str
) -> None:
    """The context's input is the body's JSON value; the SDK's get_input() json.loads a
    string, a number or a list and raises. Read in the extension's source and replayed
    through the SDK here, not seen on Azure."""
    url = served.webhook(f"orchestrators/{o.ECHO}/hook-{type(body).__name__}")
    async with http.post(url, json=body) as response:
        assert response.status == 202
    status = await wait_for_status(served.client, f"hook-{type(body).__name__}", "Failed")
    assert error in status.output
    assert await _status_input(served, http, f"hook-{type(body).__name__}") == body


async def test_a_webhook_start_with_a_json_string_holding_json_reads_like_a_client_start(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """What the client sends, sent by hand: the same answer."""
    url = served.webhook(f"orchestrators/{o.ECHO}/hook-text")
    async with http.post(url, json=json.dumps({"order": 7})) as response:
        assert response.status == 202
    status = await wait_for_status(served.client, "hook-text", "Completed")
    assert status.output == {"order": 7}


@pytest.mark.parametrize(
    ("data", "received"),
    [("alice", '"alice"'), ({"by": "alice"}, '{"by": "alice"}'), (7, "7")],
)
async def test_the_clients_raise_event_arrives_double_encoded(
    served: Served, data: Any, received: Any
) -> None:
    """raise_event posts ``json=json.dumps(data)`` and the host stores the body as is: the
    orchestrator receives the JSON text (durable-python #295, open)."""
    instance_id = f"client-event-{type(data).__name__}"
    await served.client.start_new(o.WAIT_FOR_GO, instance_id, None)
    await wait_for_status(served.client, instance_id, "Running")
    await served.client.raise_event(instance_id, "go", data)
    status = await wait_for_status(served.client, instance_id, "Completed")
    assert status.output == {"got": received}


@pytest.mark.parametrize("data", ["alice", {"by": "alice"}, [1, "two"], 7, None])
async def test_an_event_posted_once_arrives_as_sent(
    served: Served, http: aiohttp.ClientSession, data: Any
) -> None:
    """The raise-event endpoint with the caller's JSON as the body (what the starter posts):
    decoded exactly once."""
    instance_id = f"posted-event-{type(data).__name__}"
    await served.client.start_new(o.WAIT_FOR_GO, instance_id, None)
    await wait_for_status(served.client, instance_id, "Running")
    url = served.webhook(f"instances/{instance_id}/raiseEvent/go")
    body, json_type = json.dumps(data).encode(), {"Content-Type": "application/json"}
    async with http.post(url, data=body, headers=json_type) as response:
        assert response.status == 202
    status = await wait_for_status(served.client, instance_id, "Completed")
    assert status.output == {"got": data}
