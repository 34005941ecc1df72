"""The storage contract the backend runs on."""

from __future__ import annotations

from typing import Protocol

from devhost.durable._state import InstanceState, StartRecord


class InstanceStore(Protocol):
    """Instance rows and start records. Called from the event loop thread only."""

    def load(self, instance_id: str) -> InstanceState | None: ...

    def save(self, state: InstanceState) -> None: ...

    def delete(self, instance_id: str) -> bool: ...

    def list_all(self) -> list[InstanceState]: ...

    def add_start_record(self, record: StartRecord) -> None: ...

    def start_records(self, instance_id: str) -> list[StartRecord]: ...

    def close(self) -> None: ...
