"""A store that forgets everything when the process ends."""

from __future__ import annotations

from devhost.durable._state import InstanceState, StartRecord


class MemoryStore:
    """Each load and save copies the instance's containers, so callers never share mutable
    state with the store; the history events themselves are immutable and shared, so a step
    costs the same at 10 events as at 1,000 (no serialising of the whole instance)."""

    def __init__(self) -> None:
        self._rows: dict[str, InstanceState] = {}
        self._starts: list[tuple[str, str]] = []

    def load(self, instance_id: str) -> InstanceState | None:
        row = self._rows.get(instance_id)
        return None if row is None else row.working_copy()

    def save(self, state: InstanceState) -> None:
        self._rows[state.instance_id] = state.working_copy()

    def delete(self, instance_id: str) -> bool:
        return self._rows.pop(instance_id, None) is not None

    def list_all(self) -> list[InstanceState]:
        return [row.working_copy() for row in self._rows.values()]

    def add_start_record(self, record: StartRecord) -> None:
        self._starts.append((record.instance_id, record.to_json()))

    def start_records(self, instance_id: str) -> list[StartRecord]:
        return [StartRecord.from_json(body) for iid, body in self._starts if iid == instance_id]

    def close(self) -> None:
        """Nothing to release."""
