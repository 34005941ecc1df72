"""App settings of the singleton starter, read once from an environ mapping.

Every setting is documented in the README's settings table. Parsing is strict: a malformed
value raises :class:`ConfigurationError` naming the setting, never a silent default.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from singleton._environ import parse_count, parse_seconds
from singleton._errors import ConfigurationError
from singleton._redis import RedisSettings

# Braces would break the Redis Cluster hash tag; whitespace is never intended.
_KEY_PREFIX = re.compile(r"[^\s{}]{1,64}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the starter needs, from app settings."""

    redis: RedisSettings
    lease_ttl: float = 15.0
    lease_wait: float = 5.0
    key_prefix: str = "durable-singleton"
    min_replicas: int = 0
    watchdog_max_ids: int = 1000

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
            watchdog_max_ids=parse_count(
                environ, "SINGLETON_WATCHDOG_MAX_IDS", cls.watchdog_max_ids, minimum=1
            ),
        )
