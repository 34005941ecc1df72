"""Azure Functions adapters: they translate triggers and answers, and decide nothing.

* :func:`starter_blueprint` — the HTTP starter to mount in your app (by default
  ``POST /api/orchestrators/{functionName}/{instanceId}``, named ``StartSingleton``);
  :func:`handle_start_request` for your own HTTP function. Both in
  :mod:`singleton.functions.http`.
* :mod:`singleton.functions.decorator` — ``@singleton(scope, on_busy=...)``: one invocation per
  scope at a time for any trigger (``_scope.py`` parses scopes, ``_trigger.py`` reads the
  trigger's data).
* :mod:`singleton.functions.admin` — the admin endpoint's blueprint (``singleton/leases``).

The names here are imported on first use (PEP 562), so that a private helper of this package
can be imported without azure-functions' worker modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from singleton.functions.http import handle_start_request, starter_blueprint

__all__ = ["handle_start_request", "starter_blueprint"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("singleton.functions.http"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
