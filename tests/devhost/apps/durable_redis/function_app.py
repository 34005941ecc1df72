"""A DFApp with an HTTP starter, an orchestrator, an activity and a Redis probe."""

from __future__ import annotations

import json
import os

import azure.durable_functions as df
import azure.functions as func
import redis.asyncio as aioredis

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Read at import time on purpose: devhost must export REDIS_URL before importing the app.
REDIS_URL_AT_IMPORT = os.environ.get("REDIS_URL")


@app.route(route="orchestrators/{functionName}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params["instanceId"], req.get_json()
    )
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    name = context.get_input()
    result = yield context.call_activity("say_hello", name)
    return result


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}"


_PROBE_SCRIPT = (
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000); return redis.call('GET', KEYS[1])"
)


@app.route(route="redis-probe", methods=["GET"])
async def redis_probe(req: func.HttpRequest) -> func.HttpResponse:
    client = aioredis.from_url(os.environ["REDIS_URL"])
    try:
        first = await client.set("probe:lease", "token-1", nx=True, px=5000)
        second = await client.set("probe:lease", "token-2", nx=True, px=5000)
        evaluated = await client.eval(_PROBE_SCRIPT, 1, "probe:lua", "from-lua")
        sha = await client.script_load(_PROBE_SCRIPT)
        by_sha = await client.evalsha(sha, 1, "probe:sha", "from-sha")
        pubsub = client.pubsub()
        await pubsub.subscribe("probe:channel")
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        receivers = await client.publish("probe:channel", "ping")
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        await pubsub.aclose()
        try:
            wait_result: object = await client.wait(0, 100)
        except Exception as exc:
            wait_result = f"error: {exc}"
        body = {
            "url": os.environ["REDIS_URL"],
            "url_at_import": REDIS_URL_AT_IMPORT,
            "set_nx_first": bool(first),
            "set_nx_second": bool(second),
            "eval": evaluated.decode(),
            "evalsha": by_sha.decode(),
            "published_to": receivers,
            "message": message["data"].decode() if message else None,
            "wait": wait_result,
        }
    finally:
        await client.aclose()
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
