"""Azure Functions adapters: they translate triggers and answers, and decide nothing.

* :mod:`singleton.functions.http` — the HTTP starter's blueprint
  (``POST /api/orchestrators/{functionName}/{instanceId}``).
"""
