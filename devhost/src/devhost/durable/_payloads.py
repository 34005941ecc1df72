"""How inputs travel: the host stores raw JSON, the Python SDK wants JSON text it can decode.

The Python client posts ``json=df_dumps(value)``: the request body is a JSON *string* holding
the JSON text. The host keeps that body as the instance input (so the status API shows a
string), and the orchestrator's ``get_input()`` decodes the inner text.
"""

from __future__ import annotations

import json


def orchestrator_input(raw_json: str | None) -> str | None:
    """The ``input`` the SDK's ``get_input()`` will ``df_loads``, from a stored raw body."""
    if raw_json is None:
        return None
    value = json.loads(raw_json)
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
