"""The examples' functions beside their orchestrations: mounted by function_app.py only when
``SINGLETON_EXAMPLES`` is true (``./dev run`` sets it), never in a deployment by default.

* ``WatchMonitor`` — at start (and hourly) puts the eternal monitor under the watchdog with
  ``ensure_running``: the library used from a non-HTTP trigger.
* ``SingletonWatchdog`` / ``SingletonUnwatch`` — the watchdog (``watchdog_blueprint``): every
  minute it restarts a watched instance that is absent, Failed, Terminated or stuck Pending,
  under the instance's lease; ``DELETE /api/singleton/watchdog/monitor?terminate=true`` stops
  the monitor for good.
* ``BuildReport`` — ``POST /api/reports/{customerId}``: ``@singleton`` on a plain function,
  one report build per customer at a time (a concurrent POST for the same customer gets 409).
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from examples import orchestrations, reports
from singleton import default_starter, singleton
from singleton.functions import watchdog_blueprint

MONITOR_INSTANCE_ID = "monitor"

blueprint = df.Blueprint()


@blueprint.function_name("WatchMonitor")
@blueprint.timer_trigger(schedule="0 0 * * * *", arg_name="timer", run_on_startup=True)
@blueprint.durable_client_input(client_name="client")
async def watch_monitor(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Watch the monitor: registered once (again hourly: registering is idempotent), started
    now if it does not run, and kept running by the watchdog's ticks."""
    result = await default_starter().ensure_running(
        client, orchestrations.MONITOR, MONITOR_INSTANCE_ID, {"target": "example"}
    )
    logging.getLogger(__name__).info("monitor watched: %s", result.outcome.value)


@blueprint.function_name(reports.BUILD_REPORT)
@blueprint.route(route=reports.REPORT_ROUTE, methods=[func.HttpMethod.POST])
@singleton("{customerId}", on_busy="fail")
async def build_report(req: func.HttpRequest) -> func.HttpResponse:
    """One report build per customer at a time; a concurrent one gets 409 + Retry-After."""
    return await reports.build_report(req)


#: What function_app.py registers when the examples are enabled.
BLUEPRINTS = (
    orchestrations.blueprint,
    blueprint,
    watchdog_blueprint(schedule="0 * * * * *"),  # every minute
)
