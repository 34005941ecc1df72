"""Blob outputs feeding blob triggers, a blob input, and a blob trigger that always fails."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()

#: (function, blob name, body, extra) for every blob invocation; the tests read it.
SEEN: list[tuple[str, str | None, bytes, object]] = []
STORAGE = "AzureWebJobsStorage"


@app.route(route="upload/{id}", methods=["POST"])
@app.blob_output(arg_name="out", path="inbox/{id}.json", connection=STORAGE)
def upload(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=201)


@app.blob_trigger(arg_name="blob", path="inbox/{id}.json", connection=STORAGE)
@app.blob_input(arg_name="note", path="notes/{id}.txt", connection=STORAGE)
@app.blob_output(arg_name="$return", path="outbox/{id}.txt", connection=STORAGE)
def on_inbox(blob: func.InputStream, note: str | None) -> str:
    body = blob.read()
    SEEN.append(("on_inbox", blob.name, body, note))
    return f"processed {blob.name} ({blob.length} bytes)"


@app.blob_trigger(arg_name="blob", path="outbox/{name}", connection=STORAGE)
def on_outbox(blob: func.InputStream) -> None:
    SEEN.append(("on_outbox", blob.name, blob.read(), None))


@app.blob_trigger(arg_name="blob", path="failing/{name}", connection=STORAGE)
def on_failing(blob: func.InputStream) -> None:
    SEEN.append(("on_failing", blob.name, blob.read(), None))
    raise RuntimeError("this function always fails")
