"""``python -m devhost`` finds the app the way ``func start`` does: in a folder.

``--app FOLDER`` runs ``FOLDER/function_app.py`` (host.json and local.settings.json beside it);
a folder without one, or a missing file, is a one-line error with exit status 1, never a
traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from devhost import AppLoadError, run_devhost
from devhost._loader import resolve_app_reference
from tests.devhost.conftest import APPS

ROOT = Path(__file__).resolve().parents[2]


def test_a_folder_means_its_function_app_py(tmp_path: Path) -> None:
    folder = APPS / "http_basic"
    assert resolve_app_reference(str(folder), tmp_path) == (
        folder / "function_app.py",
        "function_app",
        None,
    )
    assert resolve_app_reference("http_basic", APPS)[0] == folder / "function_app.py"
    assert resolve_app_reference("http_basic:app", APPS)[2] == "app"


def test_a_package_name_is_still_a_module(tmp_path: Path) -> None:
    (tmp_path / "my_app").mkdir()
    (tmp_path / "my_app" / "__init__.py").write_text("")
    assert resolve_app_reference("my_app", tmp_path) == (None, "my_app", None)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (".", "has no function_app.py"),
        ("function_app.py", "function_app.py not found in this folder"),
        ("elsewhere/app.py", "app.py not found at that path"),
    ],
)
def test_no_app_is_a_clear_error(tmp_path: Path, reference: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message) as raised:
        resolve_app_reference(reference, tmp_path)
    assert "--app FOLDER" in str(raised.value)


def test_the_command_line_says_so_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--app", str(tmp_path), "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"devhost: error: {tmp_path} has no function_app.py;")
    assert "Traceback" not in result.stderr


async def test_run_devhost_serves_an_app_given_by_its_folder() -> None:
    async with (
        run_devhost(app_path=APPS / "http_basic", port=0) as host,
        aiohttp.ClientSession() as http,
        http.get(host.url("echo/5")) as response,
    ):
        assert response.status == 200
