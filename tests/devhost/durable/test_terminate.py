"""Terminate through the client (RPC) and the public webhook."""

from __future__ import annotations

import aiohttp
import pytest

from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import Served, wait_for_status


async def test_terminate_a_running_instance(served: Served) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "term", None)
    await wait_for_status(served.client, "term", "Running")
    await served.client.terminate("term", "no longer needed")
    status = await wait_for_status(served.client, "term", "Terminated")
    assert status.output == "no longer needed"


async def test_terminated_instance_can_be_started_again(served: Served) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "restartable", None)
    await wait_for_status(served.client, "restartable", "Running")
    await served.client.terminate("restartable", "stop")
    await wait_for_status(served.client, "restartable", "Terminated")
    await served.client.start_new(o.ECHO, "restartable", "fresh")
    assert (await wait_for_status(served.client, "restartable", "Completed")).output == "fresh"


async def test_terminate_absent_is_404_and_the_client_raises(
    served: Served, http: aiohttp.ClientSession
) -> None:
    async with http.post(served.webhook("instances/ghost/terminate?reason=x")) as response:
        assert response.status == 404
    with pytest.raises(Exception, match=r"No instance with ID 'ghost' found\."):
        await served.client.terminate("ghost", "x")


async def test_terminate_completed_is_410_gone(served: Served, http: aiohttp.ClientSession) -> None:
    await served.client.start_new(o.ECHO, "finished", 1)
    await wait_for_status(served.client, "finished", "Completed")
    async with http.post(served.webhook("instances/finished/terminate?reason=late")) as response:
        assert response.status == 410
    await served.client.terminate("finished", "late")  # 410 is not an error for the client
    assert (await served.client.get_status("finished")).runtime_status.value == "Completed"


async def test_webhook_terminate_then_status_200(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "wt", None)
    await wait_for_status(served.client, "wt", "Running")
    async with http.post(served.webhook("instances/wt/terminate?reason=bye")) as response:
        assert response.status == 202
    await wait_for_status(served.client, "wt", "Terminated")
    async with http.get(served.webhook("instances/wt")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["runtimeStatus"] == "Terminated"
    assert body["output"] == "bye"
