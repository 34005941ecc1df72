"""A customer's report build, guarded in function_app.py by ``@singleton("{customerId}")``.

The build is a stand-in for slow work (it sleeps ``seconds``); what matters is that two builds
for one customer never run at once, in any process sharing the Redis, while builds for
different customers run side by side. The lease's fence is in the answer: it grows with every
build of that customer, so a store written by the build could refuse stale writers.
"""

from __future__ import annotations

import asyncio
import json
import time

import azure.functions as func

from singleton import current_lease

BUILD_REPORT = "BuildReport"
REPORT_ROUTE = "reports/{customerId}"
DEFAULT_BUILD_SECONDS = 1.0
MAX_BUILD_SECONDS = 30.0


def build_seconds(req: func.HttpRequest) -> float:
    """``?seconds=`` (0-30, default 1): how long the stand-in build takes."""
    text = req.params.get("seconds")
    try:
        value = DEFAULT_BUILD_SECONDS if text is None else float(text)
    except ValueError:
        value = DEFAULT_BUILD_SECONDS
    return min(max(value, 0.0), MAX_BUILD_SECONDS)


async def build_report(req: func.HttpRequest) -> func.HttpResponse:
    """Build the report of ``customerId`` (under its lease): 200 with the build's times."""
    lease = current_lease()
    started = time.time()
    await asyncio.sleep(build_seconds(req))
    body = {
        "customerId": req.route_params.get("customerId"),
        "fence": None if lease is None else lease.fence,
        "startedAt": started,
        "finishedAt": time.time(),
    }
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
