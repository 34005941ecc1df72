"""SINGLETON_WATCHDOG_MAX_IDS: parsed strictly, and it reaches the default starter's watchdog."""

from __future__ import annotations

import pytest

from singleton import ConfigurationError, Settings


def test_the_default_bound_is_1000() -> None:
    assert Settings.from_environ({"REDIS_URL": "redis://127.0.0.1:6379"}).watchdog_max_ids == 1000


def test_the_bound_comes_from_the_app_setting() -> None:
    environ = {"REDIS_URL": "redis://127.0.0.1:6379", "SINGLETON_WATCHDOG_MAX_IDS": "5"}
    assert Settings.from_environ(environ).watchdog_max_ids == 5


@pytest.mark.parametrize("raw", ["0", "-3", "1.5", "many"])
def test_a_bad_bound_names_the_setting(raw: str) -> None:
    environ = {"REDIS_URL": "redis://127.0.0.1:6379", "SINGLETON_WATCHDOG_MAX_IDS": raw}
    with pytest.raises(ConfigurationError, match="SINGLETON_WATCHDOG_MAX_IDS"):
        Settings.from_environ(environ)
