"""The examples' functions beside their orchestrations: mounted by function_app.py only when
``SINGLETON_EXAMPLES`` is true (``./dev run`` sets it), never in a deployment by default.

* ``StartMonitorOnSchedule`` — a timer that starts the eternal monitor through the default
  starter, the library used from a non-HTTP trigger.
* ``BuildReport`` — ``POST /api/reports/{customerId}``: ``@singleton`` on a plain function,
  one report build per customer at a time (a concurrent POST for the same customer gets 409).
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from examples import orchestrations, reports
from singleton import Outcome, default_starter, singleton

MONITOR_INSTANCE_ID = "monitor"

blueprint = df.Blueprint()


@blueprint.function_name("StartMonitorOnSchedule")
@blueprint.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@blueprint.durable_client_input(client_name="client")
async def start_monitor_on_schedule(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    """Every five minutes, make sure the monitor runs — exactly once."""
    result = await default_starter().start(
        client, orchestrations.MONITOR, MONITOR_INSTANCE_ID, {"target": "example"}
    )
    if result.outcome is not Outcome.ALREADY_RUNNING:
        logging.getLogger(__name__).info("monitor start: %s", result.outcome.value)


@blueprint.function_name(reports.BUILD_REPORT)
@blueprint.route(route=reports.REPORT_ROUTE, methods=[func.HttpMethod.POST])
@singleton("{customerId}", on_busy="fail")
async def build_report(req: func.HttpRequest) -> func.HttpResponse:
    """One report build per customer at a time; a concurrent one gets 409 + Retry-After."""
    return await reports.build_report(req)


#: What function_app.py registers when the examples are enabled.
BLUEPRINTS = (orchestrations.blueprint, blueprint)
