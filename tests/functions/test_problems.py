"""The Functions adapters share their problem answers from ``functions/_problems.py`` (issue
15): ``@singleton`` no longer imports the starter's HTTP blueprint module (which builds a
Durable Blueprint at import) to reuse three helpers."""

from __future__ import annotations

import json
import subprocess
import sys

from singleton._errors import ConfigurationError
from singleton.functions import _problems, admin, decorator, http


def test_the_decorator_does_not_import_the_starters_http_module() -> None:
    code = (
        "import sys, singleton.functions.decorator, singleton.functions.admin\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'singleton.functions.http'"
        " or m.startswith('azure.durable_functions'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == []


def test_every_adapter_answers_with_the_same_helpers() -> None:
    for module in (http, admin, decorator):
        assert module.problem is _problems.problem  # type: ignore[attr-defined]
        assert module.misconfigured is _problems.misconfigured  # type: ignore[attr-defined]
    # The starter and the admin endpoint answer their 503s with the configured Retry-After
    # (SINGLETON_RETRY_AFTER) through problem(); @singleton uses the shared retry_later.
    assert decorator.retry_later is _problems.retry_later  # type: ignore[attr-defined]
    assert not hasattr(http, "retry_later")
    assert not hasattr(admin, "retry_later")


def test_the_shared_answers() -> None:
    answer = _problems.retry_later("lease-lost", "Lost", "generic", scope="c1")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(_problems.RETRY_AFTER_SECONDS)
    assert answer.mimetype == _problems.PROBLEM_JSON
    body = json.loads(answer.get_body())
    assert body == {
        "type": "urn:durable-singleton:problem:lease-lost",
        "title": "Lost",
        "status": 503,
        "detail": "generic",
        "scope": "c1",
    }
    error = ConfigurationError("REDIS_URL 'redis://secret-host:6379' is malformed")
    detail = json.loads(_problems.misconfigured(error).get_body())["detail"]
    assert "app setting REDIS_URL" in detail
    assert "secret-host" not in detail
