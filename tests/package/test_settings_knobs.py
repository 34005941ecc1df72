"""The knobs that were constants or read per request are Settings fields, read once."""

from __future__ import annotations

import pytest

from singleton import ConfigurationError, Settings
from singleton._runtime import default_settings
from singleton.starter._starter import DEFAULT_TERMINATE_WAIT

URL = {"REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_defaults_are_todays_values() -> None:
    settings = Settings.from_environ(URL)

    assert settings.max_body_bytes == 1024 * 1024
    assert settings.terminate_wait == 10.0 == DEFAULT_TERMINATE_WAIT
    assert settings.retry_after == 5
    assert settings.busy_retry_after == 1


def test_each_knob_is_read() -> None:
    settings = Settings.from_environ(
        {
            **URL,
            "SINGLETON_MAX_BODY_BYTES": "2048",
            "SINGLETON_TERMINATE_WAIT": "2.5",
            "SINGLETON_RETRY_AFTER": "30",
            "SINGLETON_BUSY_RETRY_AFTER": "3",
        }
    )

    assert settings.max_body_bytes == 2048
    assert settings.terminate_wait == 2.5
    assert (settings.retry_after, settings.busy_retry_after) == (30, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SINGLETON_MAX_BODY_BYTES", "lots"),
        ("SINGLETON_MAX_BODY_BYTES", "0"),
        ("SINGLETON_MAX_BODY_BYTES", "1.5"),
        ("SINGLETON_TERMINATE_WAIT", "forever"),
        ("SINGLETON_TERMINATE_WAIT", "0"),
        ("SINGLETON_TERMINATE_WAIT", "inf"),
        ("SINGLETON_RETRY_AFTER", "0"),
        ("SINGLETON_RETRY_AFTER", "2.5"),
        ("SINGLETON_BUSY_RETRY_AFTER", "-1"),
        ("SINGLETON_BUSY_RETRY_AFTER", "soon"),
    ],
)
def test_a_malformed_knob_is_an_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**URL, name: value})


async def test_the_default_runtime_reads_them_once_and_hands_them_to_the_starter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from singleton import close_default_starter, default_starter

    await close_default_starter()
    monkeypatch.setenv("REDIS_URL", URL["REDIS_URL"])  # no connection is made to build it
    monkeypatch.setenv("SINGLETON_TERMINATE_WAIT", "3")
    monkeypatch.setenv("SINGLETON_MAX_BODY_BYTES", "100")
    try:
        settings = default_settings()
        monkeypatch.setenv("SINGLETON_MAX_BODY_BYTES", "200")  # read once: no effect now

        assert default_settings() is settings
        assert settings.max_body_bytes == 100
        assert default_starter()._terminate_wait == 3.0
    finally:
        await close_default_starter()


def test_the_example_local_settings_are_the_defaults() -> None:
    import json
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "local.settings.example.json"
    values = json.loads(example.read_text(encoding="utf-8"))["Values"]
    knobs = {k: v for k, v in values.items() if k.startswith("SINGLETON_")}
    assert {"SINGLETON_TERMINATE_WAIT", "SINGLETON_RETRY_AFTER"} <= set(knobs)

    assert Settings.from_environ({**URL, **knobs}) == Settings.from_environ(URL)
