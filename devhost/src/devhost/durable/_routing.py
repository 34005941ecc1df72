"""Which handler a request reaches: ``HttpApiHandler.HandleRequestAsync``'s matching.

The host takes the path below its base (the RPC listener's or ``/runtime/webhooks/durabletask``),
trims slashes at both ends (so a trailing slash matches), and tries four route templates in
order with ASP.NET's TemplateMatcher (literal segments case-insensitive; a parameter takes any
one segment — braces included):

    orchestrators/{functionName}/{instanceId?}        POST: start
    entities/{entityName?}/{entityKey?}               (entities: not supported here)
    instances/{instanceId?}/{operation?}              GET/DELETE list, status, purge; POST ops
    instances/{instanceId?}/raiseEvent/{eventName}    POST: raise an event

Anything else, and a method a matched template does not serve, is an empty 404.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import unquote


class Action(enum.Enum):
    START = "start"
    LIST = "list"
    PURGE_BY_FILTER = "purge_by_filter"
    STATUS = "status"
    PURGE = "purge"
    TERMINATE = "terminate"
    REWIND = "rewind"
    RESTART = "restart"
    SUSPEND = "suspend"
    RESUME = "resume"
    RAISE_EVENT = "raise_event"
    ENTITIES = "entities"


# HandleRequestAsync: POST instances/{id}/{operation}, operation compared case-insensitively.
_OPERATIONS = {
    "terminate": Action.TERMINATE,
    "rewind": Action.REWIND,
    "restart": Action.RESTART,
    "suspend": Action.SUSPEND,
    "resume": Action.RESUME,
}


@dataclass(frozen=True)
class Matched:
    action: Action
    values: dict[str, str]


def segments_below(raw_path: str, base: str) -> list[str] | None:
    """The decoded segments below ``base`` (``Trim('/')`` first), or None outside it."""
    if raw_path.lower() != base.lower() and not raw_path.lower().startswith(base.lower() + "/"):
        return None
    rest = raw_path[len(base) :].split("?", 1)[0].strip("/")
    return [unquote(part) for part in rest.split("/")] if rest else []


def match(method: str, parts: list[str]) -> Matched | None:
    """The action for ``method`` on the path ``parts``, or None for the host's empty 404."""
    if any(part == "" for part in parts) or not parts:
        return None
    head, rest = parts[0].lower(), parts[1:]
    if head == "orchestrators" and len(rest) in (1, 2):
        if method != "POST":
            return None
        values = {"functionName": rest[0], "instanceId": rest[1] if len(rest) == 2 else ""}
        return Matched(Action.START, values)
    if head == "entities" and len(rest) <= 2:
        return Matched(Action.ENTITIES, {})
    if head != "instances":
        return None
    if not rest:
        return _by_method(method, {"GET": Action.LIST, "DELETE": Action.PURGE_BY_FILTER}, {})
    values = {"instanceId": rest[0]}
    if len(rest) == 1:
        return _by_method(method, {"GET": Action.STATUS, "DELETE": Action.PURGE}, values)
    if len(rest) == 2:
        operation = _OPERATIONS.get(rest[1].lower())
        return Matched(operation, values) if method == "POST" and operation else None
    if len(rest) == 3 and rest[1].lower() == "raiseevent" and method == "POST":
        return Matched(Action.RAISE_EVENT, {**values, "eventName": rest[2]})
    return None


def _by_method(method: str, actions: dict[str, Action], values: dict[str, str]) -> Matched | None:
    action = actions.get(method)
    return None if action is None else Matched(action, values)
