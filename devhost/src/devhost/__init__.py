"""A local Azure Functions host for function_app.py, in the spirit of ``temporal server start-dev``.

``python -m devhost`` runs it from the command line; tests run it in-process::

    async with run_devhost(app_path="function_app.py", port=0) as host:
        url = host.url("orchestrators/my_orchestrator/some-id")
"""

from devhost._errors import (
    AppLoadError,
    DevHostError,
    HostConfigError,
    RouteTemplateError,
    ScheduleError,
    UnsupportedBindingError,
)
from devhost._host import DevHostOptions, RunningDevHost, run_devhost
from devhost._ncrontab import NcrontabSchedule

__all__ = [
    "AppLoadError",
    "DevHostError",
    "DevHostOptions",
    "HostConfigError",
    "NcrontabSchedule",
    "RouteTemplateError",
    "RunningDevHost",
    "ScheduleError",
    "UnsupportedBindingError",
    "run_devhost",
]
