"""Mount the embedded Durable backend (``devhost.durable``) on the host's aiohttp app.

The backend lives in its own package, built by another team; this module is the one place
that knows its constructor, so the rest of the host never imports it directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from devhost._errors import DevHostError
from devhost._settings import HostConfig


class DurableBackendLike(Protocol):
    """The part of ``devhost.durable.DurableBackend`` the host uses."""

    def register_routes(self, web_app: web.Application) -> None: ...

    def client_binding(self, base_url: str) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class MountedBackend:
    backend: DurableBackendLike
    store_description: str
    store: Any = None

    def close_store(self) -> None:
        """Close the backend's store (its SQLite file) once the backend has stopped."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()


def durable_package_available() -> bool:
    """Whether ``devhost.durable`` is importable and already exports its backend."""
    try:
        durable = importlib.import_module("devhost.durable")
    except ImportError:
        return False
    return hasattr(durable, "DurableBackend")


def build_backend(
    *,
    raw_functions: Sequence[Any],
    config: HostConfig,
    store_path: Path | None,
    storage_latency: float,
) -> MountedBackend:
    """Construct the backend from the indexed functions, host.json and the CLI options."""
    try:
        # Imported by name: the package is built concurrently and may not exist yet.
        durable: Any = importlib.import_module("devhost.durable")
        backend_class, memory_store, sqlite_store = (
            durable.DurableBackend,
            durable.MemoryStore,
            durable.SqliteStore,
        )
    except (ImportError, AttributeError) as exc:
        raise DevHostError(
            f"the embedded Durable backend (devhost.durable) is missing: {exc}"
        ) from exc
    store: Any
    if store_path is None:
        store, description = memory_store(), "in memory (lost on exit; --store PATH keeps it)"
    else:
        store, description = sqlite_store(store_path), f"SQLite at {store_path}"
    backend = backend_class(
        functions=list(raw_functions),
        hub_name=config.hub_name,
        store=store,
        overridable_states=config.overridable_states,
        storage_latency=storage_latency,
    )
    return MountedBackend(backend=backend, store_description=description, store=store)
