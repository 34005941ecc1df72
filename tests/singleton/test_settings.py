"""App settings: defaults, strict parsing, errors that name the setting."""

from __future__ import annotations

import pytest

from singleton import ConfigurationError, Settings

URL = {"REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_defaults_need_only_the_redis_url() -> None:
    settings = Settings.from_environ(URL)

    assert settings.redis.url == URL["REDIS_URL"]
    assert settings.lease_ttl == 15.0
    assert settings.lease_wait == 5.0
    assert settings.key_prefix == "durable-singleton"
    assert settings.min_replicas == 0


def test_every_setting_is_read() -> None:
    settings = Settings.from_environ(
        {
            **URL,
            "SINGLETON_LEASE_TTL": "2.5",
            "SINGLETON_LEASE_WAIT": "0",
            "SINGLETON_KEY_PREFIX": "orders-app",
            "SINGLETON_MIN_REPLICAS": "1",
        }
    )

    assert (settings.lease_ttl, settings.lease_wait) == (2.5, 0.0)
    assert settings.key_prefix == "orders-app"
    assert settings.min_replicas == 1


def test_a_missing_redis_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        Settings.from_environ({})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SINGLETON_LEASE_TTL", "soon"),
        ("SINGLETON_LEASE_TTL", "0"),
        ("SINGLETON_LEASE_TTL", "-1"),
        ("SINGLETON_LEASE_TTL", "nan"),
        ("SINGLETON_LEASE_TTL", "inf"),
        ("SINGLETON_LEASE_WAIT", "-0.5"),
        ("SINGLETON_MIN_REPLICAS", "1.5"),
        ("SINGLETON_MIN_REPLICAS", "-1"),
        ("SINGLETON_KEY_PREFIX", "has space"),
        ("SINGLETON_KEY_PREFIX", "{tag}"),
        ("SINGLETON_KEY_PREFIX", "x" * 65),
    ],
)
def test_malformed_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**URL, name: value})
