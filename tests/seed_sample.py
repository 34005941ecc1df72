"""The Python sample from the documentation page (../shared/seed/), kept to show its race.

Only its bugs are fixed so that it runs: it returned a dict instead of an HttpResponse
for 409, used ``'${...}'`` inside an f-string, and passed the raw body bytes as input
(the client cannot serialize bytes; the C# and JavaScript samples pass parsed JSON). The
check-then-start logic — the race — is left exactly as published.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    instance_id = req.route_params["instanceId"]
    function_name = req.route_params["functionName"]

    existing_instance = await client.get_status(instance_id)
    if existing_instance.runtime_status in [
        df.OrchestrationRuntimeStatus.Completed,
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
        None,
    ]:
        event_data = req.get_json() if req.get_body() else None
        instance_id = await client.start_new(function_name, instance_id, event_data)
        logging.info(f"Started orchestration with ID = '{instance_id}'.")
        response: func.HttpResponse = client.create_check_status_response(req, instance_id)
        return response
    else:
        return func.HttpResponse(
            f"An instance with ID '{existing_instance.instance_id}' already exists",
            status_code=409,
        )
