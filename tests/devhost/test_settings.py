"""host.json and local.settings.json handling."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from devhost import HostConfigError, run_devhost
from devhost._settings import HostConfig, load_local_settings, resolve_hub_name
from tests.devhost.conftest import app_file


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_host_json_defaults_when_missing(tmp_path: Path) -> None:
    config = HostConfig.load(tmp_path / "host.json")
    assert (config.route_prefix, config.overridable_states) == ("api", "NonRunningStates")


def test_host_json_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "host.json",
        {
            "version": "2.0",
            "extensions": {
                "http": {"routePrefix": "/v1/"},
                "durableTask": {"hubName": "Hub", "overridableExistingInstanceStates": "AnyState"},
            },
        },
    )
    config = HostConfig.load(path)
    assert (config.route_prefix, config.hub_name, config.overridable_states) == (
        "v1",
        "Hub",
        "AnyState",
    )


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"extensions": {"http": {"routePrefix": 5}}},
        {"extensions": {"http": "api"}},
    ],
)
def test_host_json_invalid_is_a_clear_error(tmp_path: Path, data: object) -> None:
    with pytest.raises(HostConfigError, match=r"host\.json"):
        HostConfig.load(write(tmp_path / "host.json", data))


def test_host_json_unparseable(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text("{ nope", encoding="utf-8")
    with pytest.raises(HostConfigError, match="cannot read"):
        HostConfig.load(path)


def test_local_settings_fill_but_never_override(tmp_path: Path) -> None:
    path = write(
        tmp_path / "local.settings.json",
        {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "FLAG": True}},
    )
    environ = {"B": "from-env"}
    applied = load_local_settings(path, environ)
    assert environ == {"A": "from-file", "B": "from-env", "FLAG": "true"}
    assert applied == {"A": "from-file", "FLAG": "true"}


def test_local_settings_missing_is_fine(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "local.settings.json", {}) == {}


@pytest.mark.parametrize(
    "data",
    [
        {"Values": ["A"]},
        {"Values": {"A": None}},
        {"Values": {"A": {"x": 1}}},
        {"IsEncrypted": True},
    ],
)
def test_local_settings_invalid_is_a_clear_error(tmp_path: Path, data: object) -> None:
    with pytest.raises(HostConfigError, match=r"local\.settings\.json"):
        load_local_settings(write(tmp_path / "local.settings.json", data), {})


async def test_settings_and_embedded_redis_url_are_removed_after_exit() -> None:
    assert "DEVHOST_TEST_FROM_SETTINGS" not in os.environ
    async with run_devhost(app_path=app_file("http_basic"), port=0, out=io.StringIO()) as running:
        assert os.environ["REDIS_URL"] == running.redis_url
        assert os.environ["DEVHOST_TEST_FROM_SETTINGS"] == "from-local-settings"
    assert "DEVHOST_TEST_FROM_SETTINGS" not in os.environ
    assert os.environ.get("REDIS_URL") != running.redis_url


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        (None, {}, "TestHubName"),
        (None, {"WEBSITE_SITE_NAME": "my-app-01"}, "myapp01"),
        (None, {"WEBSITE_SITE_NAME": "9lives"}, "t9lives"),
        (None, {"WEBSITE_SITE_NAME": "a-"}, "aHub"),
        (None, {"WEBSITE_SITE_NAME": "--"}, "DefaultTaskHub"),
        ("%HUB%", {"HUB": "FromSetting"}, "FromSetting"),
        ("MyHub", {"MyHub": "ignored"}, "MyHub"),
    ],
)
def test_hub_name_is_resolved_as_the_extension_does(
    configured: str | None, environ: dict[str, str], expected: str
) -> None:
    # DurableTaskOptions.HubName / ResolveAppSettingOptions, AzureStorageOptions.IsSanitizedHubName
    assert resolve_hub_name(configured, environ) == expected


@pytest.mark.parametrize("configured", ["%MISSING%", "my-hub", "1hub", "ab"])
def test_a_hub_name_the_extension_refuses_fails_the_start(configured: str) -> None:
    # AzureStorageOptions.ValidateHubName
    with pytest.raises(HostConfigError, match="should contain only alphanumeric characters"):
        resolve_hub_name(configured, {})


async def test_the_backend_gets_the_hub_from_an_app_setting(tmp_path: Path) -> None:
    write(
        tmp_path / "host.json",
        {"version": "2.0", "extensions": {"durableTask": {"hubName": "%MY_HUB%"}}},
    )
    write(
        tmp_path / "local.settings.json", {"IsEncrypted": False, "Values": {"MY_HUB": "Resolved"}}
    )
    (tmp_path / "function_app.py").write_text(
        "import azure.durable_functions as df\napp = df.DFApp()\n", encoding="utf-8"
    )
    environ: dict[str, str] = {}
    async with run_devhost(app_path=tmp_path / "function_app.py", environ=environ) as running:
        assert running.backend.hub_name == "Resolved"
        binding = json.loads(running.backend.client_binding(running.base_url))
    assert binding["taskHubName"] == "Resolved"
