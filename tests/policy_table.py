"""What each start policy answers against each prior status of the ID: the starter's contract,
whichever Durable client it drives (tests/singleton/ over the v1 client, tests/grpc/ over the
Durable Task SDK's gRPC client check the same table)."""

from __future__ import annotations

from singleton import ConflictPolicy, Outcome, ReusePolicy, RuntimeStatus

S = RuntimeStatus
ACTIVE = (S.PENDING, S.RUNNING, S.CONTINUED_AS_NEW, S.SUSPENDED)
FINISHED = (S.COMPLETED, S.FAILED, S.TERMINATED)
#: None: no instance with that ID.
PRIORS = (None, *ACTIVE, *FINISHED)


def prior_name(prior: RuntimeStatus | None) -> str:
    """A test ID for a prior status."""
    return "absent" if prior is None else prior.value


def expected_for_conflict(conflict: ConflictPolicy, prior: RuntimeStatus | None) -> Outcome:
    """The answer under ``conflict`` (and the default reuse, allow)."""
    if prior not in ACTIVE:
        return Outcome.STARTED  # reuse: allow
    return {
        ConflictPolicy.FAIL: Outcome.ALREADY_RUNNING,
        ConflictPolicy.USE_EXISTING: Outcome.USED_EXISTING,
        ConflictPolicy.TERMINATE_EXISTING: Outcome.STARTED,
        ConflictPolicy.QUEUE_NEXT: Outcome.QUEUED,  # kept as the next run, not started
    }[conflict]


def expected_for_reuse(reuse: ReusePolicy, prior: RuntimeStatus | None) -> Outcome:
    """The answer under ``reuse`` (and the default conflict, fail)."""
    if prior in ACTIVE:
        return Outcome.ALREADY_RUNNING  # conflict: fail
    if prior is None or reuse is ReusePolicy.ALLOW:
        return Outcome.STARTED
    if reuse is ReusePolicy.FAILED_ONLY and prior is not S.COMPLETED:
        return Outcome.STARTED
    return Outcome.REUSE_REJECTED
