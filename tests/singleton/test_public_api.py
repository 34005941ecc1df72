"""The public API is exactly what ``singleton.__all__`` lists, sorted; the rest is private."""

from __future__ import annotations

import singleton

PUBLIC = {
    "ConflictPolicy",
    "Event",
    "ReusePolicy",
    "IdempotencyKeyReused",
    "IdempotencyRecordUnreadable",
    "IdempotentRequestInFlight",
    "InvalidStartOption",
    "RaiseEventFailed",
    "TerminateFailed",
    "TerminateTimedOut",
    "ConfigurationError",
    "DurableError",
    "InvalidInstanceId",
    "InvalidOrchestratorName",
    "InvalidScope",
    "HeldLease",
    "Lease",
    "LeaseBusy",
    "LeaseError",
    "LeaseLost",
    "LeasePolicy",
    "LeaseUnavailable",
    "Leases",
    "Outcome",
    "RedisSettings",
    "ReplicasNotAcknowledged",
    "RuntimeStatus",
    "Settings",
    "SingletonError",
    "SingletonStarter",
    "StartFailed",
    "StartRejected",
    "StartResult",
    "StatusReadFailed",
    "close_default_starter",
    "create_redis_client",
    "create_starter",
    "current_lease",
    "current_lease_or_none",
    "default_starter",
    "force_release",
    "list_leases",
    "singleton",
    "validate_instance_id",
    "validate_orchestrator_name",
}


def test_all_is_the_public_api_sorted() -> None:
    assert set(singleton.__all__) == PUBLIC
    assert singleton.__all__ == sorted(singleton.__all__)
    for name in singleton.__all__:
        assert getattr(singleton, name).__module__.startswith("singleton.")


def test_every_error_is_a_singleton_error() -> None:
    errors = [getattr(singleton, n) for n in PUBLIC if n.endswith(("Error", "Failed", "Rejected"))]
    errors += [singleton.LeaseBusy, singleton.LeaseLost, singleton.LeaseUnavailable]
    errors += [
        singleton.InvalidInstanceId,
        singleton.InvalidScope,
        singleton.ReplicasNotAcknowledged,
    ]
    for error in errors:
        assert issubclass(error, singleton.SingletonError), error


def test_the_operators_functions_have_a_public_home() -> None:
    from singleton.lease import _admin

    assert singleton.list_leases is _admin.list_leases
    assert singleton.force_release is _admin.force_release
    assert singleton.HeldLease is _admin.HeldLease
