"""Which argument each function parameter gets, decided once per function at start-up.

The Python worker binds by parameter name: the trigger and every input binding are passed
under their ``name``; ``$return`` output is the return value; a parameter called ``context``
gets a ``func.Context``. Anything this local host cannot provide fails at start-up (fail
closed), not on the first request.
"""

from __future__ import annotations

import enum
import inspect
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions import _abc as func_abc
from azure.functions.blob import InputStream
from azure.functions.http import HttpRequest
from azure.functions.timer import TimerRequest

from devhost._blob_store import BlobInfo
from devhost._blobs import BlobPath
from devhost._errors import HostConfigError, UnsupportedBindingError
from devhost._loader import DURABLE_TRIGGER_TYPES, IndexedFunction
from devhost._queue_store import normalize_queue_name

_IN, _OUT = "IN", "OUT"

#: Triggers this local host runs; every other trigger's function is listed "not run locally".
RUN_TRIGGERS = frozenset(
    {"httpTrigger", "timerTrigger", "queueTrigger", "blobTrigger", "serviceBusTrigger"}
)
#: Output bindings it writes (the HTTP response, Storage queues, blobs, Service Bus).
RUN_OUTPUTS = frozenset({"http", "queue", "blob", "serviceBus"})
STORAGE_CONNECTION = "AzureWebJobsStorage"


class ArgumentKind(enum.Enum):
    """What the host passes for one parameter."""

    HTTP_REQUEST = "httpTrigger"
    TIMER_REQUEST = "timerTrigger"
    QUEUE_MESSAGE = "queueTrigger"
    BLOB_TRIGGER = "blobTrigger"
    SERVICE_BUS_MESSAGE = "serviceBusTrigger"
    BLOB_INPUT = "blob"
    DURABLE_CLIENT = "durableClient"
    CONTEXT = "context"
    OUTPUT = "out"


_KIND_BY_BINDING_TYPE = {
    kind.value: kind
    for kind in ArgumentKind
    if kind not in (ArgumentKind.CONTEXT, ArgumentKind.OUTPUT)
}


@dataclass(frozen=True)
class QueueOutput:
    """A queue output binding: ``parameter`` is its ``func.Out`` parameter or ``$return``."""

    parameter: str
    queue: str


@dataclass(frozen=True)
class BlobOutput:
    """A blob output binding: ``parameter`` is its ``func.Out`` parameter or ``$return``."""

    parameter: str
    path: BlobPath


@dataclass(frozen=True)
class ServiceBusOutput:
    """A Service Bus output binding: a queue or a topic."""

    parameter: str
    destination: str


@dataclass(frozen=True)
class BindingPlan:
    """Parameter name -> what to pass, for one (non-durable-trigger) function.

    ``not_run`` says why the local host does not run the function (a trigger or binding it
    does not implement); such a function is listed in the banner and never invoked.
    """

    function_name: str
    arguments: Mapping[str, ArgumentKind]
    queue_outputs: tuple[QueueOutput, ...] = ()
    queue: str | None = None  # the queue trigger's queue
    blob_trigger: BlobPath | None = None
    blob_inputs: Mapping[str, BlobPath] = field(default_factory=dict)
    blob_outputs: tuple[BlobOutput, ...] = ()
    #: How a blob parameter is passed: "stream" (func.InputStream), "str" or "bytes".
    blob_types: Mapping[str, str] = field(default_factory=dict)
    #: The Service Bus trigger's entity: ``queue`` or ``topic/Subscriptions/subscription``.
    service_bus: str | None = None
    service_bus_topic: tuple[str, str] | None = None
    service_bus_outputs: tuple[ServiceBusOutput, ...] = ()
    not_run: str | None = None

    @property
    def needs_durable_client(self) -> bool:
        return ArgumentKind.DURABLE_CLIENT in self.arguments.values()


class OutValue(func.Out[Any]):
    """The ``func.Out`` a function sets its output binding through (the worker's ``Out``)."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def resolve_setting_name(text: str, environ: Mapping[str, str], *, what: str) -> str:
    """``%Name%`` parts resolved from the app settings, as the host's name resolver does."""
    parts = text.split("%")
    if len(parts) % 2 == 0:
        raise HostConfigError(f"{what}: unbalanced % in {text!r}")
    resolved = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            resolved.append(part)
        elif part not in environ:
            raise HostConfigError(f"{what}: {text!r} names the app setting {part!r}, not set")
        else:
            resolved.append(environ[part])
    return "".join(resolved)


def check_connection(binding: Mapping[str, Any], environ: Mapping[str, str], *, what: str) -> None:
    """Fail closed, as the host does, when the binding's storage connection is not configured:
    the setting itself, ``AzureWebJobs<name>``, or identity-based ``<name>__...`` settings."""
    name = str(binding.get("connection") or STORAGE_CONNECTION)
    prefixed = f"{name}__"
    if (
        environ.get(name)
        or environ.get(f"AzureWebJobs{name}")
        or any(key.startswith(prefixed) and value for key, value in environ.items())
    ):
        return
    raise HostConfigError(
        f"{what}: the connection setting {name!r} is not set (add it to local.settings.json "
        f'Values, e.g. "{STORAGE_CONNECTION}": "UseDevelopmentStorage=true")'
    )


def _queue_name(binding: Mapping[str, Any], environ: Mapping[str, str], what: str) -> str:
    raw = binding.get("queueName")
    if not isinstance(raw, str) or not raw:
        raise HostConfigError(f"{what}: queueName is missing")
    if "{" in raw:
        raise UnsupportedBindingError(
            f"{what}: queue name {raw!r} has a binding expression (not run locally)"
        )
    return normalize_queue_name(resolve_setting_name(raw, environ, what=what), what=what)


def _annotation(function: IndexedFunction, parameter: str) -> Any:
    try:
        hints = typing.get_type_hints(function.user_function)
    except Exception:
        return inspect.Parameter.empty  # an annotation that does not resolve is not checked
    return hints.get(parameter, inspect.Parameter.empty)


def _check_annotation(
    function: IndexedFunction, parameter: str, expected: type, binding_type: str
) -> None:
    """The worker refuses a trigger parameter annotated other than its type (or nothing)."""
    annotation = _annotation(function, parameter)
    if annotation is inspect.Parameter.empty:
        return
    if not (isinstance(annotation, type) and issubclass(annotation, expected)):
        shown = getattr(annotation, "__name__", repr(annotation))
        raise UnsupportedBindingError(
            f'{function.name}: type of {parameter} binding "{binding_type}" does not match '
            f'its Python annotation "{shown}" (annotate it func.{expected.__name__}, as the '
            "worker requires)"
        )


def _blob_type(function: IndexedFunction, parameter: str) -> str:
    """As the worker's blob converter: InputStream (or no annotation), str or bytes."""
    annotation = _annotation(function, parameter)
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(arguments) == 1 and type(None) in typing.get_args(annotation):
        annotation = arguments[0]  # Optional[str]: an input blob that may be missing
    if annotation is str:
        return "str"
    if annotation is bytes:
        return "bytes"
    if annotation is inspect.Parameter.empty or (
        isinstance(annotation, type) and issubclass(annotation, func_abc.InputStream)
    ):
        return "stream"
    shown = getattr(annotation, "__name__", repr(annotation))
    raise UnsupportedBindingError(
        f"{function.name}: type of {parameter} blob binding does not match its Python "
        f'annotation "{shown}" (func.InputStream, str or bytes)'
    )


def plan_bindings(
    function: IndexedFunction, environ: Mapping[str, str] | None = None
) -> BindingPlan:
    """Decide the arguments of ``function``.

    A trigger or binding the local host does not implement gives a plan with ``not_run``
    set. A function the host would refuse (parameters and bindings that differ, a queue
    trigger annotated ``str``, an invalid queue name, a missing connection setting) raises
    ``UnsupportedBindingError`` or ``HostConfigError``: the host fails closed.
    """
    environ = {} if environ is None else environ
    if function.is_durable:
        raise UnsupportedBindingError(f"{function.name}: durable triggers are the backend's job")
    trigger_type = function.trigger_type
    if trigger_type not in RUN_TRIGGERS:
        return BindingPlan(
            function_name=function.name,
            arguments={},
            not_run=f"{trigger_type} is not run locally",
        )
    arguments: dict[str, ArgumentKind] = {}
    outputs: list[QueueOutput] = []
    blob_outputs: list[BlobOutput] = []
    blob_inputs: dict[str, BlobPath] = {}
    blob_types: dict[str, str] = {}
    blob_trigger: BlobPath | None = None
    queue: str | None = None
    bus_outputs: list[ServiceBusOutput] = []
    bus_entity: str | None = None
    bus_topic: tuple[str, str] | None = None
    for binding in function.bindings:
        binding_type, name = str(binding.get("type")), str(binding.get("name"))
        direction = str(binding.get("direction", "")).upper()  # enum names: "IN", "OUT"
        what = f"{function.name}: binding {name!r} ({binding_type})"
        if direction == _OUT:
            if binding_type not in RUN_OUTPUTS:
                return BindingPlan(
                    function_name=function.name,
                    arguments={},
                    not_run=f"its {binding_type} output {name!r} is not run locally",
                )
            if binding_type == "http":
                if name != "$return" or trigger_type != "httpTrigger":
                    raise UnsupportedBindingError(
                        f"{what}: only an HTTP trigger's $return is an HTTP output here"
                    )
                continue
            if name == "$return" and trigger_type == "httpTrigger":
                raise UnsupportedBindingError(
                    f"{what}: an HTTP function's $return is its response; bind the output to "
                    "a func.Out parameter"
                )
            check_connection(binding, environ, what=what)
            if binding_type == "serviceBus":
                target = binding.get("queueName") or binding.get("topicName")
                if not isinstance(target, str) or not target:
                    raise HostConfigError(f"{what}: queueName or topicName is missing")
                destination = resolve_setting_name(target, environ, what=what).lower()
                bus_outputs.append(ServiceBusOutput(parameter=name, destination=destination))
            elif binding_type == "blob":
                path = BlobPath.parse(
                    resolve_setting_name(str(binding.get("path")), environ, what=what),
                    what=what,
                    trigger=False,
                )
                blob_outputs.append(BlobOutput(parameter=name, path=path))
            else:
                queue_name = _queue_name(binding, environ, what)
                outputs.append(QueueOutput(parameter=name, queue=queue_name))
            if name != "$return":
                arguments[name] = ArgumentKind.OUTPUT
            continue
        kind = _KIND_BY_BINDING_TYPE.get(binding_type)
        if direction != _IN or kind is None or binding_type in DURABLE_TRIGGER_TYPES:
            return BindingPlan(
                function_name=function.name,
                arguments={},
                not_run=f"its {binding_type} binding {name!r} is not run locally",
            )
        if kind is ArgumentKind.QUEUE_MESSAGE:
            check_connection(binding, environ, what=what)
            queue = _queue_name(binding, environ, what)
            _check_annotation(function, name, func_abc.QueueMessage, "queueTrigger")
        elif kind is ArgumentKind.SERVICE_BUS_MESSAGE:
            if binding.get("isSessionsEnabled"):
                return BindingPlan(
                    function_name=function.name,
                    arguments={},
                    not_run="Service Bus sessions are not run locally",
                )
            check_connection(binding, environ, what=what)
            queue_setting, topic = binding.get("queueName"), binding.get("topicName")
            subscription = binding.get("subscriptionName")
            if queue_setting:
                bus_entity = resolve_setting_name(str(queue_setting), environ, what=what).lower()
            elif topic and subscription:
                bus_topic = (
                    resolve_setting_name(str(topic), environ, what=what).lower(),
                    resolve_setting_name(str(subscription), environ, what=what).lower(),
                )
                bus_entity = f"{bus_topic[0]}/Subscriptions/{bus_topic[1]}"
            else:
                raise HostConfigError(f"{what}: needs queueName, or topicName and subscriptionName")
            _check_annotation(function, name, func_abc.ServiceBusMessage, "serviceBusTrigger")
        elif kind in (ArgumentKind.BLOB_TRIGGER, ArgumentKind.BLOB_INPUT):
            check_connection(binding, environ, what=what)
            path = BlobPath.parse(
                resolve_setting_name(str(binding.get("path")), environ, what=what),
                what=what,
                trigger=kind is ArgumentKind.BLOB_TRIGGER,
            )
            if kind is ArgumentKind.BLOB_TRIGGER:
                blob_trigger = path
            else:
                blob_inputs[name] = path
            blob_types[name] = _blob_type(function, name)
        arguments[name] = kind
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
    return BindingPlan(
        function_name=function.name,
        arguments=arguments,
        queue_outputs=tuple(outputs),
        queue=queue,
        blob_trigger=blob_trigger,
        blob_inputs=blob_inputs,
        blob_outputs=tuple(blob_outputs),
        blob_types=blob_types,
        service_bus=bus_entity,
        service_bus_topic=bus_topic,
        service_bus_outputs=tuple(bus_outputs),
    )


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


def json_fields(body: bytes) -> dict[str, str]:
    """Top-level scalar fields of a JSON-object body, as binding data (the host's
    ``{field}`` expressions over a JSON queue message or request body)."""
    if not body.lstrip().startswith(b"{"):
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be binding data
        return {}
    if not isinstance(parsed, dict):
        return {}
    fields = {}
    for key, value in parsed.items():
        if isinstance(value, bool):
            fields[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            fields[str(key)] = str(value)
    return fields


def blob_argument(kind: str, data: bytes, *, info: BlobInfo | None, uri: str | None) -> Any:
    """A blob parameter's value: ``func.InputStream`` (with the blob's metadata), str or bytes."""
    if kind == "str":
        return data.decode("utf-8")
    if kind == "bytes":
        return data
    properties = None if info is None else {"ContentLength": info.length, "ETag": info.etag}
    return InputStream(
        data=data,
        name=None if info is None else info.path,
        uri=uri,
        length=len(data),
        blob_properties=properties,
        metadata={},
    )
