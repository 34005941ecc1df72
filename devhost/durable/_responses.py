"""Response bodies shaped like the host's (HttpApiHandler.cs)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from devhost.durable._history import format_status_time, parse_timestamp
from devhost.durable._state import InstanceState

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


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def history_for_api(state: InstanceState, *, with_output: bool) -> list[dict[str, Any]]:
    """A readable history (EventType names), outputs only with ``showHistoryOutput``."""
    from devhost.durable._history import EventType

    shown: list[dict[str, Any]] = []
    for item in state.history:
        kind = EventType(item["EventType"])
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        entry: dict[str, Any] = {
            "EventType": "".join(part.title() for part in kind.name.split("_")),
            "EventId": item["EventId"],
            "Timestamp": item["Timestamp"],
        }
        for key in ("Name", "TaskScheduledId", "TimerId", "FireAt", "InstanceId", "Reason"):
            if item.get(key) is not None:
                entry["FunctionName" if key == "Name" else key] = item[key]
        if with_output:
            for key in ("Result", "Input", "Details"):
                if item.get(key) is not None:
                    entry[key] = item[key]
        shown.append(entry)
    return shown


def status_payload(
    state: InstanceState, *, show_input: bool, show_history: bool, show_history_output: bool
) -> dict[str, Any]:
    """``StatusResponsePayload`` from ``ConvertFrom``: times in whole seconds with ``Z``."""
    payload: dict[str, Any] = {
        "name": state.name,
        "instanceId": state.instance_id,
        "runtimeStatus": state.status.value,
        "input": _json_or_none(state.input) if show_input else None,
        "customStatus": _json_or_none(state.custom_status),
        "output": _json_or_none(state.output),
        "createdTime": format_status_time(parse_timestamp(state.created_time)),
        "lastUpdatedTime": format_status_time(parse_timestamp(state.last_updated_time)),
    }
    if show_history:
        payload["historyEvents"] = history_for_api(state, with_output=show_history_output)
    return payload


def management_payload(origin: str, hub_name: str, instance_id: str) -> dict[str, str]:
    """``GetClientResponseLinks`` for one instance; ``origin`` is scheme://host:port."""
    prefix = f"{origin}{WEBHOOK_PATH}/instances/{quote_plus(instance_id)}"
    query = f"taskHub={quote_plus(hub_name)}&connection={CONNECTION_NAME}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }


def check_status_response(origin: str, hub_name: str, instance_id: str) -> web.Response:
    """``CreateCheckStatusResponseMessage``: 202, Location, Retry-After: 10."""
    links = management_payload(origin, hub_name, instance_id)
    response = web.json_response(links, status=202)
    response.headers["Location"] = links["statusQueryGetUri"]
    response.headers["Retry-After"] = "10"
    return response
