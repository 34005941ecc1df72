"""Service Bus outputs feeding topic subscriptions and queues, and a consumer that always fails."""

from __future__ import annotations

import asyncio

import azure.functions as func

app = func.FunctionApp()

#: (function, message) for every Service Bus invocation; the tests read it.
SEEN: list[tuple[str, func.ServiceBusMessage]] = []
CONCURRENT = [0, 0]  # now, peak
BUS = "ServiceBusConnection"


@app.route(route="orders", methods=["POST"])
@app.service_bus_topic_output(arg_name="out", topic_name="Orders", connection=BUS)
def place_order(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@app.service_bus_topic_trigger(
    arg_name="msg", topic_name="orders", subscription_name="billing", connection=BUS
)
@app.service_bus_queue_output(arg_name="$return", queue_name="invoices", connection=BUS)
def bill(msg: func.ServiceBusMessage) -> str:
    SEEN.append(("bill", msg))
    return "invoice for " + msg.get_body().decode()


@app.service_bus_topic_trigger(
    arg_name="msg", topic_name="orders", subscription_name="shipping", connection=BUS
)
def ship(msg: func.ServiceBusMessage) -> None:
    SEEN.append(("ship", msg))


@app.service_bus_queue_trigger(arg_name="msg", queue_name="invoices", connection=BUS)
def file_invoice(msg: func.ServiceBusMessage) -> None:
    SEEN.append(("file_invoice", msg))


@app.service_bus_queue_trigger(arg_name="msg", queue_name="doomed", connection=BUS)
def doomed(msg: func.ServiceBusMessage) -> None:
    SEEN.append(("doomed", msg))
    raise RuntimeError("this function always fails")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="slow", connection=BUS)
async def slow(msg: func.ServiceBusMessage) -> None:
    CONCURRENT[0] += 1
    CONCURRENT[1] = max(CONCURRENT)
    await asyncio.sleep(0.05)
    CONCURRENT[0] -= 1
    SEEN.append(("slow", msg))


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="sessions", connection=BUS, is_sessions_enabled=True
)
def in_session(msg: func.ServiceBusMessage) -> None:
    raise AssertionError("never run locally")
