"""The Function App this repository deploys: wiring only.

* ``StartSingleton`` — ``POST /api/orchestrators/{functionName}/{instanceId}``, the HTTP starter.
* ``SingletonLeases`` — ``GET``/``DELETE /api/singleton/leases``: list the held leases,
  force-release one (admin level).
* ``SingletonPending`` — ``GET``/``DELETE /api/singleton/pending``: list the pending
  ``queue-next`` runs, drop one (admin level).

With the app setting ``SINGLETON_EXAMPLES=true`` (``./dev run`` sets it; a deployment leaves it
unset) also the examples of :mod:`examples.app`: the orchestrations ``ProcessBatch``,
``Monitor`` and ``AwaitApproval``, ``BuildReport``, and the watchdog that keeps the eternal
``Monitor`` running (``WatchMonitor``, ``SingletonWatchdog``, ``SingletonUnwatch``).
The examples are imported only then, so a deployment without the ``examples/`` folder works.
"""

from __future__ import annotations

import os

import azure.durable_functions as df
import azure.functions as func

from singleton._settings import examples_enabled
from singleton.functions import starter_blueprint
from singleton.functions.admin import blueprint as admin_blueprint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(starter_blueprint())
app.register_functions(admin_blueprint)

if examples_enabled(os.environ):
    from examples.app import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.register_functions(blueprint)
