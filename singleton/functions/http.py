"""The Azure Functions HTTP adapter: translates requests and outcomes, nothing more.

``POST /api/orchestrators/{functionName}/{instanceId}`` with a JSON body (or none) as the
orchestration input. Query parameters ``conflict`` (fail | use-existing | terminate-existing),
``reuse`` (allow | failed-only | reject) and ``event`` (event-with-start: the body is the
event's data), header ``Idempotency-Key``. Every answer but 200/202 is
``application/problem+json`` (RFC 9457):

=====  ==============================================================================
202    started: the Durable check-status response, plus ``X-Singleton-Fence``
200    use-existing, or the event was raised on the active instance: its check-status
       payload and ``runtimeStatus``
400    invalid instance ID / orchestrator name / option, a body that is not strict JSON (or
       nests deeper than 64, or holds an oversized number), or the host refused the start
409    an active instance holds the ID (``Location`` = its status URL); the reuse policy
       refuses a finished one; another start held the ID's lease past our wait; the
       Idempotency-Key's first request is still in flight
413    the body is longer than ``SINGLETON_MAX_BODY_BYTES`` (default 1 MiB)
422    the Idempotency-Key was used for a different request
500    the app settings are missing or malformed (nothing started)
502    the Durable host failed (nothing started twice)
503    Redis unreachable or failing, ``Retry-After`` set (nothing started); or the lease
       was lost mid-start (outcome unknown, a retry starts at most once)
504    terminate-existing: the old instance never reported Terminated (nothing started)
=====  ==============================================================================

A repeated answer to an Idempotency-Key carries ``Idempotent-Replayed: true``.
No answer carries an internal address: 5xx details are generic, the cause goes to the log.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from singleton._errors import (
    ConfigurationError,
    DurableError,
    IdempotencyKeyReused,
    IdempotentRequestInFlight,
    InvalidInstanceId,
    InvalidOrchestratorName,
    InvalidStartOption,
    LeaseLost,
    LeaseUnavailable,
    StartRejected,
    TerminateTimedOut,
)
from singleton._runtime import default_starter
from singleton.functions._body import (
    BodyTooLargeError,
    InvalidBodyError,
    max_body_bytes,
    parse_body,
)
from singleton.functions._problems import misconfigured, problem, retry_later
from singleton.starter import Event, Outcome, SingletonStarter, StartResult
from singleton.starter._durable import DurableClient

logger = logging.getLogger(__name__)

START_ROUTE = "orchestrators/{functionName}/{instanceId}"
FENCE_HEADER = "X-Singleton-Fence"
REPLAYED_HEADER = "Idempotent-Replayed"


def read_input(req: func.HttpRequest) -> Any:
    """The orchestration input: the strict-JSON body, or ``None`` for an empty body.

    Raises :class:`InvalidBodyError` (400) or :class:`BodyTooLargeError` (413) before anything
    is started; ConfigurationError (500) when ``SINGLETON_MAX_BODY_BYTES`` is malformed.
    """
    return parse_body(req.get_body(), max_bytes=max_body_bytes(os.environ))


def invalid_body(exc: InvalidBodyError) -> func.HttpResponse:
    """413 for a body over the size limit, 400 for any other bad body."""
    if isinstance(exc, BodyTooLargeError):
        return problem(413, "body-too-large", "The request body is too large", str(exc))
    return problem(400, "invalid-request", "Invalid start request", str(exc))


async def handle_start_request(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    starter: Callable[[], SingletonStarter] = default_starter,
) -> func.HttpResponse:
    """Answer one start request; ``starter`` supplies the process's starter."""
    orchestrator = req.route_params.get("functionName", "")
    instance_id = req.route_params.get("instanceId", "")
    event_name = req.params.get("event")
    try:
        body = read_input(req)
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
            headers={"Retry-After": "1"},
        )
    except ConfigurationError as exc:
        return misconfigured(exc)
    except LeaseUnavailable as exc:
        logger.warning("no lease for %r, nothing started: %s", instance_id, exc)
        return retry_later(
            "lease-unavailable",
            "The singleton lease store is unavailable",
            "Redis could not be reached or failed; nothing was started, retry later",
        )
    except LeaseLost as exc:
        logger.error("lease on %r lost mid-start: %s", instance_id, exc)
        return retry_later(
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
    return _answer(req, client, result, event_name)


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
    req: func.HttpRequest, client: DurableClient, result: StartResult, event_name: str | None
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
        headers={**headers, "Retry-After": "1"},
        instanceId=result.instance_id,
        statusQueryGetUri=status_uri,
    )


blueprint = df.Blueprint()


@blueprint.function_name("StartSingleton")
@blueprint.route(
    route=START_ROUTE, methods=[func.HttpMethod.POST], auth_level=func.AuthLevel.FUNCTION
)
@blueprint.durable_client_input(client_name="client")
async def start_singleton(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """HTTP starter: start the orchestration as a singleton."""
    return await handle_start_request(req, client)
