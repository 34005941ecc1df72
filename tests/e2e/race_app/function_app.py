"""The app plus the documentation's sample starter, side by side on one host.

``POST /api/orchestrators/{functionName}/{instanceId}`` is ours;
``POST /api/seed/orchestrators/{functionName}/{instanceId}`` is the published sample,
bound as it was written: it receives the raw client binding string and builds the client.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from examples.orchestrations import blueprint as examples_blueprint
from singleton.functions.http import blueprint as starter_blueprint
from tests import seed_sample

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(starter_blueprint)
app.register_functions(examples_blueprint)


@app.function_name("SeedSampleStart")
@app.route(route="seed/orchestrators/{functionName}/{instanceId}", methods=["POST"])
@app.generic_input_binding(arg_name="starter", type="durableClient")
async def seed_sample_start(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await seed_sample.main(req, starter)
