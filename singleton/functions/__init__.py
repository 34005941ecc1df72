"""Azure Functions adapters: they translate triggers and answers, and decide nothing.

* :mod:`singleton.functions.http` — the HTTP starter's blueprint
  (``POST /api/orchestrators/{functionName}/{instanceId}``).
* :mod:`singleton.functions.decorator` — ``@singleton(scope, on_busy=...)``: one invocation per
  scope at a time for any trigger (``_scope.py`` parses scopes, ``_trigger.py`` reads the
  trigger's data).
* :mod:`singleton.functions.watchdog` — ``watchdog_blueprint(schedule=...)``: the timer that
  keeps the IDs watched by ``SingletonStarter.ensure_running`` running, and the admin
  ``unwatch`` endpoint.
"""
