"""The start wrapper without a tracer provider (issue 18: no span is made then, to save its
cost): the metrics are still counted, and the body sees the caller's span context, as it
would inside a non-recording span. In a fresh interpreter, since the tests' own session
installs a tracer provider for good (tests/singleton/test_telemetry.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # metrics only

    from singleton._telemetry import _tracing, traced_start

    class Result:
        outcome = "already_running"
        fence = 3

    seen = []

    @traced_start
    async def start(client, orchestrator, instance_id):
        seen.append(trace.get_current_span().get_span_context())
        return Result()

    @traced_start
    async def failing(client, orchestrator, instance_id):
        raise KeyError(instance_id)

    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))

    async def main():
        with trace.use_span(NonRecordingSpan(parent)):
            await start(None, "Orch", "id-1")
            try:
                await failing(None, "Orch", "id-2")
            except KeyError:
                pass

    asyncio.run(main())
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = metric.name + " " + json.dumps(dict(point.attributes), sort_keys=True)
                    points[key] = point.value
    print(json.dumps({
        "tracing": _tracing(),
        "same_context": seen == [parent],
        "points": points,
    }))
    """
)


def test_without_a_tracer_provider_the_metrics_are_still_counted() -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["tracing"] is False
    assert report["same_context"] is True
    assert report["points"] == {
        'durable_singleton.starts {"singleton.orchestrator": "Orch", '
        '"singleton.outcome": "already_running"}': 1,
        'durable_singleton.conflicts {"singleton.outcome": "already_running"}': 1,
        'durable_singleton.starts {"error.type": "KeyError", "singleton.orchestrator": "Orch", '
        '"singleton.outcome": "error"}': 1,
    }
