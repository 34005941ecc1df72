"""The singleton starter: under a lease on the instance ID, read the status and start.

It knows nothing of HTTP. ``_durable.py`` is the one boundary to the Durable client,
``_names.py`` the instance-ID and orchestrator-name rules of the host and the client.
"""

from singleton.starter._durable import RuntimeStatus
from singleton.starter._names import validate_instance_id, validate_orchestrator_name
from singleton.starter._starter import Outcome, SingletonStarter, StartResult

__all__ = [
    "Outcome",
    "RuntimeStatus",
    "SingletonStarter",
    "StartResult",
    "validate_instance_id",
    "validate_orchestrator_name",
]
