"""One test per row of issue 10: the backend answers as the real extension does.

Each test names the extension method it pins (Azure/azure-functions-durable-extension
2.13.x/3.0, Azure Storage provider) and goes through real HTTP, and through the Python client
where the client calls that endpoint.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import azure.durable_functions as df
import pytest

from devhost.durable import DurableBackend, MemoryStore, serve_backend
from tests.devhost.durable import orchestrations as o
from tests.devhost.durable.conftest import HUB, Served, wait_for_status

Running = df.OrchestrationRuntimeStatus.Running
Completed = df.OrchestrationRuntimeStatus.Completed


async def _json(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


async def _running(served: Served, instance_id: str) -> None:
    await served.client.start_new(o.WAIT_FOR_GO, instance_id, None)
    await wait_for_status(served.client, instance_id, "Running")


def _http_error(body: Any, exception_type: str) -> None:
    assert set(body) == {"Message", "ExceptionMessage", "ExceptionType", "StackTrace"}
    assert body["ExceptionType"] == exception_type


async def test_wrong_state_suspend_and_resume_are_500(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """DurableClient.ResumeAsync/SuspendAsync throw InvalidOperationException; HttpApiHandler
    answers it with 500 and the client raises."""
    await _running(served, "sr")
    async with http.post(served.webhook("instances/sr/resume?reason=r")) as response:
        assert response.status == 500
        body = await _json(response)
    _http_error(body, "System.InvalidOperationException")
    assert body["Message"] == "Something went wrong while processing your request"
    assert "because instance is in the Running state" in body["ExceptionMessage"]
    with pytest.raises(Exception, match="unexpected status code 500"):
        await served.client.resume("sr", "again")
    await served.client.suspend("sr", "pause")
    await wait_for_status(served.client, "sr", "Suspended")
    async with http.post(served.rpc("instances/sr/suspend?reason=r")) as response:
        assert response.status == 500
        assert "in the Suspended state" in (await _json(response))["ExceptionMessage"]
    with pytest.raises(Exception, match="unexpected status code 500"):
        await served.client.suspend("sr", "again")
    await served.client.resume("sr", "go on")
    await wait_for_status(served.client, "sr", "Running")


async def test_purge_of_a_running_instance_deletes_it(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """HandleDeleteHistoryByIdRequestAsync purges whatever the status: 200, instance gone."""
    await _running(served, "purge-run")
    async with http.delete(served.webhook("instances/purge-run")) as response:
        assert response.status == 200
        assert await _json(response) == {"instancesDeleted": 1}
    assert not await served.client.get_status("purge-run")
    await _running(served, "purge-run-2")
    assert (await served.client.purge_instance_history("purge-run-2")).instances_deleted == 1
    async with http.delete(served.webhook("instances/purge-run-2")) as response:
        assert response.status == 404
        assert await response.read() == b""


async def test_purge_by_filter_keeps_only_terminal_statuses(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """AzureTableTrackingStore.PurgeInstanceHistoryAsync drops non-terminal statuses from the
    filter; none left means no filter: runtimeStatus=Running purges everything in range."""
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    await served.client.start_new(o.ECHO, "pf-done", None)
    await wait_for_status(served.client, "pf-done", "Completed")
    await _running(served, "pf-run")
    kept = await served.client.purge_instance_history_by(
        created_time_from=since, runtime_status=[Running, Completed]
    )
    assert kept.instances_deleted == 1  # Running was dropped from the filter: only Completed
    assert await served.client.get_status("pf-run")
    await served.client.start_new(o.ECHO, "pf-done-2", None)
    await wait_for_status(served.client, "pf-done-2", "Completed")
    from_ = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    async with http.delete(
        served.webhook(f"instances?createdTimeFrom={from_}&runtimeStatus=Running")
    ) as response:
        assert response.status == 200
        assert await _json(response) == {"instancesDeleted": 2}  # the Running one too
    assert not await served.client.get_status("pf-run")


async def test_rewind_codes_and_a_rewound_instance_completes(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """HandleRewindInstanceRequestAsync: absent 404 (empty); Completed/Terminated 410;
    in progress 500 (RewindAsync's InvalidOperationException); Failed 202, and it runs on."""
    async with http.post(served.webhook("instances/nobody/rewind?reason=x")) as response:
        assert (response.status, await response.read()) == (404, b"")
    with pytest.raises(Exception, match="No instance with ID nobody found"):
        await served.client.rewind("nobody", "x")
    await served.client.start_new(o.ECHO, "rw-done", None)
    await wait_for_status(served.client, "rw-done", "Completed")
    async with http.post(served.webhook("instances/rw-done/rewind?reason=x")) as response:
        assert (response.status, await response.read()) == (410, b"")
    await _running(served, "rw-run")
    async with http.post(served.rpc("instances/rw-run/rewind?reason=x")) as response:
        assert response.status == 500
        assert (await _json(response))["ExceptionMessage"] == (
            "The rewind operation is only supported on failed orchestration instances."
        )
    o.flaky_calls.pop("rw", None)
    await served.client.start_new(o.REWINDABLE, "rw", {"key": "rw", "succeed_on": 2})
    await wait_for_status(served.client, "rw", "Failed")
    await served.client.rewind("rw", "fixed it")
    status = await wait_for_status(served.client, "rw", "Completed")
    assert status.output == ["Hello before!", "succeeded on call 2"]
    assert o.flaky_calls["rw"] == 2  # only the failed activity ran again


async def test_rewind_of_a_parent_rewinds_its_failed_child(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """RewindHistoryAsync rewinds failed sub-orchestrations recursively."""
    o.flaky_calls.pop("rwp", None)
    await served.client.start_new(o.REWINDABLE_PARENT, "rwp", {"key": "rwp", "succeed_on": 2})
    await wait_for_status(served.client, "rwp", "Failed")
    await wait_for_status(served.client, "rwp-child", "Failed")
    async with http.post(served.webhook("instances/rwp/rewind?reason=x")) as response:
        assert response.status == 202
    status = await wait_for_status(served.client, "rwp", "Completed")
    assert status.output == ["Hello before!", "succeeded on call 2"]
    assert (await served.client.get_status("rwp-child")).runtime_status == Completed


async def test_show_history_has_the_hosts_shape(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """DurableClient.GetDurableOrchestrationStatusAsync: scheduling events merged into their
    completions, no ids, Result parsed and only with showHistoryOutput, Input with showInput."""
    await served.client.start_new(o.SEQUENCE, "hist", ["a"])
    await wait_for_status(served.client, "hist", "Completed")
    url = served.webhook("instances/hist?showHistory=true&showHistoryOutput=true")
    async with http.get(url) as response:
        events = (await _json(response))["historyEvents"]
    kinds = [e["EventType"] for e in events]
    assert kinds == ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    started, completed, finished = events
    assert started["FunctionName"] == o.SEQUENCE
    assert {"OrchestrationInstance", "ParentInstance", "Version", "Name"}.isdisjoint(started)
    assert completed["FunctionName"] == o.HELLO
    assert completed["Result"] == "Hello a!"  # parsed, not the JSON text '"Hello a!"'
    assert {"ScheduledTime", "Input", "Timestamp"} <= set(completed)
    assert finished["OrchestrationStatus"] == "Completed"
    assert finished["Result"] == ["Hello a!"]
    for item in events:
        assert {"EventId", "IsPlayed", "TaskScheduledId", "TimerId"}.isdisjoint(item)
    async with http.get(served.webhook("instances/hist?showHistory=true&showInput=false")) as r:
        quiet = (await _json(r))["historyEvents"]
    assert all("Result" not in e and "Input" not in e for e in quiet)


async def test_status_input_is_the_stored_json_value_in_every_generation(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """ConvertOrchestrationStateToStatus parses the stored input (ParseToJToken); the host
    stores what it received: the client's JSON-string body, and a continue-as-new action's
    input the same way (OutOfProcOrchestrationShim)."""
    await served.client.start_new(o.WAIT_FOR_GO, "in-1", {"x": 1})
    first = await wait_for_status(served.client, "in-1", "Running")
    await served.client.start_new(o.COUNTER, "in-can", {"n": 0, "stop": 2})
    last = await wait_for_status(served.client, "in-can", "Completed")
    assert isinstance(first.input_, str)
    assert json.loads(first.input_) == {"x": 1}
    assert isinstance(last.input_, str)
    assert json.loads(last.input_) == {"n": 2, "stop": 2}
    assert last.output == {"n": 2, "stop": 2}
    async with http.post(served.webhook(f"orchestrators/{o.WAIT_FOR_GO}/in-obj"), json={"y": 2}):
        pass
    async with http.get(served.webhook("instances/in-obj")) as response:
        assert (await _json(response))["input"] == {"y": 2}  # a JSON object body stays one


async def test_create_and_wait_answers_with_the_outcome(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """WaitForCompletionOrCreateCheckStatusResponseAsync: Completed 200 with the output;
    Failed the status payload; still running after the timeout 202; the same for restart."""
    wait = "timeout=5&pollingInterval=0.05"
    async with http.post(served.webhook(f"orchestrators/{o.ECHO}/cw-1?{wait}"), json={"n": 7}) as r:
        assert (r.status, await _json(r)) == (200, {"n": 7})
    async with http.post(served.webhook(f"orchestrators/{o.FAILING}/cw-2?{wait}")) as r:
        assert r.status == 200
        assert (await _json(r))["runtimeStatus"] == "Failed"
    short = "timeout=0.2&pollingInterval=0.05"
    async with http.post(served.webhook(f"orchestrators/{o.WAIT_FOR_GO}/cw-3?{short}")) as r:
        assert r.status == 202
        assert (await _json(r))["id"] == "cw-3"
    url = served.webhook(f"instances/cw-1/restart?restartWithNewInstanceId=false&{wait}")
    async with http.post(url) as r:
        assert (r.status, await _json(r)) == (200, {"n": 7})
    async with http.post(
        served.webhook(f"orchestrators/{o.ECHO}?timeout=1&pollingInterval=2")
    ) as r:
        assert r.status == 400  # polling interval longer than the timeout: ArgumentException


async def test_list_pages_by_100_and_always_sends_the_token(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """HandleGetStatusRequestAsync: PageSize 100 by default, the continuation header on every
    page (empty on the last), a bad token a 500 HttpError; get_status_all reads one page."""
    for index in range(101):
        await served.client.start_new(o.ECHO, f"pg-{index:03d}", None)
    async with http.get(served.rpc("instances")) as response:
        first = await _json(response)
        token = response.headers["x-ms-continuation-token"]
    assert len(first) == 100
    assert token
    async with http.get(served.rpc("instances"), headers={"x-ms-continuation-token": token}) as r:
        second = await _json(r)
        assert r.headers["x-ms-continuation-token"] == ""
    assert sorted(s["instanceId"] for s in first + second) == [f"pg-{i:03d}" for i in range(101)]
    assert len(await served.client.get_status_all()) == 100
    async with http.get(served.rpc("instances"), headers={"x-ms-continuation-token": "%%"}) as r:
        assert r.status == 500
        _http_error(await _json(r), "System.FormatException")


async def test_runtime_status_filter_parses_like_enum_tryparse(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """TryGetIEnumerableQueryParameterValue: Enum.TryParse is case-sensitive and takes numbers;
    nothing parsable means no filter."""
    await served.client.start_new(o.ECHO, "rs-done", None)
    await wait_for_status(served.client, "rs-done", "Completed")
    await _running(served, "rs-run")

    async def listed(query: str) -> list[str]:
        async with http.get(served.webhook(f"instances?{query}")) as response:
            return sorted(s["instanceId"] for s in await _json(response))

    assert await listed("runtimeStatus=Running") == ["rs-run"]
    assert await listed("runtimeStatus=0") == ["rs-run"]  # Running = 0
    assert await listed("runtimeStatus=1,99") == ["rs-done"]  # 99 parses, matches nothing
    assert await listed("runtimeStatus=running") == ["rs-done", "rs-run"]  # no filter
    by_client = await served.client.get_status_by(runtime_status=[Running])
    assert [s.instance_id for s in by_client] == ["rs-run"]


async def test_restart_of_a_running_id_kept_is_500(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """RestartAsync → StartNewAsync → OrchestrationAlreadyExistsException, not caught by the
    restart handler: the generic 500. An absent ID is its ArgumentException, 400."""
    await _running(served, "rr")
    url = served.webhook("instances/rr/restart?restartWithNewInstanceId=false")
    async with http.post(url) as response:
        assert response.status == 500
        _http_error(
            await _json(response), "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
        )
    with pytest.raises(Exception, match="unexpected status code 500"):
        await served.client.restart("rr", restart_with_new_instance_id=False)
    async with http.post(served.webhook("instances/none/restart")) as response:
        assert response.status == 400
        body = await _json(response)
    assert body["Message"] == "InstanceId does not match a valid orchestration instance."


async def test_trailing_slashes_are_trimmed(served: Served, http: aiohttp.ClientSession) -> None:
    """HandleRequestAsync matches ``"/" + path.Trim('/')``."""
    async with http.post(
        served.webhook(f"orchestrators/{o.ECHO}/slash/"), json={"n": 1}
    ) as response:
        assert response.status == 202
    await wait_for_status(served.client, "slash", "Completed")
    async with http.get(served.webhook("instances/slash/")) as response:
        assert response.status == 200
    async with http.get(served.rpc("Instances/slash//")) as response:
        assert response.status == 200  # literal segments match case-insensitively


async def test_raise_event_with_an_empty_json_body_is_400(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """HandleRaiseEventRequestAsync: ConvertToJToken("") is a JsonReaderException."""
    await _running(served, "ev")
    headers = {"Content-Type": "application/json"}
    url = served.webhook("instances/ev/raiseEvent/go")
    async with http.post(url, data=b"", headers=headers) as response:
        assert response.status == 400
        body = await _json(response)
    assert body["Message"] == "Invalid JSON content"
    _http_error(body, "Newtonsoft.Json.JsonReaderException")
    assert (await served.client.get_status("ev")).runtime_status == Running


async def test_terminate_reason_that_is_json_is_parsed(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """The reason becomes the output text; the status parses it (ParseToJToken)."""
    await _running(served, "t-num")
    async with http.post(served.webhook("instances/t-num/terminate?reason=123")) as response:
        assert response.status == 202
    assert (await wait_for_status(served.client, "t-num", "Terminated")).output == 123
    await _running(served, "t-text")
    await served.client.terminate("t-text", "not json")
    assert (await wait_for_status(served.client, "t-text", "Terminated")).output == "not json"


@pytest.mark.parametrize(
    "text",
    [
        "2020-01-01",
        "2020-01-01 00:00:00",
        "2020-01-01T00:00:00.1234567Z",
        "01/01/2020",
        "1/1/2020 12:00:00 AM",
        "Wed, 01 Jan 2020 00:00:00 GMT",
        "2020-01-01T02:00:00+02:00",
    ],
)
async def test_created_time_accepts_datetime_tryparse_forms(
    served: Served, http: aiohttp.ClientSession, text: str
) -> None:
    """TryGetDateTimeQueryParameterValue is DateTime.TryParse, not ISO only."""
    await served.client.start_new(o.ECHO, "dt", None)
    url = served.webhook("instances")
    async with http.get(url, params={"createdTimeFrom": text}) as response:
        assert [s["instanceId"] for s in await _json(response)] == ["dt"]
    async with http.get(url, params={"createdTimeTo": text}) as response:
        assert await _json(response) == []


async def test_instance_ids_with_braces_are_served(
    served: Served, http: aiohttp.ClientSession
) -> None:
    """DurableClient.StartNewAsync refuses only @, /, \\, #, ? and controls: braces are IDs."""
    async with http.post(served.webhook(f"orchestrators/{o.ECHO}/{{order}}-1"), json={"n": 1}) as r:
        assert r.status == 202
        assert (await _json(r))["id"] == "{order}-1"
    await served.client.start_new(o.ECHO, "{x}", 2)
    assert (await wait_for_status(served.client, "{x}", "Completed")).output == 2
    assert (await wait_for_status(served.client, "{order}-1", "Completed")).output == {"n": 1}
    assert (await served.client.purge_instance_history("{x}")).instances_deleted == 1


async def test_client_binding_json_is_the_bindings(served: Served) -> None:
    """BindingHelper.DurableOrchestrationClientToString: key set, no key query locally."""
    binding = json.loads(served.backend.client_binding(served.base_url))
    assert list(binding) == [
        "taskHubName",
        "connectionName",
        "creationUrls",
        "managementUrls",
        "baseUrl",
        "requiredQueryStringParameters",
        "rpcBaseUrl",
    ]
    assert binding["connectionName"] is None
    assert binding["requiredQueryStringParameters"] == ""
    assert binding["taskHubName"] == HUB
    assert binding["managementUrls"]["rewindPostUri"].endswith(
        f"/instances/INSTANCEID/rewind?reason={{text}}&taskHub={HUB}&connection=Storage"
    )
    assert binding["creationUrls"]["createNewInstancePostUri"].endswith(
        "/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?"
    )
    assert binding["rpcBaseUrl"] == f"{served.base_url}/durabletask/"


async def test_the_engine_arms_timers_per_instance() -> None:
    """Starting an instance touches only its own timers (issue 9: a scan of every armed timer
    per start cost 43 % of CPU at 20k instances)."""
    backend = DurableBackend(functions=o.build_functions(), hub_name=HUB, store=MemoryStore())
    async with serve_backend(backend) as base_url:
        client = df.DurableOrchestrationClient(backend.client_binding(base_url))
        for index in range(3):
            await client.start_new(o.TIMER, f"tm-{index}", 60)
        served = Served(backend, base_url)
        for index in range(3):
            await wait_for_status(served.client, f"tm-{index}", "Running")
        timers = backend._engine._timers
        assert len(timers) == 3
        await client.terminate("tm-1", "stop")
        await wait_for_status(served.client, "tm-1", "Terminated")
        assert len(timers) == 2
