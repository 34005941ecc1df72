"""The public webhooks and the rest of the management API: codes and JSON shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp
import azure.durable_functions as df
import pytest

from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import Served, wait_for_status


async def test_webhook_status_of_running_has_location_and_retry_after(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "hook", {"x": 1})
    await wait_for_status(served.client, "hook", "Running")
    url = served.webhook("instances/hook?taskHub=DurableSingletonHub&connection=Storage")
    async with http.get(url) as response:
        assert response.status == 202
        assert response.headers["Location"] == url
        assert response.headers["Retry-After"] == "5"
        body = await response.json()
    assert body["input"] == '{"x": 1}'
    async with http.get(served.webhook("instances/hook?showInput=false")) as response:
        assert (await response.json())["input"] is None


async def test_webhook_absent_is_404(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(served.webhook("instances/none-here")) as response:
        assert response.status == 404
        assert await response.read() == b""


async def test_webhook_raise_event(served: Served, http: aiohttp.ClientSession) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "hook-ev", None)
    await wait_for_status(served.client, "hook-ev", "Running")
    async with http.post(
        served.webhook("instances/hook-ev/raiseEvent/go"),
        data=b"1",
        headers={"Content-Type": "text/plain"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["Message"] == (
            "Only application/json request content is supported"
        )
    async with http.post(
        served.webhook("instances/hook-ev/raiseEvent/go"), json=[1, 2]
    ) as response:
        assert response.status == 202
    assert (await wait_for_status(served.client, "hook-ev", "Completed")).output == {"got": [1, 2]}
    async with http.post(served.webhook("instances/hook-ev/raiseEvent/go"), json=3) as response:
        assert response.status == 410
    async with http.post(served.webhook("instances/nobody/raiseEvent/go"), json=3) as response:
        assert response.status == 404


async def test_client_raise_event_errors(served: Served) -> None:
    with pytest.raises(Exception, match="No instance with ID nobody found"):
        await served.client.raise_event("nobody", "go", 1)
    await served.client.start_new(o.ECHO, "gone-ev", None)
    await wait_for_status(served.client, "gone-ev", "Completed")
    with pytest.raises(Exception, match="is gone"):
        await served.client.raise_event("gone-ev", "go", 1)


async def test_purge_by_filter(served: Served, http: aiohttp.ClientSession) -> None:
    for name in ("pf-1", "pf-2"):
        await served.client.start_new(o.ECHO, name, None)
        await wait_for_status(served.client, name, "Completed")
    await served.client.start_new(o.WAIT_FOR_GO, "pf-running", None)
    await wait_for_status(served.client, "pf-running", "Running")
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    result = await served.client.purge_instance_history_by(
        created_time_from=since, runtime_status=[df.OrchestrationRuntimeStatus.Completed]
    )
    assert result.instances_deleted == 2
    assert (await served.client.get_status("pf-running")).runtime_status.value == "Running"
    async with http.delete(served.webhook("instances/")) as response:
        assert response.status == 400
        assert await response.json() == "Please provide value for 'createdTimeFrom' parameter."


async def test_list_and_query_instances(served: Served) -> None:
    await served.client.start_new(o.ECHO, "list-a", 1)
    await served.client.start_new(o.WAIT_FOR_GO, "list-b", None)
    await served.client.start_new(o.ECHO, "other", 1)
    await wait_for_status(served.client, "list-a", "Completed")
    await wait_for_status(served.client, "list-b", "Running")
    everything = await served.client.get_status_all()
    assert {s.instance_id for s in everything} >= {"list-a", "list-b", "other"}
    by_prefix = await served.client.get_status_by(instance_id_prefix="list-")
    assert sorted(s.instance_id for s in by_prefix) == ["list-a", "list-b"]
    running = await served.client.get_status_by(
        runtime_status=[df.OrchestrationRuntimeStatus.Running]
    )
    assert [s.instance_id for s in running] == ["list-b"]
    future = await served.client.get_status_by(
        created_time_from=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    assert future == []


async def test_restart_with_a_new_and_the_same_id(served: Served) -> None:
    await served.client.start_new(o.ECHO, "rs", {"v": 1})
    await wait_for_status(served.client, "rs", "Completed")
    links = await served.client.restart("rs")
    new_id = links["id"]  # the Python client hands back the management payload
    assert new_id != "rs"
    assert (await wait_for_status(served.client, new_id, "Completed")).output == {"v": 1}
    await served.client.restart("rs", restart_with_new_instance_id=False)
    assert (await wait_for_status(served.client, "rs", "Completed")).output == {"v": 1}
    assert [r.created for r in served.backend.start_records("rs")] == [True, True]


async def test_unknown_routes_and_methods_are_404(
    served: Served, http: aiohttp.ClientSession
) -> None:
    async with http.get(served.rpc(f"orchestrators/{o.ECHO}")) as response:
        assert response.status in (404, 405)
    async with http.post(served.rpc("instances/x/frobnicate")) as response:
        assert response.status == 404
