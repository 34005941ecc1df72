"""The status read's retry without tenacity on the hot path: the same attempts, waits and
errors as the :data:`STATUS_READ_RETRY` policy it stands for (issue 18)."""

from __future__ import annotations

import asyncio

import pytest
from tenacity import AsyncRetrying, stop_after_attempt

from singleton.starter import _durable
from singleton.starter._durable import STATUS_READ_RETRY, _retried


class Flaky:
    """Fails its first ``failures`` calls with ``error``, then answers."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return value


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(_durable, "_sleep", sleep)
    return slept


async def test_the_default_policy_retries_a_dropped_connection_as_tenacity_would(
    sleeps: list[float],
) -> None:
    call = Flaky(2, asyncio.TimeoutError())

    assert await _retried(STATUS_READ_RETRY, call, "read") == "read"

    assert call.calls == 3
    assert sleeps == [0.05, 0.1]  # wait_exponential(multiplier=0.05, max=0.5)


async def test_the_default_policy_gives_up_after_three_attempts_with_the_error(
    sleeps: list[float],
) -> None:
    error = asyncio.TimeoutError("dropped")
    call = Flaky(5, error)

    with pytest.raises(asyncio.TimeoutError) as raised:
        await _retried(STATUS_READ_RETRY, call, "read")

    assert raised.value is error  # reraise=True: the last error, not a RetryError
    assert call.calls == 3
    assert sleeps == [0.05, 0.1]


async def test_the_default_policy_does_not_retry_other_errors(sleeps: list[float]) -> None:
    call = Flaky(1, ValueError("an answer, not a dropped connection"))

    with pytest.raises(ValueError, match="an answer"):
        await _retried(STATUS_READ_RETRY, call, "read")

    assert call.calls == 1
    assert sleeps == []


async def test_another_policy_still_goes_through_tenacity() -> None:
    from tenacity import retry_if_exception_type

    policy = AsyncRetrying(
        stop=stop_after_attempt(4), retry=retry_if_exception_type(ValueError), reraise=True
    )
    call = Flaky(3, ValueError("retried by this policy"))

    assert await _retried(policy, call, "read") == "read"
    assert call.calls == 4
