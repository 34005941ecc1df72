"""The admin endpoint: the leases held under ``SINGLETON_KEY_PREFIX``, and a force-release.

``/api/singleton/leases``, auth level ``admin`` (the host's master key):

=======================================  ==================================================
GET                                      200 ``{"namespace", "count", "leases": [{"name",
                                         "ttlSeconds", "fence", "holders"}]}``, sorted by
                                         name (``holders`` > 1: a ``limit=N`` name)
DELETE ``?name=<hub>/<instanceId>``      200 ``{"name", "released": true}``: deleted and
                                         its waiters woken; 404 if no lease was held;
                                         400 without ``name``
=======================================  ==================================================

``/api/singleton/pending``, auth level ``admin``: the ``conflict=queue-next`` runs waiting for
their instance to finish (``singleton/starter/_pending.py``):

=======================================  ==================================================
GET                                      200 ``{"namespace", "count", "pending": [{"id",
                                         "name", "instanceId", "orchestrator", "input",
                                         "queuedAt"}]}``, sorted by name (a record another
                                         version wrote: ``{"name", "unreadable": true}``)
DELETE ``?name=<hub>/<instanceId>``      200 ``{"name", "dropped": {run}}``: the pending run
``[&run=<id>]``                          is deleted and will not start (with ``run``: only
                                         if that run is the pending one); 404 if none was;
                                         400 without ``name``
=======================================  ==================================================

Redis failing is a 503 (``Retry-After``: ``SINGLETON_RETRY_AFTER``), a missing setting a 500
(``application/problem+json``). The name is a query parameter because lease names hold a
``/`` (task hub, then instance ID). The routes are not under ``admin/``, which the Functions
host reserves for itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import azure.functions as func

from singleton._errors import ConfigurationError, LeaseUnavailable
from singleton._runtime import default_leases, default_starter
from singleton.functions._problems import (
    configured_retry_after,
    lease_store_unavailable,
    misconfigured,
    problem,
)
from singleton.lease import Leases
from singleton.lease._admin import force_release, list_leases
from singleton.starter import SingletonStarter
from singleton.starter._pending import PendingRun

logger = logging.getLogger(__name__)

LEASES_ROUTE = "singleton/leases"
PENDING_ROUTE = "singleton/pending"


def _json(body: object) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=200, mimetype="application/json", charset="utf-8"
    )


async def handle_leases_request(
    req: func.HttpRequest, leases: Callable[[], Leases] = default_leases
) -> func.HttpResponse:
    """GET: list the held leases; DELETE ``?name=``: force-release one."""
    name = req.params.get("name")
    try:
        if req.method.upper() == "DELETE":
            if not name:
                return problem(
                    400,
                    "invalid-request",
                    "Which lease?",
                    "DELETE needs the lease's name: ?name=<task hub>/<instance ID>",
                )
            if not await force_release(leases(), name):
                return problem(404, "no-lease", "No such lease", f"no lease {name!r} is held")
            return _json({"name": name, "released": True})
        own = leases()
        held = await list_leases(own)
    except ConfigurationError as exc:
        return misconfigured(exc, what="singleton admin endpoint", consequence="nothing changed")
    except LeaseUnavailable as exc:
        return _unavailable(exc, default=leases is default_leases)
    return _json(
        {
            "namespace": own.namespace,
            "count": len(held),
            "leases": [
                {
                    "name": lease.name,
                    "ttlSeconds": lease.ttl,
                    "fence": lease.fence,
                    "holders": lease.holders,
                }
                for lease in held
            ],
        }
    )


def _unavailable(exc: LeaseUnavailable, *, default: bool) -> func.HttpResponse:
    logger.warning("singleton admin endpoint: %s", exc)
    return lease_store_unavailable(configured_retry_after(default))


async def handle_pending_request(
    req: func.HttpRequest, starter: Callable[[], SingletonStarter] = default_starter
) -> func.HttpResponse:
    """GET: list the pending ``queue-next`` runs; DELETE ``?name=[&run=]``: drop one."""
    name = req.params.get("name")
    run_id = req.params.get("run") or None
    try:
        pending = starter().pending
        if req.method.upper() == "DELETE":
            if not name:
                return problem(
                    400,
                    "invalid-request",
                    "Which pending run?",
                    "DELETE needs the instance's name: ?name=<task hub>/<instance ID>",
                )
            dropped = await pending.drop(name, run_id)
            if dropped is None:
                which = f"run {run_id!r}" if run_id else "no run"
                return problem(
                    404,
                    "no-pending-run",
                    "No such pending run",
                    f"{which} is pending for {name!r}; nothing was dropped",
                )
            if isinstance(dropped, str):
                logger.warning("admin endpoint dropped another version's queued run of %r", name)
                return _json({"name": name, "dropped": {"name": name, "unreadable": True}})
            logger.warning("admin endpoint dropped the queued run %s of %r", dropped.id, name)
            return _json({"name": name, "dropped": dropped.describe()})
        runs = await pending.list()
    except ConfigurationError as exc:
        return misconfigured(exc, what="singleton admin endpoint", consequence="nothing changed")
    except LeaseUnavailable as exc:
        return _unavailable(exc, default=starter is default_starter)
    return _json(
        {
            "namespace": pending.namespace,
            "count": len(runs),
            "pending": [
                run.describe() if isinstance(run, PendingRun) else {"name": run, "unreadable": True}
                for run in runs
            ],
        }
    )


blueprint = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves it untyped


@blueprint.function_name("SingletonLeases")
@blueprint.route(
    route=LEASES_ROUTE,
    methods=[func.HttpMethod.GET, func.HttpMethod.DELETE],
    auth_level=func.AuthLevel.ADMIN,
)
async def singleton_leases(req: func.HttpRequest) -> func.HttpResponse:
    """List the held leases (GET) or force-release one (DELETE ``?name=``)."""
    return await handle_leases_request(req)


@blueprint.function_name("SingletonPending")
@blueprint.route(
    route=PENDING_ROUTE,
    methods=[func.HttpMethod.GET, func.HttpMethod.DELETE],
    auth_level=func.AuthLevel.ADMIN,
)
async def singleton_pending(req: func.HttpRequest) -> func.HttpResponse:
    """List the pending queue-next runs (GET) or drop one (DELETE ``?name=[&run=]``)."""
    return await handle_pending_request(req)
