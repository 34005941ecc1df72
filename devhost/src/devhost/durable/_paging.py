"""Continuation tokens of the instance list (``x-ms-continuation-token``).

Opaque to callers, as the Azure Storage provider's are (a serialized Table continuation:
the next partition key, i.e. instance ID, to read from). A token no page issued is an error,
which the host answers with 500.
"""

from __future__ import annotations

import base64
import binascii
import json

from devhost.durable._errors import InvalidContinuationTokenError


def encode_continuation_token(next_instance_id: str) -> str:
    body = json.dumps({"NextPartitionKey": next_instance_id, "NextRowKey": ""})
    return base64.b64encode(body.encode("utf-8")).decode("ascii")


def decode_continuation_token(token: str) -> str:
    """The instance ID the next page starts at; ``InvalidContinuationTokenError`` otherwise."""
    try:
        body = json.loads(base64.b64decode(token.strip(), validate=True).decode("utf-8"))
        next_id = body["NextPartitionKey"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise InvalidContinuationTokenError(
            f"The continuation token {token!r} is not valid."
        ) from exc
    if not isinstance(next_id, str):
        raise InvalidContinuationTokenError(f"The continuation token {token!r} is not valid.")
    return next_id
