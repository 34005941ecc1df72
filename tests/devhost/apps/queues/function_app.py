"""Queue triggers and queue outputs chained: HTTP -> orders-in -> relayed -> record."""

from __future__ import annotations

import json

import azure.functions as func

app = func.FunctionApp()

#: (function, message) for every queue invocation, in order; the tests read it.
SEEN: list[tuple[str, func.QueueMessage]] = []
TICKS: list[func.TimerRequest] = []


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="Orders-In", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@app.queue_trigger(arg_name="msg", queue_name="orders-in", connection="AzureWebJobsStorage")
@app.queue_output(
    arg_name="$return", queue_name="%DEVHOST_TEST_RELAY_QUEUE%", connection="AzureWebJobsStorage"
)
def relay(msg: func.QueueMessage) -> str:
    SEEN.append(("relay", msg))
    return json.dumps({"relayed": msg.get_body().decode()})


@app.queue_trigger(arg_name="msg", queue_name="relayed", connection="AzureWebJobsStorage")
async def record(msg: func.QueueMessage) -> None:
    SEEN.append(("record", msg))


@app.queue_trigger(arg_name="msg", queue_name="fan", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="many", queue_name="relayed", connection="AzureWebJobsStorage")
def fan(msg: func.QueueMessage, many: func.Out[list[str]]) -> None:
    count = int(msg.get_body())
    many.set([f"part-{i}" for i in range(count)])


@app.queue_trigger(arg_name="msg", queue_name="doomed", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="never", connection="AzureWebJobsStorage")
def doomed(msg: func.QueueMessage) -> str:
    SEEN.append(("doomed", msg))
    raise RuntimeError("this function always fails")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="tick")
def yearly(tick: func.TimerRequest) -> None:
    TICKS.append(tick)
