"""Instance ID rules of the Durable Functions host (``DurableClient.StartNewAsync``)."""

from __future__ import annotations

import unicodedata
import uuid

from devhost.durable._errors import InvalidInstanceIdError

MAX_INSTANCE_ID_LENGTH = 256
_FORBIDDEN = frozenset("/\\?#")

# The host builds these with ``new ArgumentException(nameof(instanceId), "...")``: the
# arguments are swapped, so .NET renders the text as the *parameter name*. Kept verbatim.
LEADING_AT_MESSAGE = "instanceId (Parameter 'Orchestration instance ids must not start with @.')"
BAD_CHARACTER_MESSAGE = (
    "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, "
    "or control characters.')"
)
TOO_LONG_MESSAGE = f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."


def _is_control(char: str) -> bool:
    # .NET char.IsControl: Unicode category Cc.
    return unicodedata.category(char) == "Cc"


def validate_instance_id(instance_id: str) -> str:
    """``instance_id`` unchanged, or ``InvalidInstanceIdError`` with the host's message."""
    if instance_id.startswith("@"):
        raise InvalidInstanceIdError(LEADING_AT_MESSAGE)
    if any(char in _FORBIDDEN or _is_control(char) for char in instance_id):
        raise InvalidInstanceIdError(BAD_CHARACTER_MESSAGE)
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InvalidInstanceIdError(TOO_LONG_MESSAGE)
    return instance_id


def new_instance_id() -> str:
    """A fresh ID as the host makes one: ``Guid.NewGuid().ToString("N")``."""
    return uuid.uuid4().hex
