"""Which argument each function parameter gets, decided once per function at start-up.

The Python worker binds by parameter name: the trigger and every input binding are passed
under their ``name``; ``$return`` output is the return value; a parameter called ``context``
gets a ``func.Context``. Anything this local host cannot provide fails at start-up (fail
closed), not on the first request.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from azure.functions.http import HttpRequest
from azure.functions.timer import TimerRequest

from devhost._errors import UnsupportedBindingError
from devhost._loader import DURABLE_TRIGGER_TYPES, IndexedFunction

_IN, _OUT = "IN", "OUT"


class ArgumentKind(enum.Enum):
    """What the host passes for one parameter."""

    HTTP_REQUEST = "httpTrigger"
    TIMER_REQUEST = "timerTrigger"
    DURABLE_CLIENT = "durableClient"
    CONTEXT = "context"


_KIND_BY_BINDING_TYPE = {
    kind.value: kind for kind in ArgumentKind if kind is not ArgumentKind.CONTEXT
}


@dataclass(frozen=True)
class BindingPlan:
    """Parameter name -> what to pass, for one (non-durable-trigger) function."""

    function_name: str
    arguments: Mapping[str, ArgumentKind]

    @property
    def needs_durable_client(self) -> bool:
        return ArgumentKind.DURABLE_CLIENT in self.arguments.values()


def plan_bindings(function: IndexedFunction) -> BindingPlan:
    """Decide the arguments of ``function``; raise ``UnsupportedBindingError`` if we can't."""
    if function.is_durable:
        raise UnsupportedBindingError(f"{function.name}: durable triggers are the backend's job")
    arguments: dict[str, ArgumentKind] = {}
    for binding in function.bindings:
        binding_type, name = binding.get("type"), binding.get("name")
        direction = str(binding.get("direction", "")).upper()  # enum names: "IN", "OUT"
        if direction == _OUT:
            if binding_type == "http" and name == "$return":
                continue
            raise UnsupportedBindingError(
                f"{function.name}: output binding {name!r} of type {binding_type!r} is not "
                "supported by devhost (only the HTTP $return output is)"
            )
        kind = _KIND_BY_BINDING_TYPE.get(str(binding_type))
        if direction != _IN or kind is None or binding_type in DURABLE_TRIGGER_TYPES:
            raise UnsupportedBindingError(
                f"{function.name}: binding {name!r} of type {binding_type!r} is not supported by "
                "devhost (HTTP, timer and durable client bindings are)"
            )
        arguments[str(name)] = kind
    signature = inspect.signature(function.user_function)
    if "context" in signature.parameters and "context" not in arguments:
        arguments["context"] = ArgumentKind.CONTEXT
    missing = [name for name in arguments if name not in signature.parameters]
    unbound = [
        name
        for name, parameter in signature.parameters.items()
        if name not in arguments
        and parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if missing or unbound:
        raise UnsupportedBindingError(
            f"{function.name}: parameters and bindings differ "
            f"(bindings without a parameter: {missing}; parameters without a binding: {unbound})"
        )
    return BindingPlan(function_name=function.name, arguments=arguments)


async def http_request_from(request: web.Request, route_values: Mapping[str, str]) -> HttpRequest:
    """The ``func.HttpRequest`` the worker would build for this aiohttp request."""
    headers = {
        key.lower(): ",".join(request.headers.getall(key)) for key in dict.fromkeys(request.headers)
    }
    params = {key: ",".join(request.query.getall(key)) for key in dict.fromkeys(request.query)}
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=dict(route_values),
        body_type="bytes",
        body=await request.read(),
    )


def timer_request(
    *, past_due: bool, last: datetime | None, next_occurrence: datetime | None, now: datetime
) -> TimerRequest:
    """The ``func.TimerRequest`` for one timer firing (``ScheduleStatus`` like the host's)."""
    status = {
        "Last": (last or now).isoformat(),
        "Next": next_occurrence.isoformat() if next_occurrence else None,
        "LastUpdated": now.isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
