"""Where a lease lives in Redis: its key, its fence key and its wake-up channel.

Layout for namespace ``durable-singleton`` and name ``MyHub/x``::

    durable-singleton:{=MyHub%2Fx}:lease      the holder's token, with the TTL
    durable-singleton:{=MyHub%2Fx}:fence      the last fence issued, expiring with the lease
    durable-singleton:{=MyHub%2Fx}:released   channel published on release
    durable-singleton:{=MyHub%2Fx}:result     the last release: token, fence and settled result
                                              (short TTL)
    durable-singleton:{=MyHub%2Fx}:queue      waiters in arrival order (zset: token -> ticket)
    durable-singleton:{=MyHub%2Fx}:alive      when each waiter's place runs out (zset, ms)
    durable-singleton:{=MyHub%2Fx}:bounds     a following waiter's adopt bound (hash)
    durable-singleton:{=MyHub%2Fx}:holders    ``limit=N`` only: holders (zset: token -> expiry ms)
    durable-singleton:{=MyHub%2Fx}:done:<tok> ``limit=N`` only: one holder's release record

Both parts are percent-escaped (everything but ``A-Z a-z 0-9 _ . - ~``), so neither can contain
``:``, ``{`` or ``}``: a name can neither leave its namespace nor collide with another name, and
escaping is reversible, hence injective. Every key carries a TTL: nothing outlives its lease
for longer than the lease's TTL (the release record, its own short one). The ``{=...}`` hash
tag puts all of them in one Redis
Cluster slot; the ``=`` keeps the tag non-empty for the empty name (an empty tag ``{}`` would
make Redis hash each whole key separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote


def escape(part: str) -> str:
    """Percent-escape ``part`` reversibly; lone surrogates survive (``surrogatepass``)."""
    return quote(part, safe="", errors="surrogatepass")


def unescape(part: str) -> str:
    """Inverse of :func:`escape`."""
    return unquote(part, errors="surrogatepass")


@dataclass(frozen=True, slots=True)
class LeaseKeys:
    lease: str
    fence: str
    channel: str
    result: str
    queue: str
    alive: str
    bounds: str
    holders: str
    base: str

    def done(self, token: str) -> str:
        """The release record of one ``limit=N`` holder (its token is hex: no escaping)."""
        return self.base + "done:" + token


def lease_key_pattern(namespace: str) -> str:
    """A SCAN MATCH pattern for every lease key of ``namespace`` (and nothing else)."""
    # Escaping leaves only A-Z a-z 0-9 _ . - ~ %: no glob character to quote.
    return f"{escape(namespace)}:{{=*}}:lease"


def name_of_lease_key(namespace: str, key: str) -> str | None:
    """The lease name a lease key of ``namespace`` belongs to; None if it is no such key."""
    head, tail = f"{escape(namespace)}:{{=", "}:lease"
    if not (key.startswith(head) and key.endswith(tail)) or len(key) < len(head) + len(tail):
        return None
    return unescape(key[len(head) : -len(tail)])


@lru_cache(maxsize=4096)  # a starter takes the same few names again and again
def lease_keys(namespace: str, name: str) -> LeaseKeys:
    """The keys of lease ``name`` in ``namespace`` (both any str; the namespace non-empty)."""
    if not isinstance(name, str):
        raise TypeError(f"a lease name must be a str, not {name!r}")
    base = f"{escape(namespace)}:{{={escape(name)}}}:"
    return LeaseKeys(
        lease=base + "lease",
        fence=base + "fence",
        channel=base + "released",
        result=base + "result",
        queue=base + "queue",
        alive=base + "alive",
        bounds=base + "bounds",
        holders=base + "holders",
        base=base,
    )
