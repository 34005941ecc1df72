"""The Function App: wiring only.

* ``StartSingleton`` — ``POST /api/orchestrators/{functionName}/{instanceId}``, the HTTP starter.
* ``ProcessBatch`` / ``Monitor`` / ``AwaitApproval`` — example orchestrations to start.
* ``SingletonLeases`` — ``GET``/``DELETE /api/singleton/leases``: list the held leases,
  force-release one (admin level).
* ``StartMonitorOnSchedule`` — a timer that starts the monitor through the same starter,
  showing the library used from a non-HTTP trigger.
* ``BuildReport`` — ``POST /api/reports/{customerId}``: ``@singleton`` on a plain function,
  one report build per customer at a time (a concurrent POST for the same customer gets 409).
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from examples import reports
from examples.orchestrations import MONITOR
from examples.orchestrations import blueprint as examples_blueprint
from singleton import Outcome, default_starter, singleton
from singleton.functions.admin import blueprint as admin_blueprint
from singleton.functions.http import blueprint as starter_blueprint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(starter_blueprint)
app.register_functions(examples_blueprint)
app.register_functions(admin_blueprint)

MONITOR_INSTANCE_ID = "monitor"


@app.function_name("StartMonitorOnSchedule")
@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def start_monitor_on_schedule(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    """Every five minutes, make sure the monitor runs — exactly once."""
    result = await default_starter().start(
        client, MONITOR, MONITOR_INSTANCE_ID, {"target": "example"}
    )
    if result.outcome is not Outcome.ALREADY_RUNNING:
        logging.getLogger(__name__).info("monitor start: %s", result.outcome.value)


@app.function_name(reports.BUILD_REPORT)
@app.route(route=reports.REPORT_ROUTE, methods=[func.HttpMethod.POST])
@singleton("{customerId}", on_busy="fail")
async def build_report(req: func.HttpRequest) -> func.HttpResponse:
    """One report build per customer at a time; a concurrent one gets 409 + Retry-After."""
    return await reports.build_report(req)
