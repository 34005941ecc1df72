"""The Redis lease: mutual exclusion across processes for a bounded time.

It knows nothing of Durable Functions or of HTTP; the starter and the ``@singleton``
decorator are built on it. Each file holds one part of the mechanism:

* ``_leases.py``  — ``Leases`` (acquire, wait, hold) and ``Lease`` (release, extend)
* ``_follow.py``  — following a lease: ``hold_or_follow``'s rules, ``Settled``, ``FollowHold``
* ``_scripts.py`` — the Lua scripts, each with its KEYS/ARGV/return contract (the line of
  waiters for fair waiting, ``limit=N``)
* ``_store.py``   — runs the scripts; the one place redis-py errors are translated
* ``_keys.py``    — where a lease lives in Redis (key, fence counter, wake-up channel)
* ``_policy.py``  — TTL, wait, renewal: ``LeasePolicy`` and the duration helpers
* ``_renewal.py`` — background renewal of a long hold
* ``_wakeups.py`` — pub/sub push wake-ups of waiters
* ``_admin.py``   — operators' view: ``list_leases`` and ``force_release``
"""

from singleton.lease._admin import HeldLease, force_release, list_leases
from singleton.lease._follow import FollowHold, Settled
from singleton.lease._leases import Lease, LeaseHold, Leases
from singleton.lease._policy import LeasePolicy

__all__ = [
    "FollowHold",
    "HeldLease",
    "Lease",
    "LeaseHold",
    "LeasePolicy",
    "Leases",
    "Settled",
    "force_release",
    "list_leases",
]
