"""The watchdog's Functions adapters: a timer that runs one tick, and an admin ``unwatch``.

``watchdog_blueprint(schedule=...)`` gives a ``df.Blueprint`` with

* ``SingletonWatchdog``: a timer trigger (NCRONTAB ``schedule``, default every minute) with a
  Durable client; each firing runs :meth:`Watchdog.tick` for the client's task hub;
* ``SingletonUnwatch``: ``DELETE /api/singleton/watchdog/{instanceId}``, auth level ``admin``:
  200 ``{"instanceId", "unwatched": true, "terminated": bool}``; 404 when the ID was not
  watched; ``?terminate=true`` also terminates the instance, *after* unwatching it, so the
  watchdog does not undo the deliberate stop. Redis failing, or the ID's lease busy past the
  wait, is a 503, a missing setting a 500, a bad ID or flag a 400, a refused terminate a 502
  (``application/problem+json``).

* ``SingletonWatched``: ``GET /api/singleton/watchdog``, auth level ``admin``: 200 ``{"taskHub",
  "count", "watched": [{"instanceId", "orchestrator", "stuckAfterSeconds"}]}``, sorted by ID
  (inputs left out); Redis failing is a 503, a missing setting a 500.

The adapters only translate: the rules live in ``singleton/starter/_watchdog.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func

from singleton._errors import (
    ConfigurationError,
    InvalidInstanceId,
    LeaseBusy,
    LeaseUnavailable,
)
from singleton._runtime import default_starter
from singleton.functions._problems import (
    configured_retry_after,
    lease_store_unavailable,
    misconfigured,
    problem,
    retry_later,
)
from singleton.starter import PassOutcome, PassResult, SingletonStarter
from singleton.starter._durable import DurableClient, hub_name
from singleton.starter._names import validate_instance_id

logger = logging.getLogger(__name__)

#: Every minute, at second 0.
DEFAULT_SCHEDULE = "0 * * * * *"
UNWATCH_ROUTE = "singleton/watchdog/{instanceId}"
WATCHED_ROUTE = "singleton/watchdog"
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0", ""})


async def run_tick(
    client: DurableClient, starter: Callable[[], SingletonStarter] = default_starter
) -> list[PassResult]:
    """One watchdog tick; logs a summary of what each pass did.

    A missing setting or Redis failing is logged and raised, so the host records the run as
    failed; the next firing tries again.
    """
    try:
        results = await starter().watchdog.tick(client)
        # The same timer serves queue-next: pending runs whose instance finished start now.
        started = await starter().start_pending_runs(client)
        if started:
            logger.info("watchdog tick started %d pending queue-next run(s)", len(started))
    except (ConfigurationError, LeaseUnavailable) as exc:
        logger.error("singleton watchdog tick failed, nothing restarted: %s", exc)
        raise
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    logger.info("watchdog tick over %d IDs: %s", len(results), counts)
    return results


async def handle_watched_request(
    req: func.HttpRequest,
    client: DurableClient,
    starter: Callable[[], SingletonStarter] = default_starter,
) -> func.HttpResponse:
    """GET: the IDs the watchdog keeps running in the client's task hub, sorted (their
    inputs are left out: they are the callers' data)."""
    try:
        watched = await starter().watchdog.watched(hub_name(client))
    except ConfigurationError as exc:
        return misconfigured(exc, what="singleton watchdog", consequence="nothing listed")
    except LeaseUnavailable as exc:
        logger.warning("singleton watchdog listing: %s", exc)
        return lease_store_unavailable(configured_retry_after(starter is default_starter))
    entries = [
        {
            "instanceId": instance_id,
            "orchestrator": registration.orchestrator,
            "stuckAfterSeconds": registration.stuck_after,
        }
        for instance_id, registration in sorted(watched.items())
    ]
    return func.HttpResponse(
        json.dumps({"taskHub": hub_name(client), "count": len(entries), "watched": entries}),
        mimetype="application/json",
    )


async def handle_unwatch_request(
    req: func.HttpRequest,
    client: DurableClient,
    starter: Callable[[], SingletonStarter] = default_starter,
) -> func.HttpResponse:
    """DELETE: stop watching the route's instance ID (``?terminate=true``: and terminate it)."""
    instance_id = req.route_params.get("instanceId", "")
    flag = req.params.get("terminate", "").strip().lower()
    if flag not in _TRUE | _FALSE:
        return problem(
            400, "invalid-request", "Invalid unwatch request", "terminate must be true or false"
        )
    try:
        validate_instance_id(instance_id)
    except InvalidInstanceId as exc:
        return problem(400, "invalid-instance-id", "Invalid instance ID", str(exc))
    try:
        unwatched = await starter().unwatch(client, instance_id)
    except ConfigurationError as exc:
        return misconfigured(exc, what="singleton watchdog", consequence="nothing changed")
    except LeaseUnavailable as exc:
        logger.warning("singleton unwatch: %s", exc)
        return lease_store_unavailable(configured_retry_after(starter is default_starter))
    except LeaseBusy:
        return retry_later(
            "watchdog-busy",
            "The instance ID is busy",
            f"a watchdog pass or a start of {instance_id!r} held its lease past the wait; "
            "nothing changed, retry later",
            retry_after=configured_retry_after(starter is default_starter, busy=True),
            instanceId=instance_id,
        )
    if not unwatched:
        return problem(
            404,
            "not-watched",
            "Not watched",
            f"{instance_id!r} is not watched",
            instanceId=instance_id,
        )
    terminated = False
    if flag in _TRUE:
        try:
            await client.terminate(instance_id, "terminated through the singleton unwatch endpoint")
        except Exception as exc:  # the client raises bare Exception
            logger.warning("unwatched %r but terminating it failed: %r", instance_id, exc)
            return problem(
                502,
                "terminate-failed",
                "Unwatched, but the terminate failed",
                f"{instance_id!r} is no longer watched; the host refused the terminate",
                instanceId=instance_id,
                unwatched=True,
            )
        terminated = True
    return func.HttpResponse(
        json.dumps({"instanceId": instance_id, "unwatched": True, "terminated": terminated}),
        status_code=200,
        mimetype="application/json",
        charset="utf-8",
    )


def watchdog_blueprint(
    schedule: str = DEFAULT_SCHEDULE,
    *,
    starter: Callable[[], SingletonStarter] = default_starter,
    unwatch_route: str | None = UNWATCH_ROUTE,
    watched_route: str | None = WATCHED_ROUTE,
) -> df.Blueprint:
    """A blueprint with the watchdog's timer (``schedule``, NCRONTAB) and, unless their
    routes are ``None``, its admin ``unwatch`` endpoint and its listing of the watched IDs."""
    if not isinstance(schedule, str) or len(schedule.split()) not in (5, 6):
        raise ConfigurationError(
            f"the watchdog schedule must be an NCRONTAB expression, not {schedule!r}"
        )
    bp = df.Blueprint()

    @bp.function_name("SingletonWatchdog")  # type: ignore[untyped-decorator]
    @bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=False)  # type: ignore[untyped-decorator]
    @bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
    async def singleton_watchdog(
        timer: func.TimerRequest, client: df.DurableOrchestrationClient
    ) -> None:
        """Keep the watched singletons running: one tick."""
        await run_tick(client, starter)

    if unwatch_route is not None:

        @bp.function_name("SingletonUnwatch")  # type: ignore[untyped-decorator]
        @bp.route(
            route=unwatch_route, methods=[func.HttpMethod.DELETE], auth_level=func.AuthLevel.ADMIN
        )  # type: ignore[untyped-decorator]
        @bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
        async def singleton_unwatch(
            req: func.HttpRequest, client: df.DurableOrchestrationClient
        ) -> func.HttpResponse:
            """Stop watching an instance ID (``?terminate=true``: and terminate it)."""
            return await handle_unwatch_request(req, client, starter)

    if watched_route is not None:

        @bp.function_name("SingletonWatched")  # type: ignore[untyped-decorator]
        @bp.route(
            route=watched_route, methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ADMIN
        )  # type: ignore[untyped-decorator]
        @bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
        async def singleton_watched(
            req: func.HttpRequest, client: df.DurableOrchestrationClient
        ) -> func.HttpResponse:
            """The instance IDs the watchdog keeps running in this task hub."""
            return await handle_watched_request(req, client, starter)

    return bp


__all__ = [
    "DEFAULT_SCHEDULE",
    "PassOutcome",
    "handle_unwatch_request",
    "handle_watched_request",
    "run_tick",
    "watchdog_blueprint",
]
