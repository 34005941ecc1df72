"""The singleton starter: under a lease on the instance ID, read the status and decide.

It knows nothing of HTTP. ``_starter.py`` decides; ``_follow.py`` takes the lease, and
follows it to adopt a concurrent holder's decision; ``_policies.py`` holds the conflict and
reuse policies and the event of event-with-start; ``_decision.py`` the result as a value that
concurrent callers adopt and idempotent retries replay; ``_idempotency.py`` the
Idempotency-Key records; ``_pending.py`` the one pending run of ``conflict=queue-next``
(started by the next lease holder or :meth:`SingletonStarter.start_pending`, the watchdog's
hook); ``_flights.py`` the in-process single-flight; ``_durable.py`` is the
one boundary to the Durable client, ``_names.py`` the instance-ID and orchestrator-name rules.
"""

from singleton.starter._decision import Decision, Outcome, StartResult
from singleton.starter._durable import RuntimeStatus
from singleton.starter._idempotency import IdempotencyRecords
from singleton.starter._names import validate_instance_id, validate_orchestrator_name
from singleton.starter._pending import PendingRun, PendingRuns
from singleton.starter._policies import ConflictPolicy, Event, ReusePolicy, StartPolicy
from singleton.starter._starter import SingletonStarter
from singleton.starter._watchdog import (
    PassOutcome,
    PassResult,
    QueuedRuns,
    Reason,
    Watchdog,
    WatchlistFull,
)

__all__ = [
    "ConflictPolicy",
    "Decision",
    "Event",
    "IdempotencyRecords",
    "Outcome",
    "PassOutcome",
    "PassResult",
    "PendingRun",
    "PendingRuns",
    "QueuedRuns",
    "Reason",
    "ReusePolicy",
    "RuntimeStatus",
    "SingletonStarter",
    "StartPolicy",
    "StartResult",
    "Watchdog",
    "WatchlistFull",
    "validate_instance_id",
    "validate_orchestrator_name",
]
