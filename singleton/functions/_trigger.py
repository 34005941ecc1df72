"""The trigger's data, as a ``@singleton`` scope's placeholders see it.

The Python worker passes the trigger as an ``azure.functions`` object under its parameter
name; :func:`find_trigger` picks it out of the function's arguments by type, and
:func:`trigger_lookup` reads the fields WebJobs binding expressions read:

=========  ======================================================================
HTTP       route parameters, then query parameters, then fields of a JSON-object body
queue      fields of a JSON-object message (Storage queue, Service Bus)
blob       the parameters of the trigger's path pattern (``"reports/{customerId}/{name}"``)
           matched against the blob's name
timer      nothing: a timer function's scope is literal text (or a callable)
=========  ======================================================================

Names match exactly, else case-insensitively (WebJobs binding data ignores case). A blob
trigger's path pattern is not passed to the function; it is read from the binding
azure-functions recorded for it (:func:`declared_trigger`). JSON bodies and messages are read
with the HTTP starter's strict parser (:func:`singleton.functions._body.parse_body`): a body
nested deeper than 64 or holding a 5,000-digit integer is an :class:`InvalidScope` (HTTP 400),
never a RecursionError or ValueError.

At indexing (:func:`install_index_check`), the names a scope may use are checked against the
names the trigger declares (:func:`declared_names`): an HTTP route's parameters, a blob
trigger's path parameters.
"""

from __future__ import annotations

import enum
import functools
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import azure.functions as func
from azure.functions.decorators.function_app import DecoratorApi, Function, FunctionBuilder

from singleton._errors import InvalidScope
from singleton.functions._body import InvalidBodyError, parse_body
from singleton.functions._scope import Lookup, Template


class TriggerKind(enum.Enum):
    HTTP = "http"
    QUEUE = "queue"
    BLOB = "blob"
    TIMER = "timer"
    OTHER = "other"


#: Trigger types, most specific first: a blob may also be an *input* binding beside another
#: trigger, so it is the trigger only when nothing else is.
_KINDS: tuple[tuple[type, TriggerKind], ...] = (
    (func.HttpRequest, TriggerKind.HTTP),
    (func.QueueMessage, TriggerKind.QUEUE),
    (func.ServiceBusMessage, TriggerKind.QUEUE),
    (func.TimerRequest, TriggerKind.TIMER),
    (func.InputStream, TriggerKind.BLOB),
)


@dataclass(frozen=True)
class Trigger:
    """The trigger argument of one invocation (``value`` None for an unknown trigger type)."""

    kind: TriggerKind
    value: Any = None


def find_trigger(arguments: Mapping[str, Any]) -> Trigger:
    """The trigger among the invocation's arguments, by its ``azure.functions`` type."""
    for trigger_type, kind in _KINDS:
        for value in arguments.values():
            if isinstance(value, trigger_type):
                return Trigger(kind, value)
    return Trigger(TriggerKind.OTHER)


def trigger_lookup(trigger: Trigger, blob_path: Callable[[], str | None]) -> Lookup:
    """Where placeholders are filled from for this trigger; ``blob_path`` gives the blob
    trigger's declared path pattern (asked only when a blob scope has placeholders)."""
    value = trigger.value
    if trigger.kind is TriggerKind.HTTP:
        return _lookup(
            "a route parameter, a query parameter or a field of the JSON body",
            _Fields(lambda: value.route_params),
            _Fields(lambda: value.params),
            _Fields(lambda: _json_object(value.get_body(), "the request body")),
        )
    if trigger.kind is TriggerKind.QUEUE:
        return _lookup(
            "a field of the JSON message",
            _Fields(lambda: _json_object(value.get_body(), "the message")),
        )
    if trigger.kind is TriggerKind.BLOB:
        return _lookup(
            "a parameter of the blob trigger's path",
            _Fields(lambda: _blob_parameters(value, blob_path())),
        )

    def nothing(name: str) -> object:
        raise InvalidScope(
            f"{{{name}}}: a {trigger.kind.value} trigger has no data to fill placeholders "
            "(use a literal scope or a callable)"
        )

    return nothing


class _Fields:
    """One source of binding data, read on first use (a body is parsed only if needed)."""

    def __init__(self, load: Callable[[], Mapping[str, Any]]) -> None:
        self._load = load
        self._fields: Mapping[str, Any] | None = None

    def get(self, name: str) -> tuple[bool, object]:
        """``(found, value)``: the exact name, else the one key equal to it ignoring case."""
        if self._fields is None:
            self._fields = self._load()
        fields = self._fields
        if name in fields:
            return True, fields[name]
        folded = [k for k in fields if isinstance(k, str) and k.casefold() == name.casefold()]
        if len(folded) == 1:
            return True, fields[folded[0]]
        return False, None


def _lookup(what: str, *sources: _Fields) -> Lookup:
    def lookup(name: str) -> object:
        for source in sources:
            found, value = source.get(name)
            if found:
                return value
        raise InvalidScope(f"{{{name}}} is not {what}")

    return lookup


def _json_object(raw: bytes | str | None, what: str) -> Mapping[str, Any]:
    """The fields of a JSON-object body, parsed as strictly as the starter parses a start
    body (no size limit of ours: the host bounds a request's or a message's size)."""
    if raw is None:
        return {}
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    try:
        value = parse_body(data, max_bytes=max(1, len(data)))
    except InvalidBodyError as exc:
        raise InvalidScope(f"{what} is not strict JSON, so it has no fields: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidScope(f"{what} is JSON but not an object, so it has no fields")
    return value


def _blob_parameters(blob: func.InputStream, path: str | None) -> Mapping[str, str]:
    if path is None:
        raise InvalidScope(
            "the blob trigger's path pattern was not found (declare the function on a "
            "FunctionApp or Blueprint that a module holds, or give @singleton a callable scope)"
        )
    if not blob.name:
        raise InvalidScope("the blob has no name to match the trigger's path against")
    template = Template.parse(path)
    match = template.matcher().fullmatch(blob.name)
    if match is None:
        raise InvalidScope(f"the blob {blob.name!r} does not match the trigger's path {path!r}")
    return dict(zip(template.names, match.groups(), strict=True))


def declared_trigger(
    function: Callable[..., Any], *, everywhere: bool = True
) -> Mapping[str, Any] | None:
    """The trigger binding azure-functions recorded for ``function`` (the decorators above it),
    found on the FunctionApp/Blueprint objects that modules hold; its own module first, then
    (``everywhere``, some 20 ms for a few hundred modules) every module."""
    home = sys.modules.get(function.__module__)
    modules = [home] if home is not None else []
    if everywhere:
        modules += [module for module in list(sys.modules.values()) if module is not home]
    for registry in _registries(modules):
        for builder in list(registry._function_builders):
            candidate = builder._function
            if _wraps(candidate.get_user_function(), function):
                trigger = candidate.get_trigger()
                return None if trigger is None else dict(trigger.get_dict_repr())
    return None


def _registries(modules: Iterable[Any]) -> Iterable[DecoratorApi]:
    seen: set[int] = set()
    for module in modules:
        for value in list(getattr(module, "__dict__", {}).values()):
            if isinstance(value, DecoratorApi) and id(value) not in seen:
                seen.add(id(value))
                yield value


def _wraps(outer: object, inner: object) -> bool:
    """``outer`` is ``inner`` or wraps it (``functools.wraps``' ``__wrapped__`` chain)."""
    for _ in range(100):  # a chain is a few wrappers long; a cycle must not hang us
        if outer is inner:
            return True
        outer = getattr(outer, "__wrapped__", None)
        if outer is None:
            return False
    return False


#: Route template parameters: ``{id}``, ``{id:int}``, ``{id?}``, ``{*path}``, ``{id=7}``.
_ROUTE_PARAMETER = re.compile(r"\{\*{0,2}([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Declared:
    """The names a trigger declares for binding expressions, and whether it carries others."""

    where: str  # "the route 'reports/{customerId}'"
    names: tuple[str, ...]
    #: other names may still be filled at run time (query, body, message fields)
    open: bool


def declared_names(trigger: Mapping[str, Any]) -> Declared | None:
    """What a trigger binding (as azure-functions records it) declares; None for a trigger
    whose data this module does not know (nothing is checked for it)."""
    kind = str(trigger.get("type", ""))
    if kind == "httpTrigger":
        route = str(trigger.get("route") or "")
        return Declared(f"the route {route!r}", tuple(_ROUTE_PARAMETER.findall(route)), True)
    if kind == "blobTrigger":
        path = str(trigger.get("path") or "")
        try:
            names = Template.parse(path).names
        except ValueError:
            return None
        return Declared(f"the blob trigger's path {path!r}", names, False)
    if kind in ("queueTrigger", "serviceBusTrigger"):
        return Declared("the message", (), True)
    if kind == "timerTrigger":
        return Declared("a timer trigger (it has no data)", (), False)
    return None


class IndexCheck(Protocol):
    """What the index check calls on the ``@singleton`` guard of a function being built."""

    def indexed(self, function_name: str, trigger: Mapping[str, Any]) -> None:
        """Check the scope against the trigger; raise InvalidScope to refuse the function."""


#: The attribute of a ``@singleton`` wrapper that holds its guard (an :class:`IndexCheck`).
GUARD_ATTRIBUTE = "_singleton_guard"


def guard_of(function: object) -> IndexCheck | None:
    """The ``@singleton`` guard of ``function`` or of a function it wraps."""
    for _ in range(100):  # a chain is a few wrappers long; a cycle must not hang us
        guard = getattr(function, GUARD_ATTRIBUTE, None)
        if guard is not None:
            return guard  # type: ignore[no-any-return]
        function = getattr(function, "__wrapped__", None)
        if function is None:
            return None
    return None


def install_index_check() -> None:
    """Check every ``@singleton`` scope when azure-functions builds its function.

    ``@singleton`` sits beneath the trigger decorators, so the trigger is not known when it
    runs. The Python worker (and the local host) index an app with ``app.get_functions()``,
    which builds each function through ``FunctionBuilder.build``: that is where the trigger
    (with its route) is complete, so the check runs right after it, and a refused scope fails
    the indexing as azure-functions' own checks do (a ValueError naming the function).
    Functions without ``@singleton`` are built as before. Idempotent."""
    original = FunctionBuilder.build
    if getattr(original, "_singleton_checked", False):
        return

    @functools.wraps(original)
    def build(self: FunctionBuilder, *args: Any, **kwargs: Any) -> Function:
        function: Function = original(self, *args, **kwargs)
        guard = guard_of(function.get_user_function())
        if guard is not None:
            trigger = function.get_trigger()
            guard.indexed(
                str(function.get_function_name()),
                {} if trigger is None else dict(trigger.get_dict_repr()),
            )
        return function

    build._singleton_checked = True  # type: ignore[attr-defined]
    setattr(FunctionBuilder, "build", build)  # noqa: B010  (mypy refuses a method assignment)
