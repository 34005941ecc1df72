"""The README's @singleton queue example, instrumented, plus an on_busy="fail" consumer."""

from __future__ import annotations

import threading
import time

import azure.functions as func

from singleton import singleton

app = func.FunctionApp()

LOCK = threading.Lock()
#: (customerId, order, start, end) of every handle_order run.
RUNS: list[tuple[str, int, float, float]] = []
HOLDING = threading.Event()
RELEASE = threading.Event()
BUSY_RAN: list[bytes] = []


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@singleton("{customerId}")  # waits for the customer's previous order
def handle_order(msg: func.QueueMessage) -> None:  # sync: runs in a thread, lease held
    order = msg.get_json()
    start = time.monotonic()
    time.sleep(0.05)
    with LOCK:
        RUNS.append((order["customerId"], order["order"], start, time.monotonic()))


@app.queue_trigger(arg_name="msg", queue_name="hold", connection="AzureWebJobsStorage")
@singleton("{customerId}", name="customer-work")
def hold(msg: func.QueueMessage) -> None:
    HOLDING.set()
    RELEASE.wait(timeout=60)


@app.queue_trigger(arg_name="msg", queue_name="busy", connection="AzureWebJobsStorage")
@singleton("{customerId}", name="customer-work", on_busy="fail")
def busy(msg: func.QueueMessage) -> None:
    BUSY_RAN.append(msg.get_body())
