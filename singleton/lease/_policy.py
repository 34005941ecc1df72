"""How long a lease lives, how long to wait for one, and how it is renewed.

Durations are seconds as ``float`` (or ``int``) or a ``datetime.timedelta``; one helper,
:func:`seconds`, turns either into a validated float so the rest of the lease code only
ever sees floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

Duration = float | timedelta

#: Redis expiries have millisecond precision; anything shorter cannot be expressed.
MIN_TTL = 0.001
#: Redis and this process measure a TTL with different clocks: count on this fraction less
#: of it, plus a fixed 2 ms (the allowance of Redis's own Redlock description).
CLOCK_DRIFT = 0.01
_DRIFT_FLOOR = 0.002


def validity(ttl: float) -> float:
    """How long a lease with ``ttl`` is certainly ours, from when its command was sent: the
    holder's deadline (the keeper ends the hold there), so a renewal must come before it."""
    return ttl - (ttl * CLOCK_DRIFT + _DRIFT_FLOOR)


def seconds(value: Duration, *, what: str) -> float:
    """``value`` as float seconds; a ``ValueError``/``TypeError`` naming ``what`` if it is none."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be seconds (float) or a timedelta, not {value!r}")
    else:
        result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{what} must be finite, not {value!r}")
    return result


def milliseconds(value: float) -> int:
    """Whole milliseconds for Redis (PX / PEXPIRE / WAIT), never rounded down to zero."""
    return max(1, round(value * 1000))


@dataclass(frozen=True, init=False)
class LeasePolicy:
    """How leases are taken and kept. Frozen; built with keyword arguments only.

    ttl:             how long a lease lives unless renewed (default 15 s, like WebJobs
                     ``[Singleton]``). Mandatory: a lease never lives forever.
    wait:            how long ``acquire``/``hold`` wait for a busy lease (default 0: fail at once).
    renew_every:     how often ``hold`` extends a lease still held (default ``ttl / 3``). The first
                     renewal fires only once a hold lasted this long, so short holds never renew.
                     It must be shorter than the lease's validity, ``validity(ttl)`` (the ttl less
                     the clock-drift allowance, 1 % + 2 ms): a renewal due later would come after
                     the holder's deadline and never be sent.
    max_hold:        stop renewing after this long; the holder then loses the lease (``LeaseLost``).
                     ``None`` (default) renews for as long as the holder holds it.
    min_replicas:    after acquiring, ``WAIT`` for this many replicas to acknowledge
                     (default 0: do not wait; not supported with RedisCluster).
    replica_timeout: how long that ``WAIT`` may take (default 1 s).
    wake_fallback:   the longest a waiter sleeps between tries if a release notification is lost
                     (default 1 s); a waiter also wakes when the holder's TTL runs out.
    result_ttl:      how long the result a holder settled its lease with stays readable by
                     followers that missed its release message (default 5 s).
    """

    ttl: float
    wait: float
    renew_every: float
    max_hold: float | None
    min_replicas: int
    replica_timeout: float
    wake_fallback: float
    result_ttl: float

    def __init__(
        self,
        *,
        ttl: Duration = 15.0,
        wait: Duration = 0.0,
        renew_every: Duration | None = None,
        max_hold: Duration | None = None,
        min_replicas: int = 0,
        replica_timeout: Duration = 1.0,
        wake_fallback: Duration = 1.0,
        result_ttl: Duration = 5.0,
    ) -> None:
        ttl_s = seconds(ttl, what="ttl")
        if ttl_s < MIN_TTL:
            raise ValueError(
                f"ttl must be at least {MIN_TTL} s (Redis expiries are in ms), not {ttl!r}"
            )
        wait_s = seconds(wait, what="wait")
        if wait_s < 0:
            raise ValueError(f"wait must be >= 0, not {wait!r}")
        renew_s = ttl_s / 3 if renew_every is None else seconds(renew_every, what="renew_every")
        if renew_every is not None and not 0 < renew_s < validity(ttl_s):
            # The keeper's deadline is validity(ttl) after the acquire: a first renewal due at
            # or after it is never sent, and the lease runs out however long the hold.
            raise ValueError(
                f"renew_every must be > 0 and shorter than ttl less the clock-drift allowance "
                f"(under {validity(ttl_s):.6g} s for ttl {ttl_s:g} s), not {renew_every!r}"
            )
        max_hold_s = None if max_hold is None else seconds(max_hold, what="max_hold")
        if max_hold_s is not None and max_hold_s <= 0:
            raise ValueError(
                f"max_hold must be > 0 or None (renew without limit), not {max_hold!r}"
            )
        if isinstance(min_replicas, bool) or not isinstance(min_replicas, int) or min_replicas < 0:
            raise ValueError(f"min_replicas must be an int >= 0, not {min_replicas!r}")
        replica_timeout_s = seconds(replica_timeout, what="replica_timeout")
        if replica_timeout_s <= 0:
            raise ValueError(f"replica_timeout must be > 0, not {replica_timeout!r}")
        wake_fallback_s = seconds(wake_fallback, what="wake_fallback")
        if wake_fallback_s < MIN_TTL:
            raise ValueError(f"wake_fallback must be at least {MIN_TTL} s, not {wake_fallback!r}")
        result_ttl_s = seconds(result_ttl, what="result_ttl")
        if result_ttl_s < MIN_TTL:
            raise ValueError(f"result_ttl must be at least {MIN_TTL} s, not {result_ttl!r}")
        for field, value in (
            ("ttl", ttl_s),
            ("wait", wait_s),
            ("renew_every", renew_s),
            ("max_hold", max_hold_s),
            ("min_replicas", min_replicas),
            ("replica_timeout", replica_timeout_s),
            ("wake_fallback", wake_fallback_s),
            ("result_ttl", result_ttl_s),
        ):
            object.__setattr__(self, field, value)
