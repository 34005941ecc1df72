"""The Azure Functions HTTP adapter: translates requests and outcomes, nothing more.

Mount it in your app with :func:`starter_blueprint` (your route, function name and auth
level; optionally only some orchestrators), or write your own HTTP function that calls
:func:`handle_start_request`::

    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(starter_blueprint(route="start/{functionName}/{instanceId}",
                                             name="HttpStart"))

``POST /api/orchestrators/{functionName}/{instanceId}`` (the default route) with a JSON body
(or none) as the orchestration input. Query parameters ``conflict`` (fail | use-existing |
terminate-existing | queue-next), ``reuse`` (allow | failed-only | reject) and ``event``
(event-with-start: the body is the event's data; refused with queue-next), header
``Idempotency-Key``. Every answer but 200/202 is ``application/problem+json`` (RFC 9457):

=====  ==============================================================================
202    started: the Durable check-status response, plus ``X-Singleton-Fence``
202    queue-next, the instance is active: the input is kept as the ID's pending run; body
       ``{"id", "queued": true, "pendingRun", "runtimeStatus", "statusQueryGetUri", ...}``
200    use-existing, or the event was raised on the active instance: its check-status
       payload and ``runtimeStatus``
404    the starter was mounted with ``orchestrators=`` and the route names another one
       (nothing read, nothing started)
400    invalid instance ID / orchestrator name / option, a body that is not strict JSON (or
       nests deeper than 64, or holds an oversized number), or the host refused the start
409    an active instance holds the ID (``Location`` = its status URL); queue-next and
       another run is already pending (``next-already-queued``, ``pendingRun`` names it;
       nothing queued); the reuse policy
       refuses a finished one; another start held the ID's lease past our wait; the
       Idempotency-Key's first request is still in flight
413    the body is longer than ``SINGLETON_MAX_BODY_BYTES`` (default 1 MiB)
422    the Idempotency-Key was used for a different request
500    the app settings are missing or malformed (nothing started)
502    the Durable host failed (nothing started twice)
503    Redis unreachable or failing, ``Retry-After`` (``SINGLETON_RETRY_AFTER``) set
       (nothing started); or the lease was lost mid-start (outcome unknown, a retry
       starts at most once); or another version recorded the Idempotency-Key (a
       rolling deploy; nothing started)
504    terminate-existing: the old instance never reported Terminated (nothing started)
=====  ==============================================================================

A repeated answer to an Idempotency-Key carries ``Idempotent-Replayed: true``.
No answer carries an internal address: 5xx details are generic, the cause goes to the log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from singleton._errors import (
    ConfigurationError,
    DurableError,
    IdempotencyKeyReused,
    IdempotencyRecordUnreadable,
    IdempotentRequestInFlight,
    InvalidInstanceId,
    InvalidOrchestratorName,
    InvalidStartOption,
    LeaseLost,
    LeaseUnavailable,
    StartRejected,
    TerminateTimedOut,
)
from singleton._runtime import default_settings, default_starter
from singleton._settings import (
    DEFAULT_BUSY_RETRY_AFTER,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RETRY_AFTER,
    Settings,
)
from singleton.functions._body import BodyTooLargeError, InvalidBodyError, parse_body
from singleton.functions._problems import misconfigured, problem
from singleton.starter import (
    Event,
    Outcome,
    SingletonStarter,
    StartResult,
    validate_orchestrator_name,
)
from singleton.starter._durable import DurableClient

logger = logging.getLogger(__name__)

START_ROUTE = "orchestrators/{functionName}/{instanceId}"
START_FUNCTION_NAME = "StartSingleton"
#: The schedule of the timer that starts pending ``queue-next`` runs: every minute.
QUEUE_NEXT_TICK = "0 * * * * *"
FENCE_HEADER = "X-Singleton-Fence"
REPLAYED_HEADER = "Idempotent-Replayed"


def read_input(req: func.HttpRequest, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    """The orchestration input: the strict-JSON body, or ``None`` for an empty body.

    Raises :class:`InvalidBodyError` (400) or :class:`BodyTooLargeError` (413, longer than
    ``max_bytes``) before anything is started.
    """
    return parse_body(req.get_body(), max_bytes=max_bytes)


def invalid_body(exc: InvalidBodyError) -> func.HttpResponse:
    """413 for a body over the size limit, 400 for any other bad body."""
    if isinstance(exc, BodyTooLargeError):
        return problem(413, "body-too-large", "The request body is too large", str(exc))
    return problem(400, "invalid-request", "Invalid start request", str(exc))


@dataclasses.dataclass(frozen=True)
class _Knobs:
    """The settings an answer needs beside the starter's."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retry_after: int = DEFAULT_RETRY_AFTER
    busy_retry_after: int = DEFAULT_BUSY_RETRY_AFTER

    @classmethod
    def of(cls, settings: Settings) -> _Knobs:
        return cls(settings.max_body_bytes, settings.retry_after, settings.busy_retry_after)


def _names(orchestrators: Iterable[str] | None) -> tuple[str, ...] | None:
    """``orchestrators`` validated (``None`` allows any)."""
    if orchestrators is None:
        return None
    if isinstance(orchestrators, str):
        raise TypeError(
            f"orchestrators must be a collection of names, not one string: [{orchestrators!r}]?"
        )
    names = tuple(validate_orchestrator_name(name) for name in orchestrators)
    if not names:
        raise ValueError("orchestrators is empty: the starter could start nothing")
    return names


async def handle_start_request(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    starter: Callable[[], SingletonStarter] = default_starter,
    *,
    settings: Callable[[], Settings] | None = None,
    orchestrators: Iterable[str] | None = None,
) -> func.HttpResponse:
    """Answer one start request: start ``functionName`` as instance ``instanceId`` (the
    request's route parameters) exactly once, and translate the outcome into HTTP.

    For your own HTTP function (a route, a name, a check of your own before the start)::

        @app.route(route="jobs/{functionName}/{instanceId}", methods=["POST"])
        @app.durable_client_input(client_name="client")
        async def start_job(req: func.HttpRequest, client) -> func.HttpResponse:
            return await handle_start_request(req, client)

    Args:
        req: the request. Its route must carry ``{instanceId}``, and ``{functionName}``
            unless ``orchestrators`` names exactly one orchestrator (that one is started).
            The body (strict JSON, or empty for ``None``) is the orchestration input, or the
            event's data with ``?event=``; query ``conflict``, ``reuse``; header
            ``Idempotency-Key``.
        client: the ``durable_client_input`` binding's client.
        starter: supplies the starter; by default the process's, from the app settings.
        settings: supplies the body limit and the ``Retry-After`` values. By default the
            default starter's settings when ``starter`` is the default (read once), else
            the defaults of :class:`~singleton.Settings`.
        orchestrators: when given, only these orchestrators (case-insensitive) are started;
            any other name is a 404 problem answer, before the body is read.

    Returns the answer; every error is a ``application/problem+json`` answer (the table in
    this module's documentation), never an exception.
    """
    names = _names(orchestrators)
    orchestrator = req.route_params.get("functionName")
    if orchestrator is None and names is not None and len(names) == 1:
        orchestrator = names[0]  # a route for one orchestrator need not name it
    orchestrator = orchestrator or ""
    instance_id = req.route_params.get("instanceId", "")
    event_name = req.params.get("event")
    # The host's function names are case-insensitive, so is the list.
    if names is not None and orchestrator.casefold() not in {n.casefold() for n in names}:
        return problem(
            404,
            "unknown-orchestrator",
            "This starter does not start that orchestrator",
            f"orchestrator {orchestrator!r} is not started here; nothing was started",
        )
    knobs = _Knobs()
    try:
        if settings is not None:
            knobs = _Knobs.of(settings())
        elif starter is default_starter:
            knobs = _Knobs.of(default_settings())
        body = read_input(req, max_bytes=knobs.max_body_bytes)
        event = None if event_name is None else Event(event_name, body)
        result = await starter().start(
            client,
            orchestrator,
            instance_id,
            None if event is not None else body,
            conflict=req.params.get("conflict", "fail"),
            reuse=req.params.get("reuse", "allow"),
            event=event,
            idempotency_key=_idempotency_key(req),
        )
    except InvalidBodyError as exc:
        return invalid_body(exc)
    except (InvalidInstanceId, InvalidOrchestratorName, InvalidStartOption) as exc:
        return problem(400, "invalid-request", "Invalid start request", str(exc))
    except StartRejected as exc:
        return problem(400, "start-rejected", "The Durable host refused the start", str(exc))
    except IdempotencyKeyReused as exc:
        return problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc))
    except IdempotentRequestInFlight as exc:
        return problem(
            409,
            "idempotent-request-in-flight",
            "The first request with this Idempotency-Key is still in flight",
            str(exc),
            headers={"Retry-After": str(knobs.busy_retry_after)},
        )
    except IdempotencyRecordUnreadable as exc:
        logger.warning("Idempotency-Key record of %r unreadable: %s", instance_id, exc)
        return _unavailable(
            knobs,
            "idempotency-record-unreadable",
            "Another version recorded this Idempotency-Key",
            str(exc),
        )
    except ConfigurationError as exc:
        return misconfigured(exc)
    except LeaseUnavailable as exc:
        logger.warning("no lease for %r, nothing started: %s", instance_id, exc)
        return _unavailable(
            knobs,
            "lease-unavailable",
            "The singleton lease store is unavailable",
            "Redis could not be reached or failed; nothing was started, retry later",
        )
    except LeaseLost as exc:
        logger.error("lease on %r lost mid-start: %s", instance_id, exc)
        return _unavailable(
            knobs,
            "lease-lost",
            "The singleton lease was lost during the start",
            "the lease could not be renewed; whether the instance started is unknown: "
            "check its status, or retry (a retry starts it at most once)",
        )
    except TerminateTimedOut as exc:
        logger.error("%r did not terminate: %s", instance_id, exc)
        return problem(
            504, "terminate-timed-out", "The existing instance did not terminate", str(exc)
        )
    except DurableError as exc:
        logger.error("Durable host failed for %r: %s", instance_id, exc)
        return problem(
            502,
            "durable-failed",
            "The Durable Functions host failed",
            "the Durable host failed (the function's log says why); "
            "a retry starts the instance at most once",
        )
    return _answer(req, client, result, event_name, knobs)


def _unavailable(knobs: _Knobs, slug: str, title: str, detail: str) -> func.HttpResponse:
    """503 with the configured ``Retry-After``; ``detail`` is generic (the cause is logged)."""
    return problem(503, slug, title, detail, headers={"Retry-After": str(knobs.retry_after)})


def _idempotency_key(req: func.HttpRequest) -> str | None:
    """The Idempotency-Key header; the draft sends it as a structured-field string
    (``"abc"``), many clients bare (``abc``): both mean ``abc``."""
    header: str | None = req.headers.get("Idempotency-Key")
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _answer(
    req: func.HttpRequest,
    client: DurableClient,
    result: StartResult,
    event_name: str | None,
    knobs: _Knobs,
) -> func.HttpResponse:
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    if result.fence is not None:
        headers[FENCE_HEADER] = str(result.fence)
    outcome = result.outcome
    if outcome is Outcome.STARTED:
        response: func.HttpResponse = client.create_check_status_response(  # type: ignore[attr-defined]
            req, result.instance_id
        )
        response.headers.update(headers)
        return response
    links: dict[str, str] = client.get_client_response_links(  # type: ignore[attr-defined]
        req, result.instance_id
    )
    status_uri = links["statusQueryGetUri"]
    runtime_status = result.runtime_status.value if result.runtime_status else None
    if outcome in (Outcome.USED_EXISTING, Outcome.EVENT_RAISED):
        body: dict[str, Any] = {**links, "runtimeStatus": runtime_status}
        if outcome is Outcome.EVENT_RAISED:
            body["eventRaised"] = event_name
        return func.HttpResponse(
            json.dumps(body),
            status_code=200,
            headers={"Location": status_uri, **headers},
            mimetype="application/json",
            charset="utf-8",
        )
    headers["Location"] = status_uri
    if outcome is Outcome.ALREADY_RUNNING:
        detail = f"instance {result.instance_id!r} is {runtime_status}; nothing was started"
        if result.adopted:
            detail = (
                f"a concurrent request started instance {result.instance_id!r}; "
                "nothing was started by this one"
            )
        return problem(
            409,
            "already-running",
            "An instance with this ID is already active",
            detail,
            headers=headers,
            instanceId=result.instance_id,
            runtimeStatus=runtime_status,
            statusQueryGetUri=status_uri,
        )
    if outcome is Outcome.QUEUED:
        queued = {
            **links,
            "queued": True,
            "pendingRun": result.pending_run,
            "runtimeStatus": runtime_status,
        }
        return func.HttpResponse(
            json.dumps(queued),
            status_code=202,
            headers={"Location": status_uri, **headers},
            mimetype="application/json",
            charset="utf-8",
        )
    if outcome is Outcome.NEXT_ALREADY_QUEUED:
        return problem(
            409,
            "next-already-queued",
            "Another run of this instance ID is already queued next",
            f"instance {result.instance_id!r} is {runtime_status} and "
            + (
                f"run {result.pending_run!r} is"
                if result.pending_run
                else "a run recorded by another version is"
            )
            + " already queued to start after it; this request's input was neither started "
            "nor queued",
            headers=headers,
            instanceId=result.instance_id,
            runtimeStatus=runtime_status,
            pendingRun=result.pending_run,
            statusQueryGetUri=status_uri,
        )
    if outcome is Outcome.REUSE_REJECTED:
        return problem(
            409,
            "reuse-rejected",
            "The reuse policy forbids starting this instance ID again",
            f"instance {result.instance_id!r} ended {runtime_status} and the reuse policy "
            f"{req.params.get('reuse')!r} does not start it again; nothing was started",
            headers=headers,
            instanceId=result.instance_id,
            runtimeStatus=runtime_status,
            statusQueryGetUri=status_uri,
        )
    return problem(
        409,
        "start-in-progress",
        "Another start of this instance ID is in progress",
        f"another caller held the lease on {result.instance_id!r} past the wait; "
        "nothing was started",
        headers={**headers, "Retry-After": str(knobs.busy_retry_after)},
        instanceId=result.instance_id,
        statusQueryGetUri=status_uri,
    )


def starter_blueprint(
    *,
    route: str = START_ROUTE,
    name: str = START_FUNCTION_NAME,
    auth_level: func.AuthLevel | str = func.AuthLevel.FUNCTION,
    orchestrators: Iterable[str] | None = None,
    settings: Callable[[], Settings] | None = None,
    queue_next_tick: str | None = QUEUE_NEXT_TICK,
) -> df.Blueprint:
    """A Blueprint with one HTTP starter; mount it with ``app.register_functions(...)``.

    Args:
        route: the route (under the host's ``routePrefix``, ``api`` by default). It must
            hold ``{instanceId}``, and ``{functionName}`` unless ``orchestrators`` names
            exactly one orchestrator (then that one is started).
        name: the function's name in the app (unique per app; e.g. ``"HttpStart"``).
        auth_level: ``function`` by default (a function or host key is needed on Azure).
        orchestrators: only these may be started (case-insensitive); another name in the
            route is answered 404 ``unknown-orchestrator`` and nothing is started.
        settings: as for :func:`handle_start_request` (default: the app settings).
        queue_next_tick: the NCRONTAB schedule of the timer the starter brings for
            ``conflict=queue-next`` (``<name>PendingRuns``: it starts the pending runs whose
            instance finished, so a pending run waits at most one tick past that when no
            other start request comes; every minute by default). ``None``: no timer; then
            run :meth:`~singleton.SingletonStarter.start_pending_runs` yourself, or mount
            the watchdog (``watchdog_blueprint``), whose tick starts them too.

    Two starters (different names and routes) can be mounted in one app. Raises
    ``ValueError`` or :class:`~singleton.InvalidOrchestratorName` at import time for a
    route or ``orchestrators`` that could not work.
    """
    return _starter(route, name, auth_level, orchestrators, settings, queue_next_tick)[0]


def _has_parameter(route: str, name: str) -> bool:
    """Whether the route template declares ``{name}`` (with or without a constraint)."""
    return re.search(r"\{" + name + r"[:=?}]", route) is not None


def _starter(
    route: str,
    name: str,
    auth_level: func.AuthLevel | str,
    orchestrators: Iterable[str] | None,
    settings: Callable[[], Settings] | None,
    queue_next_tick: str | None,
) -> tuple[df.Blueprint, Any]:
    """The blueprint and its function builder (the module's default ``start_singleton``)."""
    names = _names(orchestrators)  # refuse a bad list now, not per request
    if not _has_parameter(route, "instanceId"):
        raise ValueError(f"the starter's route must hold {{instanceId}}: {route!r}")
    if not _has_parameter(route, "functionName") and (names is None or len(names) != 1):
        raise ValueError(
            f"the starter's route {route!r} has no {{functionName}}: "
            "name the one orchestrator it starts with orchestrators=[...]"
        )
    if not name or not name.isidentifier():
        raise ValueError(f"the starter's function name must be an identifier, got {name!r}")
    blueprint = df.Blueprint()

    @blueprint.function_name(name)
    @blueprint.route(route=route, methods=[func.HttpMethod.POST], auth_level=auth_level)
    @blueprint.durable_client_input(client_name="client")
    async def start_singleton(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        """HTTP starter: start the orchestration as a singleton."""
        return await handle_start_request(req, client, settings=settings, orchestrators=names)

    if queue_next_tick is not None:

        @blueprint.function_name(f"{name}PendingRuns")
        @blueprint.timer_trigger(schedule=queue_next_tick, arg_name="timer")
        @blueprint.durable_client_input(client_name="client")
        async def start_pending_runs(
            timer: func.TimerRequest, client: df.DurableOrchestrationClient
        ) -> None:
            """queue-next: start the pending runs whose instance has finished."""
            started = await default_starter().start_pending_runs(client)
            if started:
                logger.info("started %d pending queue-next run(s)", len(started))

    return blueprint, start_singleton


#: The default starter: ``StartSingleton`` at ``orchestrators/{functionName}/{instanceId}``,
#: function auth level, any orchestrator (``starter_blueprint()``'s result).
blueprint, start_singleton = _starter(
    START_ROUTE, START_FUNCTION_NAME, func.AuthLevel.FUNCTION, None, None, QUEUE_NEXT_TICK
)
