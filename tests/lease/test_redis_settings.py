"""RedisSettings.from_environ: strict parsing, errors that name the setting, no secrets shown."""

from __future__ import annotations

import pytest

from singleton._errors import ConfigurationError
from singleton._redis import RedisSettings

URL = "redis://127.0.0.1:6379/0"


def test_only_the_url_is_required_and_the_rest_has_defaults() -> None:
    settings = RedisSettings.from_environ({"REDIS_URL": URL})
    assert settings.url == URL
    assert settings.cluster is False
    assert settings.entra_auth == "none"
    assert settings.socket_timeout == 5.0
    assert settings.retries == 3
    assert settings.health_check_interval == 30.0


def test_every_setting_is_read() -> None:
    settings = RedisSettings.from_environ(
        {
            "REDIS_URL": "rediss://cache.example:6380/0",
            "REDIS_CLUSTER": "yes",
            "REDIS_ENTRA_AUTH": "service-principal",
            "REDIS_ENTRA_CLIENT_ID": "app-id",
            "REDIS_ENTRA_TENANT_ID": "tenant",
            "REDIS_ENTRA_CLIENT_SECRET": "s3cret",
            "REDIS_SOCKET_TIMEOUT": "2.5",
            "REDIS_CONNECT_TIMEOUT": "1",
            "REDIS_RETRIES": "5",
            "REDIS_RETRY_BACKOFF_BASE": "0.01",
            "REDIS_RETRY_BACKOFF_CAP": "0.5",
            "REDIS_HEALTH_CHECK_INTERVAL": "60",
            "REDIS_MAX_CONNECTIONS": "10",
        }
    )
    assert settings.cluster is True
    assert (settings.entra_client_id, settings.entra_tenant_id) == ("app-id", "tenant")
    assert settings.entra_client_secret == "s3cret"
    assert (settings.socket_timeout, settings.connect_timeout, settings.retries) == (2.5, 1.0, 5)
    assert (settings.backoff_base, settings.backoff_cap) == (0.01, 0.5)
    assert (settings.health_check_interval, settings.max_connections) == (60.0, 10)


@pytest.mark.parametrize(
    ("host", "port"),
    [("mycache.redis.cache.windows.net", 6380), ("mine.westeurope.redis.azure.net", 10000)],
)
def test_azure_hosts_get_their_tls_port_when_none_is_named(host: str, port: int) -> None:
    settings = RedisSettings.from_environ({"REDIS_URL": f"rediss://{host}"})
    assert settings.url == f"rediss://{host}:{port}"


def test_secrets_are_not_in_the_repr() -> None:
    settings = RedisSettings.from_environ(
        {
            "REDIS_URL": "rediss://user:hunter2@cache.example:6380",
        }
    )
    assert "hunter2" not in repr(settings)
    assert settings.redacted_url == "rediss://user:***@cache.example:6380"
    principal = RedisSettings.from_environ(
        {
            "REDIS_URL": URL,
            "REDIS_ENTRA_AUTH": "service-principal",
            "REDIS_ENTRA_CLIENT_ID": "a",
            "REDIS_ENTRA_TENANT_ID": "t",
            "REDIS_ENTRA_CLIENT_SECRET": "hunter2",
        }
    )
    assert "hunter2" not in repr(principal)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "REDIS_URL is required"),
        ({"REDIS_URL": "  "}, "REDIS_URL is required"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must start with redis:// or rediss://"),
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL must start with"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL names no host"),
        ({"REDIS_URL": "redis://127.0.0.1:notaport"}, "REDIS_URL is malformed"),
        ({"REDIS_URL": "redis://mycache.redis.cache.windows.net:6379"}, "only takes TLS"),
        ({"REDIS_URL": URL, "REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER must be true or false"),
        ({"REDIS_URL": URL, "REDIS_ENTRA_AUTH": "kerberos"}, "REDIS_ENTRA_AUTH must be one of"),
        (
            {"REDIS_URL": "redis://:pw@127.0.0.1", "REDIS_ENTRA_AUTH": "default"},
            "carries a password but REDIS_ENTRA_AUTH",
        ),
        (
            {
                "REDIS_URL": "rediss://object-id@x.redis.cache.windows.net",
                "REDIS_ENTRA_AUTH": "default",
            },
            "names a user but REDIS_ENTRA_AUTH",
        ),
        (
            {"REDIS_URL": URL, "REDIS_ENTRA_AUTH": "service-principal"},
            "REDIS_ENTRA_CLIENT_ID is required",
        ),
        (
            {
                "REDIS_URL": URL,
                "REDIS_ENTRA_AUTH": "service-principal",
                "REDIS_ENTRA_CLIENT_ID": "a",
                "REDIS_ENTRA_TENANT_ID": "t",
            },
            "REDIS_ENTRA_CLIENT_SECRET is required",
        ),
        (
            {"REDIS_URL": URL, "REDIS_SOCKET_TIMEOUT": "soon"},
            "REDIS_SOCKET_TIMEOUT must be a number",
        ),
        ({"REDIS_URL": URL, "REDIS_SOCKET_TIMEOUT": "0"}, "REDIS_SOCKET_TIMEOUT must be at least"),
        (
            {"REDIS_URL": URL, "REDIS_SOCKET_TIMEOUT": "nan"},
            "REDIS_SOCKET_TIMEOUT must be at least",
        ),
        ({"REDIS_URL": URL, "REDIS_RETRIES": "2.5"}, "REDIS_RETRIES must be a whole number"),
        ({"REDIS_URL": URL, "REDIS_RETRIES": "-1"}, "REDIS_RETRIES must be at least 0"),
        (
            {"REDIS_URL": URL, "REDIS_MAX_CONNECTIONS": "0"},
            "REDIS_MAX_CONNECTIONS must be at least",
        ),
        (
            {"REDIS_URL": URL, "REDIS_RETRY_BACKOFF_BASE": "2", "REDIS_RETRY_BACKOFF_CAP": "1"},
            "REDIS_RETRY_BACKOFF_CAP must be at least REDIS_RETRY_BACKOFF_BASE",
        ),
        ({"REDIS_URL": URL, "REDIS_TLS_CA_FILE": "/tmp/ca.pem"}, "REDIS_URL is not rediss://"),
        (
            {"REDIS_URL": "rediss://127.0.0.1", "REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"},
            "REDIS_TLS_CA_FILE '/nonexistent/ca.pem' is not a file",
        ),
    ],
)
def test_bad_settings_raise_configuration_error_naming_the_setting(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisSettings.from_environ(environ)
