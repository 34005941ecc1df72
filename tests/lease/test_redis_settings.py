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


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # Each read by redis-py only at the first command (TypeError/ValueError) or never.
        ("redis://h/0?socket_timeout=abc", r"'socket_timeout' must be seconds .*, not 'abc'"),
        ("redis://h/0?socket_timeout=-1", r"'socket_timeout' must be seconds"),
        ("redis://h/0?ssl_cert_reqs=none", r"'ssl_cert_reqs' is for TLS connections \(rediss://\)"),
        ("rediss://h/0?ssl_cert_reqs=None", r"'ssl_cert_reqs' must be one of none, optional"),
        ("redis://h/abc", r"the path must be a database number \(/0\), not '/abc'"),
        ("redis://h/-1", r"the path must be a database number"),
        ("redis://h/1?db=2", r"database 1 in its path and 2 in \?db="),
        ("redis://h?db=x", r"'db' must be a whole number >= 0, not 'x'"),
        ("redis://h?health_check_interval=0.5", r"'health_check_interval' must be a whole"),
        ("redis://h?max_connections=0", r"'max_connections' must be a whole number >= 1"),
        ("redis://h?socket_keepalive=off", r"'socket_keepalive' must be true or false"),
        ("redis://h?protocol=4", r"'protocol' must be 2 or 3"),
        ("redis://h?socket_timeout=", r"'socket_timeout' must be a value"),
        ("redis://h?db=1&db=1", r"names the option 'db' twice"),
        ("redis://h?retry=3", r"'retry' is not a supported option \(supported: client_name, db"),
        ("redis://h?password=", r"'password' must be a value, not \*\*\*"),
        ("rediss://h?ssl_ca_certs=/nonexistent.pem", r"'ssl_ca_certs' must be an existing file"),
    ],
)
def test_every_url_option_is_checked_at_start_naming_it(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisSettings.from_environ({"REDIS_URL": url})


def test_the_url_option_checks_keep_secrets_out_of_the_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisSettings.from_environ({"REDIS_URL": "redis://h?password=hunter2&bogus=1"})
    assert "hunter2" not in str(caught.value)


def test_a_cluster_has_database_zero_only() -> None:
    with pytest.raises(ConfigurationError, match="a Redis Cluster has database 0 only"):
        RedisSettings.from_environ({"REDIS_URL": "redis://h/3", "REDIS_CLUSTER": "true"})
    RedisSettings.from_environ({"REDIS_URL": "redis://h/0", "REDIS_CLUSTER": "true"})


def test_entra_auth_refuses_a_password_in_the_query() -> None:
    with pytest.raises(ConfigurationError, match=r"\?password= but REDIS_ENTRA_AUTH is set"):
        RedisSettings.from_environ(
            {"REDIS_URL": "rediss://h?password=x", "REDIS_ENTRA_AUTH": "managed-identity"}
        )


@pytest.mark.parametrize(
    "url",
    [
        "redis://h",
        "redis://h/",
        "redis://h/15",
        "redis://h/2?db=2&socket_timeout=0.5&socket_connect_timeout=2&socket_keepalive=no",
        "redis://h?health_check_interval=10&max_connections=5&client_name=app&protocol=3",
        "redis://h?retry_on_timeout=True&socket_read_size=65536&username=u&password=p",
        "rediss://h?ssl_cert_reqs=required&ssl_check_hostname=false&ssl_ciphers=HIGH",
    ],
)
def test_good_url_options_are_accepted(url: str) -> None:
    assert RedisSettings.from_environ({"REDIS_URL": url}).url == url
