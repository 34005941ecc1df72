"""App settings of the singleton starter, read once from an environ mapping.

Every setting is documented in the README's settings table. Parsing is strict: a malformed
value raises :class:`ConfigurationError` naming the setting, never a silent default.

=============================  =========  ===================================================
``REDIS_URL`` (and ``REDIS_*``)  —        the lease store (:class:`RedisSettings`)
``SINGLETON_LEASE_TTL``        15         seconds a lease lives unless renewed
``SINGLETON_LEASE_WAIT``       5          seconds a start waits for a busy instance ID's lease
``SINGLETON_KEY_PREFIX``       durable-   the namespace of every key in Redis
                               singleton
``SINGLETON_MIN_REPLICAS``     0          replicas that must acknowledge a lease (WAIT)
``SINGLETON_MAX_BODY_BYTES``   1048576    the largest start body the HTTP starter reads (413)
``SINGLETON_TERMINATE_WAIT``   10         seconds terminate-existing waits for the old instance
``SINGLETON_RETRY_AFTER``      5          ``Retry-After`` of the HTTP 503 answers
``SINGLETON_BUSY_RETRY_AFTER``  1         ``Retry-After`` of the HTTP 409 "in progress" answers
``SINGLETON_LIMIT_<FUNCTION>``  (code)    holders at once per scope of one ``@singleton``
                                          function (:func:`function_limit`); overrides ``limit=``
=============================  =========  ===================================================
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from singleton._environ import parse_bool, parse_count, parse_seconds
from singleton._errors import ConfigurationError
from singleton._redis import RedisSettings

#: The defaults of the knobs beside the lease's, for code that answers without a Settings.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TERMINATE_WAIT = 10.0
DEFAULT_RETRY_AFTER = 5
DEFAULT_BUSY_RETRY_AFTER = 1

# Braces would break the Redis Cluster hash tag; whitespace is never intended.
_KEY_PREFIX = re.compile(r"[^\s{}]{1,64}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the starter and its HTTP answers need, from app settings."""

    redis: RedisSettings
    lease_ttl: float = 15.0
    lease_wait: float = 5.0
    key_prefix: str = "durable-singleton"
    min_replicas: int = 0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """The largest start body (bytes) the HTTP starter reads; longer is a 413."""
    terminate_wait: float = DEFAULT_TERMINATE_WAIT
    """Seconds ``terminate-existing`` waits for the old instance to report Terminated (504)."""
    retry_after: int = DEFAULT_RETRY_AFTER
    """``Retry-After`` seconds of the 503 answers (Redis failing, a lease lost mid-start)."""
    busy_retry_after: int = DEFAULT_BUSY_RETRY_AFTER
    """``Retry-After`` seconds of the 409 answers that a moment cures (another start of the
    ID in progress, the Idempotency-Key's first request still in flight)."""
    idempotency_ttl: float = 24 * 3600.0
    """Seconds an Idempotency-Key's answer is replayed (singleton/starter/_idempotency.py)."""
    idempotency_max_keys_per_instance: int = 100
    """Idempotency-Key records one instance ID keeps; at the bound the oldest is dropped."""
    watchdog_max_ids: int = 1000
    """IDs the watchdog's registry holds per task hub; ``ensure_running`` past it is refused."""
    pending_ttl: float = 24 * 3600.0
    """Seconds a ``queue-next`` pending run waits for its turn before Redis forgets it
    (singleton/starter/_pending.py)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        key_prefix = environ.get("SINGLETON_KEY_PREFIX", "").strip() or cls.key_prefix
        if not _KEY_PREFIX.fullmatch(key_prefix):
            raise ConfigurationError(
                "SINGLETON_KEY_PREFIX must be 1-64 characters without whitespace or braces, "
                f"got {key_prefix!r}"
            )
        return cls(
            redis=RedisSettings.from_environ(environ),
            lease_ttl=parse_seconds(environ, "SINGLETON_LEASE_TTL", cls.lease_ttl, minimum=0.01),
            lease_wait=parse_seconds(environ, "SINGLETON_LEASE_WAIT", cls.lease_wait, minimum=0),
            key_prefix=key_prefix,
            min_replicas=parse_count(environ, "SINGLETON_MIN_REPLICAS", 0, minimum=0),
            max_body_bytes=parse_count(
                environ, "SINGLETON_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1
            ),
            terminate_wait=parse_seconds(
                environ, "SINGLETON_TERMINATE_WAIT", DEFAULT_TERMINATE_WAIT, minimum=0.1
            ),
            retry_after=parse_count(
                environ, "SINGLETON_RETRY_AFTER", DEFAULT_RETRY_AFTER, minimum=1
            ),
            busy_retry_after=parse_count(
                environ, "SINGLETON_BUSY_RETRY_AFTER", DEFAULT_BUSY_RETRY_AFTER, minimum=1
            ),
            # Idempotency-Key records: how long an answer is replayed, how many an ID keeps.
            idempotency_ttl=parse_seconds(
                environ, "SINGLETON_IDEMPOTENCY_TTL", cls.idempotency_ttl, minimum=1
            ),
            idempotency_max_keys_per_instance=parse_count(
                environ,
                "SINGLETON_IDEMPOTENCY_MAX_KEYS_PER_INSTANCE",
                cls.idempotency_max_keys_per_instance,
                minimum=1,
            ),
            watchdog_max_ids=parse_count(
                environ, "SINGLETON_WATCHDOG_MAX_IDS", cls.watchdog_max_ids, minimum=1
            ),
            pending_ttl=parse_seconds(environ, "SINGLETON_PENDING_TTL", cls.pending_ttl, minimum=1),
        )


EXAMPLES_SETTING = "SINGLETON_EXAMPLES"


def examples_enabled(environ: Mapping[str, str]) -> bool:
    """``SINGLETON_EXAMPLES`` (default false): whether this repository's function_app.py
    registers the examples. A malformed value is a ConfigurationError naming it."""
    return parse_bool(environ, EXAMPLES_SETTING)


#: The prefix of the per-function ``@singleton`` limit settings.
LIMIT_SETTING_PREFIX = "SINGLETON_LIMIT_"


def limit_setting(function_name: str) -> str:
    """The app setting that sets ``function_name``'s ``@singleton`` limit: the name upper-cased,
    each character outside A-Z 0-9 ``_`` turned into ``_`` (``sync-orders`` ->
    ``SINGLETON_LIMIT_SYNC_ORDERS``)."""
    return LIMIT_SETTING_PREFIX + re.sub(r"[^A-Z0-9_]", "_", function_name.upper())


def function_limit(environ: Mapping[str, str], function_name: str, default: int) -> int:
    """How many may hold one scope of ``function_name`` at once: its setting (see
    :func:`limit_setting`, a whole number >= 1) if set, else ``default`` (the decorator's
    ``limit=``). A malformed value raises ConfigurationError naming the setting."""
    return parse_count(environ, limit_setting(function_name), default, minimum=1)
