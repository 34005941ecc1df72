"""Which instance IDs and orchestrator names may be sent to the Durable host.

Two sources of rejection meet here:

* the host itself answers 400 for IDs that start with ``@``, contain ``/``, ``\\``, ``?``,
  ``#`` or a control character, or are longer than 256 characters;
* the Python client (azure-functions-durable 1.x) pastes IDs into URLs without encoding, so
  ``%`` and whitespace arrive at the host as something else, and yarl (aiohttp's URL type)
  resolves the dot segments ``.`` and ``..``: a start of ``.`` would post to
  ``orchestrators/F/`` (a new random ID) and a status read of ``..`` to another endpoint.
  With ``/``, ``?``, ``#`` and ``%`` refused, those two are the only IDs yarl rewrites
  (tests/singleton/test_names.py checks every accepted ID against yarl).

Rejecting both up front means a bad ID never reaches the lease or the host.
"""

from __future__ import annotations

import re

from singleton._errors import InvalidInstanceId, InvalidOrchestratorName

MAX_INSTANCE_ID_LENGTH = 256

# Characters the host rejects, plus those the client's unencoded URLs would mangle.
_FORBIDDEN_CHARACTERS = frozenset("/\\?#%")

# Path segments yarl resolves away (RFC 3986 dot segments).
_DOT_SEGMENTS = frozenset({".", ".."})

# Azure Functions names: a letter, then letters, digits, '_' or '-', at most 128 characters.
_FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")


def validate_instance_id(instance_id: str) -> str:
    """Return ``instance_id`` unchanged, or raise :class:`InvalidInstanceId` saying why."""
    if not instance_id:
        raise InvalidInstanceId(instance_id, "it is empty")
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise InvalidInstanceId(
            instance_id, f"it is longer than {MAX_INSTANCE_ID_LENGTH} characters"
        )
    if instance_id in _DOT_SEGMENTS:
        raise InvalidInstanceId(
            instance_id, "it is a dot segment, which the client's URLs resolve away"
        )
    if instance_id.startswith("@"):
        raise InvalidInstanceId(instance_id, "it starts with '@' (reserved for entities)")
    for character in instance_id:
        if character in _FORBIDDEN_CHARACTERS:
            raise InvalidInstanceId(instance_id, f"it contains {character!r}")
        if not character.isprintable() or character.isspace():
            raise InvalidInstanceId(
                instance_id, f"it contains the control or space character {character!r}"
            )
    return instance_id


def validate_orchestrator_name(name: str) -> str:
    """Return ``name`` unchanged, or raise :class:`InvalidOrchestratorName`."""
    if not _FUNCTION_NAME.fullmatch(name):
        raise InvalidOrchestratorName(name)
    return name
