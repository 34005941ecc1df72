"""The Azure Functions HTTP adapter: translates requests and outcomes, nothing more.

``POST /api/orchestrators/{functionName}/{instanceId}`` with a JSON body (or none) as the
orchestration input. Every answer but 202 is ``application/problem+json`` (RFC 9457):

=====  ==============================================================================
202    started: the Durable check-status response, plus ``X-Singleton-Fence``
400    invalid instance ID / orchestrator name, a body that is not strict JSON (or nests
       deeper than 64, or holds an oversized number), or the host refused the start
413    the body is longer than ``SINGLETON_MAX_BODY_BYTES`` (default 1 MiB)
409    an active instance holds the ID (``Location`` = its status URL), or another
       start held the ID's lease past our wait
500    the app settings are missing or malformed (nothing started)
502    the Durable host failed reading the status or starting (nothing started twice)
503    Redis unreachable or failing, ``Retry-After`` set (nothing started); or the lease
       was lost mid-start (outcome unknown, a retry starts at most once)
=====  ==============================================================================

No answer carries an internal address: 5xx details are generic, the cause goes to the log.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from singleton._errors import (
    ConfigurationError,
    DurableError,
    InvalidInstanceId,
    InvalidOrchestratorName,
    LeaseLost,
    LeaseUnavailable,
    StartRejected,
)
from singleton._runtime import default_starter
from singleton.functions._body import (
    BodyTooLargeError,
    InvalidBodyError,
    max_body_bytes,
    parse_body,
)
from singleton.starter._durable import DurableClient
from singleton.starter._starter import Outcome, SingletonStarter, StartResult

logger = logging.getLogger(__name__)

START_ROUTE = "orchestrators/{functionName}/{instanceId}"
FENCE_HEADER = "X-Singleton-Fence"
RETRY_AFTER_SECONDS = 5
_PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> func.HttpResponse:
    """An RFC 9457 problem response; ``extensions`` become extra members."""
    body = {
        "type": f"urn:durable-singleton:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        headers=headers,
        mimetype=_PROBLEM_JSON,
        charset="utf-8",
    )


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


_SETTING_NAME = re.compile(r"\b(?:REDIS|SINGLETON)_[A-Z_]+\b")


def misconfigured(exc: ConfigurationError) -> func.HttpResponse:
    """500 naming the settings at fault, never their values (a URL may name a host)."""
    logger.error("singleton starter is misconfigured: %s", exc)
    settings = sorted(set(_SETTING_NAME.findall(str(exc))))
    named = f"app setting {', '.join(settings)}" if settings else "the app settings"
    return problem(
        500,
        "misconfigured",
        "The singleton starter is not configured",
        f"{named}: missing or malformed (the function's log says why); nothing was started",
    )


async def handle_start_request(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    starter: Callable[[], SingletonStarter] = default_starter,
) -> func.HttpResponse:
    """Answer one start request; ``starter`` supplies the process's starter."""
    orchestrator = req.route_params.get("functionName", "")
    instance_id = req.route_params.get("instanceId", "")
    try:
        client_input = read_input(req)
        result = await starter().start(client, orchestrator, instance_id, client_input)
    except InvalidBodyError as exc:
        return invalid_body(exc)
    except (InvalidInstanceId, InvalidOrchestratorName) as exc:
        return problem(400, "invalid-request", "Invalid start request", str(exc))
    except StartRejected as exc:
        return problem(400, "start-rejected", "The Durable host refused the start", str(exc))
    except ConfigurationError as exc:
        return misconfigured(exc)
    except LeaseUnavailable as exc:
        logger.warning("no lease for %r, nothing started: %s", instance_id, exc)
        return problem(
            503,
            "lease-unavailable",
            "The singleton lease store is unavailable",
            "Redis could not be reached or failed; nothing was started, retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except LeaseLost as exc:
        logger.error("lease on %r lost mid-start: %s", instance_id, exc)
        return problem(
            503,
            "lease-lost",
            "The singleton lease was lost during the start",
            "the lease could not be renewed; whether the instance started is unknown: "
            "check its status, or retry (a retry starts it at most once)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except DurableError as exc:
        logger.error("Durable host failed for %r: %s", instance_id, exc)
        return problem(
            502,
            "durable-failed",
            "The Durable Functions host failed",
            "reading the status or starting failed (the function's log says why); "
            "a retry starts the instance at most once",
        )
    return _answer(req, client, result)


def _answer(req: func.HttpRequest, client: DurableClient, result: StartResult) -> func.HttpResponse:
    if result.outcome is Outcome.STARTED:
        response: func.HttpResponse = client.create_check_status_response(  # type: ignore[attr-defined]
            req, result.instance_id
        )
        response.headers[FENCE_HEADER] = str(result.fence)
        return response
    status_uri: str = client.get_client_response_links(  # type: ignore[attr-defined]
        req, result.instance_id
    )["statusQueryGetUri"]
    if result.outcome is Outcome.ALREADY_RUNNING:
        runtime_status = result.runtime_status.value if result.runtime_status else None
        return problem(
            409,
            "already-running",
            "An instance with this ID is already active",
            f"instance {result.instance_id!r} is {runtime_status}; nothing was started",
            headers={"Location": status_uri},
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
        headers={"Location": status_uri, "Retry-After": "1"},
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
