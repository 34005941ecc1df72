"""Every JSON shape the backend answers with, built here and nowhere else (HttpApiHandler.cs,
DurableClient.cs, BindingHelper.cs in Azure/azure-functions-durable-extension)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from devhost.durable._history import EventType, HistoryEvent, format_status_time, parse_timestamp
from devhost.durable._state import InstanceState
from devhost.durable._status import RuntimeStatus

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
CONNECTION_NAME = "Storage"

BAD_ARGUMENTS = "One or more of the arguments submitted is incorrect"
SOMETHING_WENT_WRONG = "Something went wrong while processing your request"


def error_response(
    status: int,
    message: str,
    *,
    exception_message: str | None = None,
    exception_type: str | None = None,
) -> web.Response:
    """``request.CreateErrorResponse``: an ASP.NET ``HttpError`` JSON body."""
    body: dict[str, Any] = {"Message": message}
    if exception_message is not None:
        body["ExceptionMessage"] = exception_message
        body["ExceptionType"] = exception_type or "System.Exception"
        body["StackTrace"] = "   at devhost.durable (emulated Durable Functions host)"
    return web.json_response(body, status=status)


def empty_response(status: int) -> web.Response:
    """``request.CreateResponse(status)`` with no content (what the Python client reads as "")."""
    return web.Response(status=status)


def parse_to_jtoken(text: str | None) -> Any:
    """``DurableClient.ParseToJToken``: stored JSON text as its value; text that is not JSON
    (a terminate reason such as ``demo``) as the string itself; blank as ``""``."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return ""
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


# GetDurableOrchestrationStatusAsync: a completion takes these from the event that scheduled it.
_SCHEDULING_EVENT = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_WITH_RESULT = (
    EventType.TASK_COMPLETED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
    EventType.EXECUTION_COMPLETED,
)
_EPISODE_MARKERS = (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED)


def _event_type_name(kind: EventType) -> str:
    return "".join(part.title() for part in kind.name.split("_"))


def history_view(
    history: list[HistoryEvent], *, show_history_output: bool, show_input: bool
) -> list[dict[str, Any]]:
    """``historyEvents`` as DurableClient.GetDurableOrchestrationStatusAsync shapes them.

    EventType as its name; TaskScheduled / SubOrchestrationInstanceCreated merged into their
    completion (``FunctionName``, ``ScheduledTime``, ``Input`` with showInput) and dropped;
    OrchestratorStarted/Completed dropped; no ``EventId``, ``IsPlayed``, ``TaskScheduledId``
    (nor ``TimerId`` on TimerFired); ``Result`` only with showHistoryOutput, parsed JSON;
    ``Input`` only with showInput; ExecutionStarted's ``Name`` as ``FunctionName``.
    """
    scheduled: dict[tuple[EventType, int], tuple[int, HistoryEvent]] = {}
    merged: set[int] = set()
    shown: list[tuple[int, dict[str, Any]]] = []
    for index, original in enumerate(history):
        kind = EventType(original["EventType"])
        if kind in _EPISODE_MARKERS:
            continue
        item = {key: value for key, value in original.items() if key not in ("EventId", "IsPlayed")}
        item["EventType"] = _event_type_name(kind)
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            scheduled[(kind, original["EventId"])] = (index, original)
            item.pop("Version", None)
        elif kind in _SCHEDULING_EVENT:
            found = scheduled.get((_SCHEDULING_EVENT[kind], item.pop("TaskScheduledId", None)))
            if found is not None:
                merged.add(found[0])
                item["ScheduledTime"] = found[1]["Timestamp"]
                item["FunctionName"] = found[1].get("Name")
                if show_input:
                    item["Input"] = found[1].get("Input")
        elif kind == EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind == EventType.TIMER_FIRED:
            item.pop("TimerId", None)
        if kind in _WITH_RESULT:
            if show_history_output:
                item["Result"] = parse_to_jtoken(item.get("Result"))
            else:
                item.pop("Result", None)
        if not show_input:
            item.pop("Input", None)
        shown.append((index, item))
    return [item for index, item in shown if index not in merged]


def status_payload(
    state: InstanceState, *, show_input: bool, show_history: bool, show_history_output: bool
) -> dict[str, Any]:
    """``HttpApiHandler.ConvertFrom``: times in whole seconds with ``Z``; input, output and
    custom status parsed (``ParseToJToken``); ``historyEvents`` only when asked for and the
    instance is not Pending (GetDurableOrchestrationStatusAsync), else left out."""
    payload: dict[str, Any] = {
        "name": state.name,
        "instanceId": state.instance_id,
        "runtimeStatus": state.status.value,
        "input": parse_to_jtoken(state.input) if show_input else None,
        "customStatus": parse_to_jtoken(state.custom_status),
        "output": parse_to_jtoken(state.output),
        "createdTime": format_status_time(parse_timestamp(state.created_time)),
        "lastUpdatedTime": format_status_time(parse_timestamp(state.last_updated_time)),
    }
    if show_history and state.status != RuntimeStatus.PENDING:
        payload["historyEvents"] = history_view(
            state.history, show_history_output=show_history_output, show_input=show_input
        )
    return payload


def purge_result(instances_deleted: int) -> web.Response:
    """``PurgeHistoryResult`` (200)."""
    return web.json_response({"instancesDeleted": instances_deleted}, status=200)


def url_encode(text: str) -> str:
    """.NET ``WebUtility.UrlEncode``: space as ``+``; letters, digits and ``-_.!*()`` kept."""
    return quote_plus(text, safe="!*()").replace("~", "%7E")


def management_payload(
    origin: str, hub_name: str, instance_id: str, *, key_query: str = ""
) -> dict[str, str]:
    """``HttpApiHandler.GetClientResponseLinks``: the ``HttpManagementPayload`` of one instance.
    ``origin`` is scheme://host:port; ``key_query`` the webhook's own query (``code=<system
    key>`` on Azure; the local host has no keys, so none)."""
    prefix = f"{origin}{WEBHOOK_PATH}/instances/{url_encode(instance_id)}"
    query = f"taskHub={url_encode(hub_name)}&connection={url_encode(CONNECTION_NAME)}"
    if key_query:
        query += f"&{key_query}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }


def check_status_response(origin: str, hub_name: str, instance_id: str) -> web.Response:
    """``CreateCheckStatusResponseMessage``: 202, links but rewind, Location, Retry-After: 10."""
    links = management_payload(origin, hub_name, instance_id)
    del links["rewindPostUri"]
    response = web.json_response(links, status=202)
    response.headers["Location"] = links["statusQueryGetUri"]
    response.headers["Retry-After"] = "10"
    return response


def client_binding(base_url: str, hub_name: str, *, key_query: str = "") -> str:
    """``BindingHelper.DurableOrchestrationClientToString`` (out-of-proc protocol v1), the
    ``durableClient`` binding's JSON: ``connectionName`` present and null (the binding names no
    connection), creation URLs carrying only the webhook's key query, no ``httpBaseUrl``
    (added to the extension after 2.13.x/3.0), ``rpcBaseUrl`` the local RPC endpoint."""
    base = base_url.rstrip("/")
    webhook = f"{base}{WEBHOOK_PATH}"
    creation = f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
    return json.dumps(
        {
            "taskHubName": hub_name,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation}?{key_query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{creation}?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{key_query}"
                ),
            },
            "managementUrls": management_payload(base, hub_name, "INSTANCEID", key_query=key_query),
            "baseUrl": webhook,
            "requiredQueryStringParameters": key_query,
            "rpcBaseUrl": f"{base}{RPC_PATH}/",
        }
    )
