"""host.json and local.settings.json, read the way the Functions host and Core Tools read them."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost._errors import HostConfigError

logger = logging.getLogger(__name__)

DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_OVERRIDABLE_STATES = "NonRunningStates"
SITE_NAME = "WEBSITE_SITE_NAME"
_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")


def resolve_hub_name(configured: str | None, environ: Mapping[str, str]) -> str:
    """The task hub name the Durable extension uses (Azure Storage provider).

    - DurableTaskOptions.ResolveAppSettingOptions: a whole ``%Name%`` is the app setting
      ``Name`` (INameResolver.TryResolveWholeString); unset, it stays literal (and fails below).
    - DurableTaskOptions.HubName: unset in host.json, ``WEBSITE_SITE_NAME`` or ``TestHubName``,
      sanitized as AzureStorageOptions.IsSanitizedHubName does (letters and digits only, a
      leading digit gets a ``t``, at most 45, padded with ``Hub`` below 3, ``DefaultTaskHub``
      when nothing is left).
    - AzureStorageOptions.ValidateHubName: a configured name must be 3-45 letters and digits
      starting with a letter; otherwise the host does not start.
    """
    if configured is None:
        chosen = environ.get(SITE_NAME) or DEFAULT_HUB_NAME
        kept = [c for c in chosen if c.isalnum()]
        if not kept:
            return "DefaultTaskHub"
        if kept[0].isdigit():
            kept.insert(0, "t")
        sanitized = "".join(kept[:45])
        return sanitized if len(sanitized) >= 3 else sanitized + "Hub"
    name = configured
    if len(name) > 2 and name[0] == name[-1] == "%" and name.find("%", 1) == len(name) - 1:
        name = environ.get(name[1:-1], name)
    if _HUB_NAME.fullmatch(name) is None or not name.isascii():
        raise HostConfigError(
            f"Task hub name '{name}' should contain only alphanumeric characters, start with a "
            "letter, and have length between 3 and 45."
            + (f" (host.json hubName {configured!r})" if name != configured else "")
        )
    return name


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise HostConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise HostConfigError(f"{path}: the top level must be a JSON object")
    return data


def _section(data: dict[str, Any], *keys: str, source: Path) -> dict[str, Any]:
    current: dict[str, Any] = data
    for key in keys:
        child = current.get(key, {})
        if not isinstance(child, dict):
            raise HostConfigError(f"{source}: {'.'.join(keys)} must be a JSON object")
        current = child
    return current


def _string(section: dict[str, Any], key: str, default: str, *, source: Path) -> str:
    value = section.get(key, default)
    if not isinstance(value, str):
        raise HostConfigError(f"{source}: {key} must be a string, got {value!r}")
    return value


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?")


def parse_timespan(text: object, *, key: str, source: Path) -> float:
    """A host.json TimeSpan (``[d.]hh:mm:ss[.fffffff]``, as .NET writes it) in seconds."""
    match = _TIMESPAN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise HostConfigError(
            f'{source}: {key} must be a TimeSpan string like "00:00:30", got {text!r}'
        )
    days, hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        raise HostConfigError(f"{source}: {key} is not a valid TimeSpan: {text!r}")
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


def _integer(
    section: dict[str, Any], key: str, default: int, low: int, high: int, source: Path
) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HostConfigError(
            f"{source}: extensions.queues.{key} must be an integer from {low} to {high}, "
            f"got {value!r}"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class QueuesOptions:
    """host.json ``extensions.queues``, with the Storage queues extension's defaults and limits.

    ``new_batch_threshold`` None means the extension's default, ``batch_size // 2`` (per
    vCPU outside the Consumption plan; locally one host process, as on Consumption).
    """

    batch_size: int = 16
    new_batch_threshold: int | None = None
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @property
    def threshold(self) -> int:
        if self.new_batch_threshold is not None:
            return self.new_batch_threshold
        return self.batch_size // 2

    @classmethod
    def from_section(cls, section: dict[str, Any], *, source: Path) -> QueuesOptions:
        known = {
            "batchSize",
            "newBatchThreshold",
            "visibilityTimeout",
            "maxDequeueCount",
            "maxPollingInterval",
            "messageEncoding",
        }
        unknown = sorted(set(section) - known)
        if unknown:
            logger.warning("%s: extensions.queues keys not used locally: %s", source, unknown)
        encoding = section.get("messageEncoding", "base64")
        if not isinstance(encoding, str) or encoding.lower() not in ("base64", "none"):
            raise HostConfigError(
                f'{source}: extensions.queues.messageEncoding must be "base64" or "none", '
                f"got {encoding!r}"
            )
        threshold = section.get("newBatchThreshold")
        polling = parse_timespan(
            section.get("maxPollingInterval", "00:01:00"),
            key="extensions.queues.maxPollingInterval",
            source=source,
        )
        if polling < 0.1:
            raise HostConfigError(
                f"{source}: extensions.queues.maxPollingInterval must be at least 00:00:00.1"
            )
        return cls(
            batch_size=_integer(section, "batchSize", 16, 1, 32, source),
            new_batch_threshold=(
                None
                if threshold is None
                else _integer(section, "newBatchThreshold", 0, 0, 10_000, source)
            ),
            visibility_timeout=parse_timespan(
                section.get("visibilityTimeout", "00:00:00"),
                key="extensions.queues.visibilityTimeout",
                source=source,
            ),
            max_dequeue_count=_integer(section, "maxDequeueCount", 5, 1, 10_000, source),
            max_polling_interval=polling,
            message_encoding=encoding.lower(),
        )


@dataclass(frozen=True, kw_only=True)
class ServiceBusOptions:
    """host.json ``extensions.serviceBus`` as the local host uses it."""

    max_concurrent_calls: int = field(default_factory=lambda: 16 * (os.cpu_count() or 1))

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, source: Path) -> ServiceBusOptions:
        handler = section.get("messageHandlerOptions", {})  # extension 4.x puts it here
        if not isinstance(handler, dict):
            raise HostConfigError(f"{source}: extensions.serviceBus.messageHandlerOptions")
        value = section.get("maxConcurrentCalls", handler.get("maxConcurrentCalls"))
        if value is None:
            return cls()
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HostConfigError(
                f"{source}: extensions.serviceBus.maxConcurrentCalls must be a positive "
                f"integer, got {value!r}"
            )
        return cls(max_concurrent_calls=value)


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    """What the local host needs from host.json."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    queues: QueuesOptions = field(default_factory=QueuesOptions)
    service_bus: ServiceBusOptions = field(default_factory=ServiceBusOptions)
    hub_name: str = DEFAULT_HUB_NAME
    overridable_states: str = DEFAULT_OVERRIDABLE_STATES
    # extensions.durableTask.hubName as written (None when absent), before ``resolved``.
    hub_name_setting: str | None = None

    def resolved(self, environ: Mapping[str, str]) -> HostConfig:
        """This config with ``hub_name`` resolved against the app settings, as the extension
        does once they are loaded (see ``resolve_hub_name``)."""
        return dataclasses.replace(self, hub_name=resolve_hub_name(self.hub_name_setting, environ))

    @classmethod
    def load(cls, path: Path) -> HostConfig:
        """Read host.json; a missing file gives the host's defaults."""
        if not path.exists():
            logger.warning("no host.json at %s; using the host's defaults", path)
            return cls()
        data = _read_json(path)
        http = _section(data, "extensions", "http", source=path)
        durable = _section(data, "extensions", "durableTask", source=path)
        prefix = _string(http, "routePrefix", DEFAULT_ROUTE_PREFIX, source=path)
        queues = QueuesOptions.from_section(
            _section(data, "extensions", "queues", source=path), source=path
        )
        service_bus = ServiceBusOptions.from_section(
            _section(data, "extensions", "serviceBus", source=path), source=path
        )
        return cls(
            queues=queues,
            service_bus=service_bus,
            # The host trims slashes: "/api/" and "api" are the same prefix; "" means none.
            route_prefix=prefix.strip("/"),
            hub_name=_string(durable, "hubName", DEFAULT_HUB_NAME, source=path),
            hub_name_setting=(
                _string(durable, "hubName", "", source=path) if "hubName" in durable else None
            ),
            overridable_states=_string(
                durable,
                "overridableExistingInstanceStates",
                DEFAULT_OVERRIDABLE_STATES,
                source=path,
            ),
        )


def load_local_settings(path: Path, environ: MutableMapping[str, str]) -> dict[str, str]:
    """Copy local.settings.json "Values" into ``environ``, as Core Tools does.

    A variable already set wins (never overridden). Returns the values actually applied.
    """
    if not path.exists():
        return {}
    data = _read_json(path)
    if data.get("IsEncrypted") is True:
        raise HostConfigError(f"{path}: encrypted settings are not supported locally")
    values = data.get("Values", {})
    if not isinstance(values, dict):
        raise HostConfigError(f"{path}: Values must be a JSON object")
    applied: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            raise HostConfigError(f"{path}: Values.{name} must be a string, got {value!r}")
        if name in environ:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        environ[name] = text
        applied[name] = text
    return applied


def default_environ() -> MutableMapping[str, str]:
    """The process environment (a seam for tests)."""
    return os.environ
