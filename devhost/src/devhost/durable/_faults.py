"""Real HTTP failures on demand, so tests can see how callers cope with a host error."""

from __future__ import annotations

import threading
from dataclasses import dataclass

OPERATIONS = frozenset(
    {"start", "status", "terminate", "raise_event", "suspend", "resume", "purge", "list"}
)

DISCONNECT = 0
"""A fault "status" that drops the connection without an answer."""


@dataclass
class Fault:
    operation: str
    status: int
    remaining: int
    instance_id: str | None


class FaultInjector:
    """Faults armed by ``inject_fault``; each request of a matching operation consumes one."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, *, operation: str, status: int, times: int, instance_id: str | None) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {sorted(OPERATIONS)}, not {operation!r}")
        if status != DISCONNECT and not 400 <= status <= 599:
            raise ValueError(
                f"status must be an HTTP error code (400-599) or DISCONNECT (0), not {status!r}"
            )
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times!r}")
        with self._lock:
            self._faults.append(Fault(operation, status, times, instance_id))

    def take(self, operation: str, instance_id: str | None) -> int | None:
        """The status to fail this request with, or None to serve it normally."""
        with self._lock:
            for fault in self._faults:
                if fault.operation != operation:
                    continue
                if fault.instance_id is not None and fault.instance_id != instance_id:
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault.status
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
