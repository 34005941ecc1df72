"""OpenTelemetry spans and metrics of real starts (real Redis, real Durable client and backend),
read back through the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from singleton import (
    LeaseLost,
    LeasePolicy,
    Leases,
    LeaseUnavailable,
    Outcome,
    SingletonStarter,
)
from singleton._telemetry import DEFAULT_POLICY
from tests.redis_servers import free_port
from tests.singleton.durable_app import ECHO, WAIT_FOR_FINISH
from tests.singleton.harness import HUB, DurableHost

pytestmark = pytest.mark.redis

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def sdk() -> None:
    """The SDK, installed once per process (OpenTelemetry's providers are set only once)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_SPANS))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _SPANS.clear()
    return _SPANS


def _points(name: str) -> dict[frozenset[tuple[str, Any]], Any]:
    """The current points of metric ``name`` by attribute set (cumulative since the start)."""
    data = _METRICS.get_metrics_data()
    points: dict[frozenset[tuple[str, Any]], Any] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            if scope.scope.name != "durable-singleton":
                continue
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        points[frozenset(point.attributes.items())] = point
    return points


def _sum(name: str, **attributes: Any) -> float:
    """Sum of counter ``name`` over the points carrying ``attributes``."""
    wanted = set(attributes.items())
    return sum(p.value for a, p in _points(name).items() if wanted <= a)


def _histogram(name: str, **attributes: Any) -> tuple[int, float]:
    wanted = set(attributes.items())
    found = [p for a, p in _points(name).items() if wanted <= a]
    return sum(p.count for p in found), sum(p.sum for p in found)


def _start_span(spans: InMemorySpanExporter) -> ReadableSpan:
    [span] = [s for s in spans.get_finished_spans() if s.name == "singleton.start"]
    return span


async def test_a_started_start_is_one_span_and_counted(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    before = _sum("durable_singleton.starts", **{"singleton.outcome": "started"})
    result = await starter.start(durable.client(), ECHO, "otel-started", 1)
    assert result.outcome is Outcome.STARTED
    span = _start_span(spans)
    assert dict(span.attributes or {}) == {
        "singleton.instance_id": "otel-started",
        "singleton.orchestrator": ECHO,
        "singleton.policy": DEFAULT_POLICY,
        "singleton.outcome": "started",
        "singleton.fence": result.fence,
    }
    assert span.status.is_ok
    assert _sum("durable_singleton.starts", **{"singleton.outcome": "started"}) == before + 1
    assert durable.started("otel-started") == 1


async def test_names_passed_by_keyword_are_named_too(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    result = await starter.start(
        client=durable.client(), orchestrator=ECHO, instance_id="otel-keywords"
    )
    attributes = _start_span(spans).attributes or {}
    assert attributes["singleton.instance_id"] == "otel-keywords"
    assert attributes["singleton.orchestrator"] == ECHO
    assert attributes["singleton.outcome"] == result.outcome.value


async def test_a_call_that_does_not_fit_raises_outside_any_span(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    errors = _sum("durable_singleton.starts", **{"singleton.outcome": "error"})
    with pytest.raises(TypeError):
        await starter.start(durable.client(), ECHO, "otel-misfit", colour="blue")  # type: ignore[call-arg]
    assert [s for s in spans.get_finished_spans() if s.name == "singleton.start"] == []
    assert _sum("durable_singleton.starts", **{"singleton.outcome": "error"}) == errors
    assert durable.started("otel-misfit") == 0


async def test_already_running_is_a_conflict(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    await starter.start(durable.client(), WAIT_FOR_FINISH, "otel-running")
    spans.clear()
    before = _sum("durable_singleton.conflicts", **{"singleton.outcome": "already_running"})
    result = await starter.start(durable.client(), WAIT_FOR_FINISH, "otel-running")
    assert result.outcome is Outcome.ALREADY_RUNNING
    attributes = _start_span(spans).attributes or {}
    assert attributes["singleton.outcome"] == "already_running"
    assert attributes["singleton.fence"] == result.fence  # decided under the lease
    conflicts = _sum("durable_singleton.conflicts", **{"singleton.outcome": "already_running"})
    assert conflicts == before + 1
    assert durable.started("otel-running") == 1


async def test_the_span_names_the_policies_the_caller_asked_for(
    durable: DurableHost, starter: SingletonStarter, spans: InMemorySpanExporter
) -> None:
    await starter.start(durable.client(), WAIT_FOR_FINISH, "otel-policy")
    spans.clear()
    result = await starter.start(
        durable.client(), WAIT_FOR_FINISH, "otel-policy", conflict="use-existing", reuse="reject"
    )
    assert result.outcome is Outcome.USED_EXISTING
    attributes = _start_span(spans).attributes or {}
    assert attributes["singleton.policy"] == "conflict=use-existing,reuse=reject"
    assert attributes["singleton.outcome"] == "used_existing"
    assert durable.started("otel-policy") == 1


async def test_a_busy_lease_records_its_wait_and_a_busy_conflict(
    durable: DurableHost, starter: SingletonStarter, leases: Leases, spans: InMemorySpanExporter
) -> None:
    held = await leases.acquire(f"{HUB}/otel-busy")
    waits, waited = _histogram(
        "durable_singleton.lease.wait", **{"singleton.lease.acquired": False}
    )
    busy = _sum("durable_singleton.conflicts", **{"singleton.outcome": "busy"})
    result = await starter.start(durable.client(), ECHO, "otel-busy", wait=0.2)
    await held.release()
    assert result.outcome is Outcome.BUSY
    assert (_start_span(spans).attributes or {})["singleton.outcome"] == "busy"
    assert _sum("durable_singleton.conflicts", **{"singleton.outcome": "busy"}) == busy + 1
    count, total = _histogram("durable_singleton.lease.wait", **{"singleton.lease.acquired": False})
    assert count == waits + 1
    assert 0.2 <= total - waited < 1.0
    assert durable.started("otel-busy") == 0


async def test_a_wait_that_gets_the_lease_is_recorded_as_acquired(
    durable: DurableHost, starter: SingletonStarter, leases: Leases
) -> None:
    held = await leases.acquire(f"{HUB}/otel-waited")
    waits, waited = _histogram("durable_singleton.lease.wait", **{"singleton.lease.acquired": True})

    async def release_soon() -> None:
        await asyncio.sleep(0.15)
        await held.release()

    releasing = asyncio.create_task(release_soon())
    result = await starter.start(durable.client(), ECHO, "otel-waited", wait=2)
    await releasing
    assert result.outcome is Outcome.STARTED
    count, total = _histogram("durable_singleton.lease.wait", **{"singleton.lease.acquired": True})
    assert count == waits + 1
    assert 0.1 <= total - waited < 1.0


async def test_redis_down_is_an_error_span_and_a_redis_error(
    durable: DurableHost, spans: InMemorySpanExporter
) -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    leases = Leases(client, namespace="otel-down")
    errors = _sum("durable_singleton.redis.errors", **{"singleton.redis.operation": "acquire"})
    failed = _sum(
        "durable_singleton.starts",
        **{"singleton.outcome": "error", "error.type": "LeaseUnavailable"},
    )
    with pytest.raises(LeaseUnavailable):
        await SingletonStarter(leases=leases).start(durable.client(), ECHO, "otel-down")
    await leases.aclose()
    await client.aclose()
    span = _start_span(spans)
    assert (span.attributes or {})["singleton.outcome"] == "error"
    assert (span.attributes or {})["error.type"] == "LeaseUnavailable"
    assert not span.status.is_ok
    assert [event.name for event in span.events] == ["exception"]
    assert (
        _sum("durable_singleton.redis.errors", **{"singleton.redis.operation": "acquire"})
        == errors + 1
    )
    assert (
        _sum(
            "durable_singleton.starts",
            **{"singleton.outcome": "error", "error.type": "LeaseUnavailable"},
        )
        == failed + 1
    )
    assert durable.started("otel-down") == 0


async def test_a_lost_lease_is_counted(redis_client: aioredis.Redis) -> None:
    leases = Leases(redis_client, namespace="otel-lost", policy=LeasePolicy(ttl=0.3))
    lost = _sum("durable_singleton.leases.lost")

    async def hold_while_deleted() -> None:
        async with leases.hold("x") as lease:
            await redis_client.delete(lease.key)  # an operator, or a flush
            await asyncio.sleep(1)  # the renewal finds it gone and cancels us

    with pytest.raises(LeaseLost):
        await hold_while_deleted()
    await leases.aclose()
    assert _sum("durable_singleton.leases.lost") == lost + 1


def test_without_an_sdk_telemetry_is_a_no_op() -> None:
    """In a fresh interpreter with no SDK installed: the decorated start still answers, and the
    span it gets records nothing."""
    code = """
import asyncio
from opentelemetry import trace
from singleton import _telemetry

class Result:
    outcome = "started"
    fence = 7

@_telemetry.traced_start
async def start(orchestrator, instance_id):
    span = trace.get_current_span()
    assert not span.is_recording(), span
    return Result()

assert asyncio.run(start("O", "i")).fence == 7
_telemetry.lease_lost()
_telemetry.redis_error("acquire")
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
