"""Azure Functions adapters: they translate triggers and answers, and decide nothing.

* :func:`starter_blueprint` — the HTTP starter to mount in your app (by default
  ``POST /api/orchestrators/{functionName}/{instanceId}``, named ``StartSingleton``);
  :func:`handle_start_request` for your own HTTP function. Both in
  :mod:`singleton.functions.http`.
* :mod:`singleton.functions.decorator` — ``@singleton(scope, on_busy=...)``: one invocation per
  scope at a time for any trigger (``_scope.py`` parses scopes, ``_trigger.py`` reads the
  trigger's data).
* :mod:`singleton.functions.admin` — the admin endpoint's blueprint (``singleton/leases``).

* :mod:`singleton.functions.watchdog` — ``watchdog_blueprint(schedule=...)``: the timer that
  keeps the IDs watched by ``SingletonStarter.ensure_running`` running, and the admin
  ``unwatch`` endpoint.

The names here are imported on first use (PEP 562), so that a private helper of this package
can be imported without azure-functions' worker modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from singleton.functions.http import handle_start_request, starter_blueprint
    from singleton.functions.watchdog import watchdog_blueprint

__all__ = ["handle_start_request", "starter_blueprint", "watchdog_blueprint"]

_HOMES = {
    "handle_start_request": "singleton.functions.http",
    "starter_blueprint": "singleton.functions.http",
    "watchdog_blueprint": "singleton.functions.watchdog",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
