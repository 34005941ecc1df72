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

from functools import lru_cache
from urllib.parse import quote, unquote


def escape(part: str) -> str:
    """Percent-escape ``part`` reversibly; lone surrogates survive (``surrogatepass``)."""
    return quote(part, safe="", errors="surrogatepass")


def unescape(part: str) -> str:
    """Inverse of :func:`escape`."""
    return unquote(part, errors="surrogatepass")


class LeaseKeys:
    """The keys of one lease name (see the layout above), and the tuples the acquire and
    release scripts take, built once."""

    __slots__ = (
        "acquire_keys",
        "alive",
        "base",
        "bounds",
        "channel",
        "fence",
        "holders",
        "lease",
        "queue",
        "release_keys",
        "result",
    )

    def __init__(self, base: str) -> None:
        self.base = base
        self.lease = base + "lease"
        self.fence = base + "fence"
        self.channel = base + "released"
        self.result = base + "result"
        self.queue = base + "queue"
        self.alive = base + "alive"
        self.bounds = base + "bounds"
        self.holders = base + "holders"
        #: ACQUIRE's KEYS (and ADOPT's), in its order.
        self.acquire_keys = (
            self.lease,
            self.fence,
            self.result,
            self.queue,
            self.alive,
            self.bounds,
            self.channel,
        )
        #: RELEASE's KEYS, in its order.
        self.release_keys = (
            self.lease,
            self.channel,
            self.result,
            self.fence,
            self.queue,
            self.alive,
            self.bounds,
        )

    def done(self, token: str) -> str:
        """The release record of one ``limit=N`` holder (its token is hex: no escaping)."""
        return self.base + "done:" + token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeaseKeys) and other.base == self.base

    def __hash__(self) -> int:
        return hash(self.base)

    def __repr__(self) -> str:
        return f"LeaseKeys({self.base!r})"


def lease_key_pattern(namespace: str, kind: str = "lease") -> str:
    """A SCAN MATCH pattern for every lease key of ``namespace`` (and nothing else); with
    ``kind="holders"``, for every ``limit=N`` lease's holders key."""
    # Escaping leaves only A-Z a-z 0-9 _ . - ~ %: no glob character to quote.
    return f"{escape(namespace)}:{{=*}}:{kind}"


def name_of_lease_key(namespace: str, key: str, kind: str = "lease") -> str | None:
    """The lease name a lease key (or, with ``kind="holders"``, a holders key) of
    ``namespace`` belongs to; None if it is no such key."""
    head, tail = f"{escape(namespace)}:{{=", "}:" + kind
    if not (key.startswith(head) and key.endswith(tail)) or len(key) < len(head) + len(tail):
        return None
    return unescape(key[len(head) : -len(tail)])


#: Each ASCII character as escape() writes it (itself if safe, else ``%XX``): an ASCII name
#: (most are: instance IDs, customer IDs, ``function:<name>:<scope>``) is escaped by one
#: str.translate instead of quote()'s several passes. Both give the same string.
_ASCII_ESCAPED = {code: quote(chr(code), safe="") for code in range(128)}


@lru_cache(maxsize=4096)  # a starter takes the same few names again and again
def lease_keys(namespace: str, name: str) -> LeaseKeys:
    """The keys of lease ``name`` in ``namespace`` (both any str; the namespace non-empty)."""
    if not isinstance(name, str):
        raise TypeError(f"a lease name must be a str, not {name!r}")
    return LeaseKeys(f"{_escaped_namespace(namespace)}:{{={_escape_name(name)}}}:")


@lru_cache(maxsize=64)
def _escaped_namespace(namespace: str) -> str:
    return escape(namespace)


def _escape_name(name: str) -> str:
    return name.translate(_ASCII_ESCAPED) if name.isascii() else escape(name)
