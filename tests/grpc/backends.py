"""The SDK team's in-memory gRPC backend (``durabletask.testing``), counted; and a wrapper
servicer around it that reproduces the Azure Storage race on StartInstance.

Both are the real ``InMemoryOrchestrationBackend`` serving real gRPC on a loopback port; the
subclasses only count what ``StartInstance`` did, or (the race) split its check from its write.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.testing import InMemoryOrchestrationBackend


class CountingBackend(InMemoryOrchestrationBackend):
    """The SDK's backend; ``created[id]`` counts the instances ``StartInstance`` created,
    ``calls`` every gRPC call the clients made (by method). ``faults[method]`` makes that
    method answer with the gRPC status code instead (as a failing backend would)."""

    def __init__(self, *, port: int) -> None:
        super().__init__(port=port)
        self.created: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.faults: dict[str, grpc.StatusCode] = {}
        self._count_lock = threading.Lock()

    def _count(self, method: str, context: grpc.ServicerContext | None = None) -> None:
        with self._count_lock:
            self.calls[method] += 1
            fault = self.faults.get(method)
        if fault is not None and context is not None:
            context.abort(fault, f"{method} failed (a test's fault)")

    def StartInstance(  # noqa: N802 - the gRPC method's name
        self, request: pb.CreateInstanceRequest, context: grpc.ServicerContext
    ) -> pb.CreateInstanceResponse:
        self._count("StartInstance", context)
        response = super().StartInstance(request, context)  # aborts (raises) on a duplicate
        with self._count_lock:
            self.created[response.instanceId] += 1
        return response

    def GetInstance(  # noqa: N802
        self, request: pb.GetInstanceRequest, context: grpc.ServicerContext
    ) -> pb.GetInstanceResponse:
        self._count("GetInstance", context)
        return super().GetInstance(request, context)

    def RaiseEvent(  # noqa: N802
        self, request: pb.RaiseEventRequest, context: grpc.ServicerContext
    ) -> pb.RaiseEventResponse:
        self._count("RaiseEvent", context)
        return super().RaiseEvent(request, context)

    def TerminateInstance(  # noqa: N802
        self, request: pb.TerminateRequest, context: grpc.ServicerContext
    ) -> pb.TerminateResponse:
        self._count("TerminateInstance", context)
        return super().TerminateInstance(request, context)

    def plant(self, instance_id: str, status: int) -> None:
        """Make an existing (waiting) instance report ``status``, as the host shows an instance
        between work items (Pending before its first, ContinuedAsNew between generations)."""
        with self._lock:
            self._instances[instance_id].status = status  # type: ignore[assignment]


class StorageRaceBackend(CountingBackend):
    """StartInstance as the Azure Storage provider does it: check, then (``delay`` later)
    write, and a write that finds a racing create already there is swallowed: the caller is
    told its instance started, but its input is lost.

    ``told_started[id]`` counts the callers answered "started" for ``id``; more than one is a
    double start."""

    def __init__(self, *, port: int, delay: float = 0.005) -> None:
        super().__init__(port=port)
        self.delay = delay
        self.told_started: collections.Counter[str] = collections.Counter()
        self.swallowed: collections.Counter[str] = collections.Counter()

    def StartInstance(  # noqa: N802
        self, request: pb.CreateInstanceRequest, context: grpc.ServicerContext
    ) -> Any:
        instance_id = request.instanceId
        with self._lock:  # the check: a read of the instance row
            existing = self._instances.get(instance_id)
            replaceable = set(request.orchestrationIdReusePolicy.replaceableStatus)
            if existing is not None and existing.status not in replaceable:
                context.abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"Orchestration instance '{instance_id}' already exists",
                )
        time.sleep(self.delay)  # between the read and the write, the race's window
        with self._lock:  # the write
            racing = self._instances.get(instance_id)
            if racing is not None and existing is None:
                self._count("StartInstance")
                with self._count_lock:
                    self.swallowed[instance_id] += 1
                    self.told_started[instance_id] += 1
                return pb.CreateInstanceResponse(instanceId=instance_id)
            response = super().StartInstance(request, context)
        with self._count_lock:
            self.told_started[instance_id] += 1
        return response
