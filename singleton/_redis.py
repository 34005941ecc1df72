"""The Redis connection the lease runs on: settings read from app settings, one client built.

Build ONE client per process and event loop (``redis.asyncio`` clients are bound to the loop
they first ran on) and keep it: per-invocation clients churn connections and hit Azure's
connection limits. See :class:`RedisSettings` for every ``REDIS_*`` setting.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError, TimeoutError

from singleton._environ import parse_bool, parse_count, parse_seconds
from singleton._errors import ConfigurationError

logger = logging.getLogger(__name__)

#: Azure Cache for Redis (TLS on 6380) and Azure Managed Redis (TLS on 10000), by host suffix.
AZURE_TLS_PORTS = {".redis.cache.windows.net": 6380, ".redis.azure.net": 10000}
#: Entra ID token audience of Azure's Redis services.
AZURE_REDIS_RESOURCE = "https://redis.azure.com"
ENTRA_MODES = ("none", "managed-identity", "service-principal", "default")


def _validated_url(raw: str) -> str:
    """``raw`` checked, with Azure's TLS port filled in when it names none."""
    if not raw:
        raise ConfigurationError("REDIS_URL is required (e.g. rediss://host:6380/0)")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"REDIS_URL is malformed: {exc}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"REDIS_URL must start with redis:// or rediss://, got scheme {parts.scheme!r}"
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError("REDIS_URL names no host")
    azure_port = next(
        (p for suffix, p in AZURE_TLS_PORTS.items() if host.lower().endswith(suffix)), None
    )
    if azure_port is None:
        return raw
    if parts.scheme != "rediss":
        raise ConfigurationError(f"REDIS_URL: Azure's Redis ({host}) only takes TLS: use rediss://")
    if port is None:
        netloc = f"{parts.netloc}:{azure_port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return raw


@dataclasses.dataclass(frozen=True, kw_only=True)
class RedisSettings:
    """How to reach Redis. Build with :meth:`from_environ`; every field is a ``REDIS_*`` setting.

    url                    REDIS_URL (required) redis:// or rediss://; Azure hosts get their
                           TLS port (6380 Cache for Redis, 10000 Managed Redis) when none is named
    cluster                REDIS_CLUSTER: use RedisCluster (Azure Managed Redis OSS cluster policy)
    entra_auth             REDIS_ENTRA_AUTH: none | managed-identity | service-principal | default
    entra_client_id        REDIS_ENTRA_CLIENT_ID: user-assigned identity or service principal
    entra_tenant_id        REDIS_ENTRA_TENANT_ID: service principal's tenant
    entra_client_secret    REDIS_ENTRA_CLIENT_SECRET: service principal's secret
    socket_timeout         REDIS_SOCKET_TIMEOUT: seconds a command may take
    connect_timeout        REDIS_CONNECT_TIMEOUT: seconds a connect may take
    retries                REDIS_RETRIES: retries of a command after a connection error/timeout
    backoff_base/cap       REDIS_RETRY_BACKOFF_BASE / _CAP: exponential backoff between them
    health_check_interval  REDIS_HEALTH_CHECK_INTERVAL: PING a connection idle this long before
                           use (Azure drops idle connections after ~10 minutes)
    max_connections        REDIS_MAX_CONNECTIONS: connection pool size
    tls_ca_file            REDIS_TLS_CA_FILE: CA bundle to verify the server with (rediss:// only;
                           default: the system's trust store)
    """

    url: str = dataclasses.field(repr=False)
    cluster: bool = False
    entra_auth: str = "none"
    entra_client_id: str | None = None
    entra_tenant_id: str | None = None
    entra_client_secret: str | None = dataclasses.field(default=None, repr=False)
    socket_timeout: float = 5.0
    connect_timeout: float = 5.0
    retries: int = 3
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    health_check_interval: float = 30.0
    max_connections: int = 50
    tls_ca_file: str | None = None

    @property
    def redacted_url(self) -> str:
        """``url`` without its password, for logs."""
        return redact_redis_url(self.url)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RedisSettings:
        """Read and validate the ``REDIS_*`` settings; ConfigurationError names a bad one."""
        url = _validated_url(environ.get("REDIS_URL", "").strip())
        entra_auth = environ.get("REDIS_ENTRA_AUTH", "").strip().lower() or "none"
        if entra_auth not in ENTRA_MODES:
            raise ConfigurationError(
                f"REDIS_ENTRA_AUTH must be one of {', '.join(ENTRA_MODES)}, got {entra_auth!r}"
            )
        client_id = environ.get("REDIS_ENTRA_CLIENT_ID", "").strip() or None
        tenant_id = environ.get("REDIS_ENTRA_TENANT_ID", "").strip() or None
        secret = environ.get("REDIS_ENTRA_CLIENT_SECRET", "").strip() or None
        if entra_auth != "none" and urlsplit(url).password is not None:
            raise ConfigurationError(
                "REDIS_URL carries a password but REDIS_ENTRA_AUTH is set: choose one"
            )
        if entra_auth == "service-principal":
            for setting, value in (
                ("REDIS_ENTRA_CLIENT_ID", client_id),
                ("REDIS_ENTRA_TENANT_ID", tenant_id),
                ("REDIS_ENTRA_CLIENT_SECRET", secret),
            ):
                if value is None:
                    raise ConfigurationError(
                        f"{setting} is required when REDIS_ENTRA_AUTH=service-principal"
                    )
        backoff_base = parse_seconds(
            environ, "REDIS_RETRY_BACKOFF_BASE", cls.backoff_base, minimum=0
        )
        backoff_cap = parse_seconds(environ, "REDIS_RETRY_BACKOFF_CAP", cls.backoff_cap, minimum=0)
        if backoff_cap < backoff_base:
            raise ConfigurationError(
                "REDIS_RETRY_BACKOFF_CAP must be at least REDIS_RETRY_BACKOFF_BASE, "
                f"got {backoff_cap} < {backoff_base}"
            )
        tls_ca_file = environ.get("REDIS_TLS_CA_FILE", "").strip() or None
        if tls_ca_file is not None:
            if not url.startswith("rediss://"):
                raise ConfigurationError("REDIS_TLS_CA_FILE is set but REDIS_URL is not rediss://")
            if not os.path.isfile(tls_ca_file):
                raise ConfigurationError(f"REDIS_TLS_CA_FILE {tls_ca_file!r} is not a file")
        return cls(
            url=url,
            tls_ca_file=tls_ca_file,
            cluster=parse_bool(environ, "REDIS_CLUSTER"),
            entra_auth=entra_auth,
            entra_client_id=client_id,
            entra_tenant_id=tenant_id,
            entra_client_secret=secret,
            socket_timeout=parse_seconds(
                environ, "REDIS_SOCKET_TIMEOUT", cls.socket_timeout, minimum=0.001
            ),
            connect_timeout=parse_seconds(
                environ, "REDIS_CONNECT_TIMEOUT", cls.connect_timeout, minimum=0.001
            ),
            retries=parse_count(environ, "REDIS_RETRIES", cls.retries, minimum=0),
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            health_check_interval=parse_seconds(
                environ, "REDIS_HEALTH_CHECK_INTERVAL", cls.health_check_interval, minimum=0
            ),
            max_connections=parse_count(
                environ, "REDIS_MAX_CONNECTIONS", cls.max_connections, minimum=1
            ),
        )


def _load_entraid() -> Any:
    """The optional ``redis-entraid`` package, imported only when Entra ID is chosen."""
    try:
        return importlib.import_module("redis_entraid.cred_provider")
    except ImportError as exc:
        raise ConfigurationError(
            "REDIS_ENTRA_AUTH is set but the optional package redis-entraid is not installed "
            "(pip install redis-entraid)"
        ) from exc


def entra_credential_provider(settings: RedisSettings) -> CredentialProvider:
    """The Entra ID credential provider ``settings`` ask for (from ``redis-entraid``)."""
    entraid = _load_entraid()
    if settings.entra_auth == "managed-identity":
        identity_provider = importlib.import_module("redis_entraid.identity_provider")
        if settings.entra_client_id is None:
            return entraid.create_from_managed_identity(  # type: ignore[no-any-return]
                identity_type=identity_provider.ManagedIdentityType.SYSTEM_ASSIGNED,
                resource=AZURE_REDIS_RESOURCE,
            )
        return entraid.create_from_managed_identity(  # type: ignore[no-any-return]
            identity_type=identity_provider.ManagedIdentityType.USER_ASSIGNED,
            resource=AZURE_REDIS_RESOURCE,
            id_type=identity_provider.ManagedIdentityIdType.CLIENT_ID,
            id_value=settings.entra_client_id,
        )
    if settings.entra_auth == "service-principal":
        return entraid.create_from_service_principal(  # type: ignore[no-any-return]
            client_id=settings.entra_client_id,
            client_credential=settings.entra_client_secret,
            tenant_id=settings.entra_tenant_id,
        )
    if settings.entra_auth == "default":
        return entraid.create_from_default_azure_credential(  # type: ignore[no-any-return]
            scopes=(f"{AZURE_REDIS_RESOURCE}/.default",), tenant_id=settings.entra_tenant_id
        )
    raise ConfigurationError(
        f"REDIS_ENTRA_AUTH={settings.entra_auth!r} needs no credential provider"
    )


def create_redis_client(
    settings: RedisSettings, *, credential_provider: CredentialProvider | None = None
) -> Redis | RedisCluster:
    """ONE client for ``settings`` (keep it for the process's event loop). Connects lazily.

    ``credential_provider`` overrides the Entra ID provider ``settings`` would build (tests
    pass a stand-in; Azure is not reachable from them).
    """
    if credential_provider is None and settings.entra_auth != "none":
        credential_provider = entra_credential_provider(settings)
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": settings.health_check_interval,
        "retry": Retry(
            ExponentialBackoff(cap=settings.backoff_cap, base=settings.backoff_base),
            settings.retries,
            supported_errors=(ConnectionError, TimeoutError),
        ),
        "max_connections": settings.max_connections,
    }
    if credential_provider is not None:
        options["credential_provider"] = credential_provider
    if settings.tls_ca_file is not None:
        options["ssl_ca_certs"] = settings.tls_ca_file
    logger.info(
        "Redis client for %s (cluster=%s, entra=%s)",
        settings.redacted_url,
        settings.cluster,
        settings.entra_auth,
    )
    if settings.cluster:
        # RedisCluster has no blocking pool: past max_connections per node a command raises
        # MaxConnectionsError (a LeaseUnavailable, so 503), never a silent start.
        return RedisCluster.from_url(settings.url, **options)
    # A blocking pool makes a burst of concurrent starts queue for a connection (up to the
    # connect timeout) instead of failing past max_connections.
    pool = BlockingConnectionPool.from_url(
        settings.url, timeout=settings.connect_timeout, **options
    )
    return Redis.from_pool(pool)


def redact_redis_url(url: str) -> str:
    """``url`` with every password in it (user info, ``?password=``) replaced by ``***``.

    For logs and banners; never raises: a URL that cannot be parsed is not echoed at all.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            netloc = f"{user}:***@{netloc.rsplit('@', 1)[1]}"
        query = "&".join(
            f"{name}=***" if name.lower() == "password" else f"{name}{sep}{value}"
            for name, sep, value in (item.partition("=") for item in parts.query.split("&"))
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query if parts.query else ""))
    except ValueError:
        return "<unparseable Redis URL>"
