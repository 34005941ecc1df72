"""The Redis connection the lease runs on: settings read from app settings, one client built.

Build ONE client per process and event loop (``redis.asyncio`` clients are bound to the loop
they first ran on) and keep it: per-invocation clients churn connections and hit Azure's
connection limits. See :class:`RedisSettings` for every ``REDIS_*`` setting.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

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
    except ValueError:
        # urlsplit's message quotes the port, which may be a piece of a mistyped password.
        raise ConfigurationError(
            f"REDIS_URL is malformed (its host or port cannot be read): {redact_url(raw)}"
        ) from None
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"REDIS_URL must start with redis:// or rediss://, got {redact_url(raw)}"
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


#: Spellings redis-py reads as a boolean option (it takes anything else as true, "off" too).
_TRUE = frozenset({"1", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "f", "false", "n", "no"})
#: The ssl_cert_reqs values redis-py knows (exactly these spellings).
_CERT_REQS = ("none", "optional", "required")


#: A check of one option's value: None when it is good, else what it must be.
_Check = Callable[[str], str | None]


def _count(minimum: int) -> _Check:
    def check(value: str) -> str | None:
        if not value.isascii() or not value.isdigit() or int(value) < minimum:
            return f"a whole number >= {minimum}"
        return None

    return check


def _positive_seconds(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return "seconds (a number > 0)"
    if not math.isfinite(number) or number <= 0:
        return "seconds (a number > 0)"
    return None


def _boolean(value: str) -> str | None:
    if value.lower() in _TRUE | _FALSE:
        return None
    return "true or false"


def _any_text(value: str) -> str | None:
    return None


def _cert_reqs(value: str) -> str | None:
    return None if value in _CERT_REQS else f"one of {', '.join(_CERT_REQS)}"


def _existing_file(value: str) -> str | None:
    return None if os.path.isfile(value) else "an existing file"


def _existing_directory(value: str) -> str | None:
    return None if os.path.isdir(value) else "an existing directory"


#: Every ``REDIS_URL`` query option this library passes on to redis-py, with its check; any
#: other is refused at start (redis-py hands an unknown one to the connection, which raises a
#: TypeError at the first command). ``True`` marks the TLS options, valid on rediss:// only.
_URL_OPTIONS: dict[str, tuple[_Check, bool]] = {
    "db": (_count(0), False),
    "socket_timeout": (_positive_seconds, False),
    "socket_connect_timeout": (_positive_seconds, False),
    "socket_keepalive": (_boolean, False),
    "retry_on_timeout": (_boolean, False),
    "health_check_interval": (_count(0), False),  # redis-py reads it as an int
    "max_connections": (_count(1), False),
    "socket_read_size": (_count(1), False),
    "client_name": (_any_text, False),
    "protocol": (lambda value: None if value in ("2", "3") else "2 or 3", False),
    "username": (_any_text, False),
    "password": (_any_text, False),
    "ssl_cert_reqs": (_cert_reqs, True),
    "ssl_check_hostname": (_boolean, True),
    "ssl_ca_certs": (_existing_file, True),
    "ssl_ca_path": (_existing_directory, True),
    "ssl_certfile": (_existing_file, True),
    "ssl_keyfile": (_existing_file, True),
    "ssl_ciphers": (_any_text, True),
}


def _check_url_options(url: str, *, cluster: bool) -> dict[str, str]:
    """ConfigurationError naming the first ``REDIS_URL`` query option (or database path) that
    redis-py would misread: raise on at the first command, or ignore (``redis://host/abc``
    silently used database 0)."""
    parts = urlsplit(url)
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in options:
            raise ConfigurationError(f"REDIS_URL names the option {name!r} twice")
        if name not in _URL_OPTIONS:
            raise ConfigurationError(
                f"REDIS_URL: {name!r} is not a supported option "
                f"(supported: {', '.join(sorted(_URL_OPTIONS))})"
            )
        check, tls_only = _URL_OPTIONS[name]
        if tls_only and parts.scheme != "rediss":
            raise ConfigurationError(
                f"REDIS_URL: the option {name!r} is for TLS connections (rediss://), "
                f"and this URL is {parts.scheme}://"
            )
        wanted = "a value" if not value else check(value)
        if wanted is not None:
            shown = REDACTED if _SECRET_PARAMETER.search(name) else repr(value)
            raise ConfigurationError(
                f"REDIS_URL: the option {name!r} must be {wanted}, not {shown}"
            )
        options[name] = value
    path = unquote(parts.path)
    if path not in ("", "/"):
        database = path[1:]
        if not database.isascii() or not database.isdigit():
            raise ConfigurationError(
                f"REDIS_URL: the path must be a database number (/0), not {path!r}"
            )
        if "db" in options and int(options["db"]) != int(database):
            raise ConfigurationError(
                f"REDIS_URL names database {database} in its path and {options['db']} in ?db="
            )
        options.setdefault("db", database)
    if cluster and int(options.get("db", "0")) != 0:
        raise ConfigurationError(
            f"REDIS_URL names database {options['db']}, but a Redis Cluster has database 0 only "
            "(REDIS_CLUSTER is set)"
        )
    return options


#: Query parameters whose values are secrets (redis-py reads ``?password=``; the rest is caution).
_SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|credential|auth|sig", re.IGNORECASE)
REDACTED = "***"


def redact_url(url: str) -> str:
    """``url`` fit for a log line: every password or token in it replaced by ``***``.

    * ``user:password@`` keeps the user (an identity, not a secret): ``user:***@``;
    * a user with no password may be an access key or token written as the user: ``***@``;
    * ``?password=`` and any parameter named like a secret (token, key, secret, auth, ...);
    * a fragment, and anything that is not a ``scheme://`` URL at all, wholly.

    When in doubt it hides too much: a password holding an unencoded ``/``, ``?`` or ``#``
    makes everything before the last ``@`` disappear, never a piece of the password show.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or not scheme.isascii() or not scheme.isalnum():
        return REDACTED
    userinfo, at, address = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        whole = not colon or any(c in userinfo for c in "/?#")
        userinfo = f"{REDACTED}@" if whole else f"{user}:{REDACTED}@"
    address, hash_sign, _ = address.partition("#")
    address, question, query = address.partition("?")
    if query:
        parameters = []
        for parameter in query.split("&"):
            name, equals, _ = parameter.partition("=")
            secret = equals and _SECRET_PARAMETER.search(unquote(name))
            parameters.append(f"{name}={REDACTED}" if secret else parameter)
        query = "&".join(parameters)
    tail = f"#{REDACTED}" if hash_sign else ""
    return f"{scheme}://{userinfo}{address}{question}{query}{tail}"


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
        return redact_url(self.url)

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
        if entra_auth != "none" and urlsplit(url).username:
            # redis-py refuses a user name beside a credential provider; the provider sends
            # the identity's object ID (from its token) as the user name itself.
            raise ConfigurationError(
                "REDIS_URL names a user but REDIS_ENTRA_AUTH is set: leave the user out, "
                "the Entra ID token names the identity"
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
        cluster = parse_bool(environ, "REDIS_CLUSTER")
        options = _check_url_options(url, cluster=cluster)
        for name in ("username", "password"):
            if entra_auth != "none" and name in options:
                raise ConfigurationError(
                    f"REDIS_URL has ?{name}= but REDIS_ENTRA_AUTH is set: leave it out, "
                    "the Entra ID token names the identity"
                )
        return cls(
            url=url,
            tls_ca_file=tls_ca_file,
            cluster=cluster,
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
