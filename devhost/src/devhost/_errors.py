"""Errors raised by the local host.

Hierarchy::

    DevHostError                  every error the local host raises on purpose
    ├── AppLoadError              function_app.py could not be imported or indexed
    ├── HostConfigError           host.json / local.settings.json is unreadable or invalid
    ├── RouteTemplateError        an HTTP trigger's route template is not valid (or not supported)
    ├── ScheduleError             a timer trigger's NCRONTAB expression is not valid
    └── UnsupportedBindingError   a function uses a binding this local host cannot bind
"""

from __future__ import annotations


class DevHostError(Exception):
    """Base of every error the local host raises on purpose."""


class AppLoadError(DevHostError):
    """The function app could not be imported or indexed."""


class HostConfigError(DevHostError):
    """host.json or local.settings.json is unreadable or invalid."""


class RouteTemplateError(DevHostError):
    """An HTTP trigger's route template is invalid or not supported here."""


class ScheduleError(DevHostError):
    """A timer trigger's NCRONTAB schedule is invalid."""


class UnsupportedBindingError(DevHostError):
    """A function declares a binding the local host cannot provide."""
