"""``@singleton``: one invocation per scope at a time, for any Azure Functions Python function.

    @app.route(route="reports/{customerId}", methods=["POST"])
    @singleton("{customerId}", on_busy="fail")
    async def build_report(req: func.HttpRequest) -> func.HttpResponse:
        ...  # never runs twice at once for one customerId, across every process sharing Redis

What WebJobs' ``[Singleton]`` is for C#: a Redis lease named after the function and the scope
is taken before the body runs, renewed while it runs (``Leases.hold``) and released after it.

Placement: directly above ``def``, beneath the trigger and binding decorators. The returned
function has the body's signature and annotations (``functools.wraps``), so azure-functions
indexes it with the same bindings and the worker binds the same parameters; it is always a
coroutine function, so the lease's Redis calls run on the worker's event loop. A sync body
runs in a thread meanwhile (the loop's default executor) and never blocks the loop.

Busy scopes (``on_busy``):

=======  ==========================================================================
wait     (default) wait up to ``wait`` seconds, then as ``fail``. Without ``wait=``:
         on queue and Service Bus triggers the function's own timeout less a margin
         (see :mod:`._host`), elsewhere ``SINGLETON_LEASE_WAIT``
fail     HTTP: 409 problem+json with ``Retry-After``; other triggers: raise
         ``LeaseBusy``, so the host retries the message under its own policy
skip     HTTP: 409 at once; other triggers: return None without running (logged)
=======  ==========================================================================

Fail closed: a body never runs without its lease. Redis unreachable: HTTP 503 (``Retry-After``),
other triggers raise ``LeaseUnavailable``. A scope the trigger's data cannot fill: HTTP 400,
other triggers raise ``InvalidScope``. A lease lost while the body runs (renewal refused): an
async body is cancelled; a sync body cannot be stopped, so it is waited for and its result
discarded; either way the invocation fails with ``LeaseLost`` (HTTP: 503). So an async body
never runs past its lease; a sync body may overlap the next holder by at most what remained
of its run when the lease was lost: guard its writes with ``current_lease().fence``. A
cancellation from outside (the host gave up) stays a ``CancelledError``.

A scope placeholder that is a near miss of a route or blob-path parameter (``{custmerId}``
beside a route ``reports/{customerId}``) refuses the function when the app is indexed:
``InvalidScope: ... did you mean {customerId}?``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, Literal, ParamSpec, Protocol, TypeAlias, TypeVar, overload

import azure.functions as func
from azure.functions.decorators.function_app import FunctionBuilder

from singleton._errors import (
    ConfigurationError,
    InvalidScope,
    LeaseBusy,
    LeaseLost,
    LeaseUnavailable,
)
from singleton._runtime import default_leases
from singleton._settings import function_limit
from singleton.functions._host import message_wait
from singleton.functions._problems import misconfigured, problem, retry_later
from singleton.functions._scope import CallableScope, Template, near_miss
from singleton.functions._trigger import (
    GUARD_ATTRIBUTE,
    Trigger,
    TriggerKind,
    declared_names,
    declared_trigger,
    find_trigger,
    install_index_check,
    trigger_lookup,
)
from singleton.lease import Lease, Leases
from singleton.lease._policy import Duration, seconds

__all__ = ["OnBusy", "current_lease", "current_lease_or_none", "singleton"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
OnBusy: TypeAlias = Literal["wait", "fail", "skip"]
_ON_BUSY = ("wait", "fail", "skip")

#: The lease the running ``@singleton`` body holds; copied into a sync body's thread.
_current_lease: ContextVar[Lease | None] = ContextVar("singleton_current_lease", default=None)

install_index_check()


def current_lease() -> Lease:
    """The lease held for the running ``@singleton`` function: ``.fence`` for fenced writes,
    ``.name``. Inside a body (async, or a sync body's thread) it is always there, so
    ``current_lease().fence`` type-checks as it reads; outside one it raises RuntimeError
    (:func:`current_lease_or_none` answers None instead)."""
    lease = _current_lease.get()
    if lease is None:
        raise RuntimeError(
            "current_lease() is called outside a @singleton function's body "
            "(use current_lease_or_none() where there may be none)"
        )
    return lease


def current_lease_or_none() -> Lease | None:
    """The lease held for the running ``@singleton`` function, or None outside one (what
    ``current_lease()`` answered in 0.1.0)."""
    return _current_lease.get()


class Guarding(Protocol):
    """``@singleton(...)`` with ``on_busy`` "wait" or "fail": the function's parameters and
    return type are kept; the result is always a coroutine function."""

    @overload
    def __call__(  # an async body: its awaitable is unwrapped
        self, function: Callable[P, Awaitable[R]], /
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, function: Callable[P, R], /) -> Callable[P, Coroutine[Any, Any, R]]: ...


class Skipping(Protocol):
    """``@singleton(..., on_busy="skip")``: as :class:`Guarding`, but a skipped invocation of
    a non-HTTP trigger returns None."""

    @overload
    def __call__(  # an async body: its awaitable is unwrapped
        self, function: Callable[P, Awaitable[R]], /
    ) -> Callable[P, Coroutine[Any, Any, R | None]]: ...

    @overload
    def __call__(
        self, function: Callable[P, R], /
    ) -> Callable[P, Coroutine[Any, Any, R | None]]: ...


@overload
def singleton(
    scope: str | Callable[..., object] = "",
    *,
    on_busy: Literal["wait", "fail"] = "wait",
    wait: Duration | None = None,
    name: str | None = None,
    retry_after: int = 1,
    leases: Callable[[], Leases] = default_leases,
    limit: int = 1,
) -> Guarding: ...


@overload
def singleton(
    scope: str | Callable[..., object] = "",
    *,
    on_busy: OnBusy,
    wait: Duration | None = None,
    name: str | None = None,
    retry_after: int = 1,
    leases: Callable[[], Leases] = default_leases,
    limit: int = 1,
) -> Skipping: ...


def singleton(
    scope: str | Callable[..., object] = "",
    *,
    on_busy: OnBusy = "wait",
    wait: Duration | None = None,
    name: str | None = None,
    retry_after: int = 1,
    leases: Callable[[], Leases] = default_leases,
    limit: int = 1,
) -> Guarding | Skipping:
    """One invocation per ``scope`` at a time (``limit`` at a time), across every process
    sharing the Redis.

    scope:       a binding expression (``"{customerId}"``, filled from the trigger's data), ``""``
                 for one scope for the whole function, or a callable given the function's
                 arguments it names (``lambda msg: msg.get_json()["customerId"]``).
    on_busy:     ``"wait"``, ``"fail"`` or ``"skip"`` (see the module's docstring).
    wait:        with ``"wait"``: seconds (or a timedelta) to wait for a busy scope; default
                 the function's timeout less a margin on queue and Service Bus triggers,
                 the lease policy's (``SINGLETON_LEASE_WAIT``) on the others.
    name:        the lease's name for this function (default ``module.qualname`` of the body);
                 functions given the same name share their scopes.
    retry_after: the ``Retry-After`` seconds of an HTTP 409 from ``"wait"``/``"fail"``.
    leases:      where leases come from (default: the process's, from the app settings).
    limit:       how many invocations of one scope may run at once (default 1); the app
                 setting ``SINGLETON_LIMIT_<FUNCTION NAME>`` overrides it (read at the first
                 invocation). Waiters are served in arrival order at Redis.
    """
    if on_busy not in _ON_BUSY:
        raise ValueError(f"on_busy must be one of {_ON_BUSY}, not {on_busy!r}")
    wait_s: float | None = None
    if wait is not None:
        if on_busy != "wait":
            raise ValueError(f"wait= applies to on_busy='wait' only, not {on_busy!r}")
        wait_s = seconds(wait, what="wait")
        if wait_s < 0:
            raise ValueError(f"wait must be >= 0, not {wait!r}")
    if name is not None and (not isinstance(name, str) or not name or ":" in name):
        raise ValueError(f"name must be a non-empty str without ':', not {name!r}")
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
        raise ValueError(f"retry_after must be whole seconds >= 0, not {retry_after!r}")
    if not isinstance(scope, str) and not callable(scope):
        raise TypeError(f"scope must be a str or a callable, not {scope!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1, not {limit!r}")
    scope_of = _scope_factory(scope)

    def decorate(function: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
        if isinstance(function, FunctionBuilder):
            raise TypeError(
                "@singleton must be placed directly above def, beneath the trigger and "
                "binding decorators"
            )
        if not inspect.isfunction(function):
            raise TypeError(f"@singleton decorates a function, not {function!r}")
        guard = _Guard(
            function,
            scope=scope_of(function),
            on_busy=on_busy,
            wait=0.0 if on_busy != "wait" else wait_s,
            name=name or f"{function.__module__}.{function.__qualname__}",
            retry_after=retry_after,
            leases=leases,
            limit=limit,
        )

        @functools.wraps(function)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            return await guard.invoke(args, kwargs)

        setattr(guarded, GUARD_ATTRIBUTE, guard)
        guard.wrapper = guarded
        return guarded

    return decorate


def _scope_factory(
    scope: str | Callable[..., object],
) -> Callable[[Callable[..., Any]], Template | CallableScope]:
    """Parse a template now (a bad one fails before any decoration); a callable is checked
    against the decorated function's parameters once that is known."""
    if isinstance(scope, str):
        template = Template.parse(scope)
        return lambda function: template
    return lambda function: CallableScope(scope, inspect.signature(function).parameters)


_UNKNOWN: Any = object()


class _Guard:
    """The lease around one decorated function's invocations."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        scope: Template | CallableScope,
        on_busy: OnBusy,
        wait: float | None,
        name: str,
        retry_after: int,
        leases: Callable[[], Leases],
        limit: int = 1,
    ) -> None:
        self._function = function
        self._code_limit = limit
        self._limit: int | None = None  # with its app setting applied, at the first invocation
        self._function_name = function.__name__  # the host's name for it, once indexed
        self._signature = inspect.signature(function)
        parameters = self._signature.parameters
        #: The parameters' names, in order, for binding an invocation without
        #: ``Signature.bind`` when every parameter is passed (as the worker passes them).
        self._names = tuple(parameters)
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self._by_keyword = all(p.kind in plain for p in parameters.values())
        self._by_position = all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters.values()
        )
        self._is_async = inspect.iscoroutinefunction(function)
        self._scope = scope
        self._on_busy = on_busy
        self._wait = wait
        self._message_waits: dict[bool, float] = {}  # by "is it Service Bus"
        self._name = name
        self._retry_after = retry_after
        self._leases = leases
        #: the trigger binding azure-functions recorded (None: not found), once known
        self._trigger: Mapping[str, Any] | None = _UNKNOWN
        #: why the scope was refused at indexing (then no invocation ever runs)
        self._refused: str | None = None
        self._first_call_checked = False
        self.wrapper: Callable[..., Any] = function

    def indexed(self, function_name: str, trigger: Mapping[str, Any]) -> None:
        """The app is being indexed: refuse a scope placeholder that is a near miss of a name
        the trigger declares, or that the trigger can never fill (InvalidScope)."""
        self._trigger = trigger
        self._function_name = function_name
        refusal = self._refusal(trigger)
        if refusal is not None:
            self._refused = f"function {function_name!r}: {refusal}"
            raise InvalidScope(self._refused)

    def _refusal(self, trigger: Mapping[str, Any]) -> str | None:
        if not isinstance(self._scope, Template) or not self._scope.names:
            return None
        declared = declared_names(trigger)
        if declared is None:
            return None
        for placeholder in self._scope.names:
            if any(placeholder.casefold() == known.casefold() for known in declared.names):
                continue
            closest = near_miss(placeholder, declared.names)
            if closest is not None:
                return (
                    f"@singleton scope {self._scope.text!r}: {{{placeholder}}} is not a "
                    f"parameter of {declared.where}; did you mean {{{closest}}}?"
                )
            if not declared.open:
                return (
                    f"@singleton scope {self._scope.text!r}: {{{placeholder}}} is not a "
                    f"parameter of {declared.where}, and nothing else can fill it"
                )
        return None

    def _bind(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], tuple[Any, ...], Mapping[str, Any]]:
        """The invocation's arguments by name (in the signature's order), and the positional
        and keyword arguments to call the body with: what ``Signature.bind`` gives, without
        its cost (~10 µs) when every parameter is passed by keyword (as the worker passes
        them) or by position; any other call is bound by ``Signature.bind`` (TypeError for
        a call that does not fit)."""
        names = self._names
        if not args and self._by_keyword and len(kwargs) == len(names):
            try:
                return {name: kwargs[name] for name in names}, args, kwargs
            except KeyError:
                pass
        elif not kwargs and self._by_position and len(args) == len(names):
            return dict(zip(names, args, strict=True)), args, kwargs
        bound = self._signature.bind(*args, **kwargs)
        return bound.arguments, bound.args, bound.kwargs

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        arguments, args, kwargs = self._bind(args, kwargs)
        trigger = find_trigger(arguments)
        if self._trigger is _UNKNOWN and not self._first_call_checked:
            # Not indexed (called directly): check it now, once, if the app is in its module
            # (a scan of every module would hold up the event loop).
            self._first_call_checked = True
            declared = declared_trigger(self.wrapper, everywhere=False)
            if declared is not None:
                self._trigger = declared
                self._refused = self._refusal(declared)
        if self._refused is not None:
            return self._refuse(trigger)
        try:
            scope = self._resolve(trigger, arguments)
        except InvalidScope as exc:
            logger.warning("%s: not run, its scope cannot be resolved: %s", self._name, exc)
            if trigger.kind is TriggerKind.HTTP:
                return problem(
                    400, "invalid-scope", "The singleton scope cannot be resolved", str(exc)
                )
            raise
        entered = False
        try:
            async with self._leases().hold(
                f"function:{self._name}:{scope}",
                wait=self._wait_for(trigger),
                limit=self._limit or self._resolve_limit(),
            ) as lease:
                entered = True
                token = _current_lease.set(lease)
                try:
                    return await self._run(args, kwargs)
                finally:
                    _current_lease.reset(token)
        except LeaseBusy:
            if entered:
                raise  # the body's own
            return self._busy(trigger, scope)
        except (LeaseUnavailable, ConfigurationError) as exc:
            if entered:
                raise
            return self._unguarded(trigger, scope, exc)
        except LeaseLost as exc:
            if trigger.kind is not TriggerKind.HTTP:
                raise
            logger.error("%s: lease for scope %r lost while it ran: %s", self._name, scope, exc)
            return retry_later(
                "lease-lost",
                "The singleton lease was lost while the function ran",
                "the lease could not be renewed; the function's work may not have been "
                "exclusive and its result was discarded",
                scope=scope,
            )

    def _refuse(self, trigger: Trigger) -> func.HttpResponse:
        logger.error("%s: not run, its scope was refused: %s", self._name, self._refused)
        if trigger.kind is not TriggerKind.HTTP:
            raise InvalidScope(str(self._refused))
        return problem(
            500,
            "misconfigured-scope",
            "The singleton scope of this function is misconfigured",
            "the function's @singleton scope names a parameter its trigger does not declare "
            "(the function's log says which); the function did not run",
        )

    def _resolve_limit(self) -> int:
        """The limit: ``SINGLETON_LIMIT_<function>`` if set, else the decorator's (once)."""
        self._limit = function_limit(os.environ, self._function_name, self._code_limit)
        return self._limit

    def _wait_for(self, trigger: Trigger) -> float | None:
        """The decorator's wait, else the trigger's (queue, Service Bus: the function's
        timeout, and the message lock's renewal, less a margin), else None: the policy's."""
        if self._wait is not None:
            return self._wait
        if trigger.kind is TriggerKind.QUEUE:
            service_bus = isinstance(trigger.value, func.ServiceBusMessage)
            wait = self._message_waits.get(service_bus)
            if wait is None:
                wait = message_wait(os.environ, service_bus=service_bus)
                self._message_waits[service_bus] = wait
                logger.debug("%s: a busy scope is waited for %.1f s", self._name, wait)
            return wait
        return None

    def _resolve(self, trigger: Trigger, arguments: Mapping[str, Any]) -> str:
        if isinstance(self._scope, CallableScope):
            return self._scope.resolve(arguments)
        template = self._scope
        if not template.names:
            return template.text
        if trigger.kind is TriggerKind.HTTP:
            # The common case, without building the trigger's lookups: every placeholder is
            # a route parameter (looked in first, exact names first), each non-empty text.
            route = trigger.value.route_params
            parts = [template.literals[0]]
            for name, literal in zip(template.names, template.literals[1:], strict=True):
                value = route.get(name)
                if not value or not isinstance(value, str):
                    break
                parts += (value, literal)
            else:
                return "".join(parts)
        return template.render(trigger_lookup(trigger, self._declared_blob_path))

    def _declared_trigger(self) -> Mapping[str, Any] | None:
        if self._trigger is _UNKNOWN:
            self._trigger = declared_trigger(self.wrapper)
            logger.debug("%s: declared trigger %r", self._name, self._trigger)
        return self._trigger

    def _declared_blob_path(self) -> str | None:
        binding = self._declared_trigger()
        path = None if binding is None else binding.get("path")
        return path if isinstance(path, str) else None

    async def _run(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if self._is_async:
            return await self._function(*args, **kwargs)
        return await _run_in_thread(self._function, args, kwargs, self._name)

    def _busy(self, trigger: Trigger, scope: str) -> func.HttpResponse | None:
        if trigger.kind is TriggerKind.HTTP:
            skipping = self._on_busy == "skip"
            return problem(
                409,
                "scope-busy",
                "Another invocation holds this scope",
                f"{self._name} is running for scope {scope!r}; this request was not run",
                headers=None if skipping else {"Retry-After": str(self._retry_after)},
                scope=scope,
            )
        if self._on_busy == "skip":
            logger.info("%s: scope %r is busy; skipped this invocation", self._name, scope)
            return None
        raise LeaseBusy(
            f"{self._name}: scope {scope!r} is held by another invocation; not run "
            "(the host retries it under its own policy)"
        )

    def _unguarded(
        self, trigger: Trigger, scope: str, exc: LeaseUnavailable | ConfigurationError
    ) -> func.HttpResponse:
        if trigger.kind is not TriggerKind.HTTP:
            raise exc
        if isinstance(exc, ConfigurationError):
            return misconfigured(
                exc,
                what=f"@singleton lease of {self._name}",
                consequence="the function did not run",
            )
        logger.warning("%s: no lease for scope %r, not run: %s", self._name, scope, exc)
        return retry_later(
            "lease-unavailable",
            "The singleton lease store is unavailable",
            "Redis could not be reached or failed; the function did not run, retry later",
            scope=scope,
        )


async def _run_in_thread(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str
) -> Any:
    """Run a sync body in the loop's default executor, with the caller's context variables.

    A thread cannot be cancelled: if this task is (the lease was lost, or the host gave up),
    the body is waited for before the cancellation goes on, so the hold never ends while the
    body still runs. A second cancellation meanwhile is the one raised, with the first as its
    ``__context__``: the hold tells its own (lease lost) from one from outside by counting
    the cancellations in that chain, and the keeper cancels only once, so an outside
    cancellation followed by a lost lease stays a CancelledError (issue 14), as does a lost
    lease followed by an outside cancellation."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, _call_in_thread, function, args, kwargs)
    future = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError as first:
        logger.error("%s: cancelled while its sync body runs; waiting for it to end", name)
        latest = first
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError as again:  # raised while handling the first:
                latest = again  # its __context__ is the first, so the hold counts two
        if not future.cancelled() and future.exception() is not None:
            logger.warning("%s: its sync body then failed: %r", name, future.exception())
        if latest is first:
            raise
        raise latest from first


def _call_in_thread(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Any:
    # As the worker does for sync functions: tag this thread with the invocation, so the
    # body's logs are correlated with it (possible when the function takes a Context).
    for value in (*args, *kwargs.values()):
        if isinstance(value, func.Context):
            value.thread_local_storage.invocation_id = value.invocation_id  # type: ignore[attr-defined]
    return function(*args, **kwargs)
