"""Helpers for the local-host tests: the test apps and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

APPS = Path(__file__).parent / "apps"


def app_file(name: str) -> Path:
    """The function_app.py of one of the small test apps in tests/devhost/apps/."""
    path = APPS / name / "function_app.py"
    assert path.is_file(), path
    return path


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
