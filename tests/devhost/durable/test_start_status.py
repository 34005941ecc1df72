"""Start and status over the RPC API, with the real azure-functions-durable client."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB, Served, wait_for_status


async def test_start_new_returns_the_id_and_the_instance_completes(served: Served) -> None:
    client = served.client
    instance_id = await client.start_new(o.ECHO, "echo-1", {"a": 1})
    assert instance_id == "echo-1"
    status = await wait_for_status(client, instance_id, "Completed")
    assert status.output == {"a": 1}
    assert status.name == o.ECHO
    assert status.instance_id == "echo-1"
    assert status.created_time is not None
    assert status.last_updated_time is not None


async def test_start_without_an_id_gets_a_32_hex_guid(served: Served) -> None:
    instance_id = await served.client.start_new(o.ECHO, None, 5)
    assert re.fullmatch(r"[0-9a-f]{32}", instance_id)
    assert (await wait_for_status(served.client, instance_id, "Completed")).output == 5


async def test_waiting_orchestration_reports_running_with_202(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "waiter", None)
    status = await wait_for_status(served.client, "waiter", "Running")
    assert status.custom_status == "waiting"
    async with http.get(served.rpc("instances/waiter")) as response:
        assert response.status == 202
        assert response.headers["Location"] == served.rpc("instances/waiter")
        assert response.headers["Retry-After"] == "5"
        body = await response.json()
    assert body["runtimeStatus"] == "Running"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["createdTime"])
    assert set(body) == {
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    }


async def test_completed_status_is_200(served: Served, http: aiohttp.ClientSession) -> None:
    await served.client.start_new(o.ECHO, "done-200", "x")
    await wait_for_status(served.client, "done-200", "Completed")
    async with http.get(served.rpc("instances/done-200")) as response:
        assert response.status == 200
        assert "Location" not in response.headers
        assert (await response.json())["output"] == "x"


async def test_absent_instance_is_404_with_empty_body_and_a_falsy_status(
    served: Served, http: aiohttp.ClientSession
) -> None:
    async with http.get(served.rpc("instances/nobody")) as response:
        assert response.status == 404
        assert await response.read() == b""
    status = await served.client.get_status("nobody")
    assert not status
    assert status.runtime_status is None
    assert not hasattr(status, "ExceptionMessage")


async def test_duplicate_start_of_a_running_instance_is_the_hosts_500(
    served: Served, http: aiohttp.ClientSession
) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, "dup", None)
    await wait_for_status(served.client, "dup", "Running")
    async with http.post(served.rpc(f"orchestrators/{o.WAIT_FOR_GO}/dup"), json=None) as response:
        assert response.status == 500
        body = await response.json()
    assert body["Message"] == "Something went wrong while processing your request"
    assert (
        body["ExceptionMessage"]
        == "An Orchestration instance with the status Running already exists."
    )
    assert (
        body["ExceptionType"] == "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    )
    assert body["StackTrace"]
    with pytest.raises(Exception, match="already exists") as raised:
        await served.client.start_new(o.WAIT_FOR_GO, "dup", None)
    assert isinstance(raised.value.args[0], dict)  # the client raises the parsed body
    assert len(served.backend.start_records("dup")) == 1


async def test_duplicate_of_a_pending_instance_names_pending(served: Served) -> None:
    # Pending: started but no episode ran yet (the worker has not had the loop).
    backend = served.backend
    await backend.start_new(o.WAIT_FOR_GO, "pend", None)
    with pytest.raises(Exception, match="with the status Pending already exists"):
        await backend.start_new(o.WAIT_FOR_GO, "pend", None)


async def test_completed_instance_can_be_started_again(served: Served) -> None:
    await served.client.start_new(o.ECHO, "again", 1)
    await wait_for_status(served.client, "again", "Completed")
    await served.client.start_new(o.ECHO, "again", 2)
    assert (await wait_for_status(served.client, "again", "Completed")).output == 2
    assert [r.created for r in served.backend.start_records("again")] == [True, True]


async def test_any_state_overrides_a_running_instance() -> None:
    backend = DurableBackend(
        functions=o.build_functions(),
        hub_name=HUB,
        store=MemoryStore(),
        overridable_states="AnyState",
    )
    async with serve_backend(backend) as base_url:
        from azure.durable_functions import DurableOrchestrationClient

        client = DurableOrchestrationClient(backend.client_binding(base_url))
        await client.start_new(o.WAIT_FOR_GO, "any", None)
        await wait_for_status(client, "any", "Running")
        await client.start_new(o.ECHO, "any", "replaced")
        status = await wait_for_status(client, "any", "Completed")
        assert status.output == "replaced"


@pytest.mark.parametrize(
    ("path_id", "message"),
    [
        ("@entity", "instanceId (Parameter 'Orchestration instance ids must not start with @.')"),
        ("back%5Cslash", "must not contain /, \\, #, ?, or control characters."),
        ("question%3Fmark", "must not contain /, \\, #, ?, or control characters."),
        ("hash%23tag", "must not contain /, \\, #, ?, or control characters."),
        ("bell%07", "must not contain /, \\, #, ?, or control characters."),
        ("x" * 257, "Instance ID lengths must not exceed 256 characters."),
    ],
)
async def test_invalid_instance_ids_are_400_like_the_host(
    served: Served, http: aiohttp.ClientSession, path_id: str, message: str
) -> None:
    url = served.rpc(f"orchestrators/{o.ECHO}/{path_id}")
    async with http.post(URL(url, encoded=True), json=None) as response:
        assert response.status == 400
        body = await response.json()
    assert body["Message"] == "One or more of the arguments submitted is incorrect"
    assert message in body["ExceptionMessage"]
    assert body["ExceptionType"] == "System.ArgumentException"


async def test_an_id_of_exactly_256_characters_is_accepted(served: Served) -> None:
    instance_id = "y" * 256
    assert await served.client.start_new(o.ECHO, instance_id, None) == instance_id


async def test_client_turns_400_into_an_exception_with_the_message(served: Served) -> None:
    with pytest.raises(Exception, match="must not start with @"):
        await served.client.start_new(o.ECHO, "@nope", None)


async def test_unknown_orchestrator_is_400_naming_the_known_ones(served: Served) -> None:
    with pytest.raises(Exception, match="doesn't exist") as raised:
        await served.client.start_new("no_such_orchestrator", "x1", None)
    message = str(raised.value)
    assert message.startswith(
        "The function 'no_such_orchestrator' doesn't exist, is disabled, or is not an "
        "orchestrator function. Additional info: "
        "The following are the known orchestrator functions:"
    )
    assert f"'{o.ECHO}'" in message


async def test_check_status_response_of_a_start(
    served: Served, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        served.webhook(f"orchestrators/{o.ECHO}/links"), json={"k": "v"}
    ) as response:
        assert response.status == 202
        body = await response.json()
        assert response.headers["Location"] == body["statusQueryGetUri"]
        assert response.headers["Retry-After"] == "10"
    query = f"taskHub={HUB}&connection=Storage"
    instance = f"{served.base_url}/runtime/webhooks/durabletask/instances/links"
    assert body == {
        "id": "links",
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }
    # A raw JSON body (not the Python client's JSON-in-a-string) is the input as is.
    status = await wait_for_status(served.client, "links", "Completed")
    assert status.output == {"k": "v"}
    assert status.input_ == {"k": "v"}


async def test_python_client_input_is_stored_as_the_json_text_it_posted(served: Served) -> None:
    # The Python client posts json=df_dumps(value): the host keeps that JSON string.
    await served.client.start_new(o.ECHO, "double", {"a": [1, 2]})
    status = await wait_for_status(served.client, "double", "Completed")
    assert status.input_ == '{"a": [1, 2]}'
    assert status.output == {"a": [1, 2]}
    assert served.backend.start_records("double")[0].input == {"a": [1, 2]}


async def test_invalid_json_body_is_400(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.post(
        served.rpc(f"orchestrators/{o.ECHO}/badjson"),
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["Message"] == "Invalid JSON content"
