"""How payloads travel, exactly as the Durable extension carries them (v2.13.x; v3.x alike).

The host keeps every payload as JSON text and hands it on without re-encoding. A local host
that unwraps or re-encodes anything makes apps work here that break in Azure, so each rule
below is the extension's, read in its source (the file named) and replayed through the real
Python SDK (azure-functions-durable 1.7):

* **Start** (``HttpApiHandler`` StartNew: ``JsonConvert.DeserializeObject(body)`` then
  ``StartNewAsync``): the body's JSON value is the instance input, stored as sent.
  The Python client's ``start_new(n, id, {"order": 7})`` posts ``json=df_dumps(value)``, a JSON
  *string* holding the JSON text, so that string is the input.
* **The orchestrator's input** (``OrchestrationTriggerAttributeBindingProvider``,
  ``GetInputAsJson``): the context's ``input`` is the stored input as a JSON *value*, not as
  text: :func:`context_input`. The SDK's ``get_input()`` then ``df_loads`` it (a dict is
  dumped first), so the client's string decodes to ``{"order": 7}``; a webhook start with an
  object body gives the object. A webhook start whose body is a string (``"alice"``), a number
  or an array makes ``get_input()`` raise (``json.loads`` of ``alice``, of an int, of a list).
  That failure is read in the source and replayed through the SDK here, not seen on Azure.
* **Status** (``DurableClient`` ``ParseToJToken``): the stored input parsed once, so the client's
  start shows the JSON *string* ``'{"order": 7}'`` (durable-python #195) and a webhook start the
  object (``devhost.durable._responses.parse_to_jtoken``).
* **Events** (``HttpApiHandler`` raiseEvent: ``ConvertToJToken(body)``, stored as is): the event's
  ``Input`` is the body's JSON text, which the SDK decodes once. A webhook body ``"alice"``
  arrives as ``'alice'``, ``{"by": "alice"}`` as the dict; the Python client's
  ``raise_event(id, "e", "alice")`` posts ``json=json.dumps(data)``, double-encoded, and the
  orchestrator receives ``'"alice"'`` with its quotes (durable-python #295).
* **Actions** (sub-orchestration and continue-as-new inputs): the worker sends JSON text, which
  the host keeps as a JSON string (``_engine._as_host_input``), so the next context's ``input``
  is that text and ``get_input()`` decodes it once.
"""

from __future__ import annotations

import json
from typing import Any


def context_input(raw_json: str | None) -> Any:
    """The orchestrator context's ``input``: the stored input's JSON value (``None`` when the
    instance has none). The SDK's ``get_input()`` decodes it, or raises as it does in Azure."""
    return None if raw_json is None else json.loads(raw_json)


def get_input_json(raw_json: str | None) -> str | None:
    """For the host's own records (``StartRecord``): the JSON text of what ``get_input()``
    returns for the stored input, where it returns one. The stored text itself where it would
    raise (a webhook start with a string, number or array body), so no record is lost."""
    value = context_input(raw_json)
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return raw_json
        return value
    return raw_json


def body_to_raw_json(body: bytes) -> str | None:
    """A request body as stored JSON text (None when empty); ValueError when not JSON."""
    text = body.decode("utf-8").strip()
    if not text:
        return None
    json.loads(text)
    return text
