"""Instance IDs and orchestrator names: what reaches the host, and what is refused up front."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from singleton import (
    InvalidInstanceId,
    InvalidOrchestratorName,
    validate_instance_id,
    validate_orchestrator_name,
)


@pytest.mark.parametrize(
    "instance_id",
    ["order-42", "a", "x" * 256, "Ünïcødé-✓", "a@b", "tenant:42", "{braces}", "a+b", "a.b~c"],
)
def test_accepts_ids_the_host_and_client_keep_intact(instance_id: str) -> None:
    assert validate_instance_id(instance_id) == instance_id


@pytest.mark.parametrize(
    ("instance_id", "reason"),
    [
        ("", "empty"),
        ("x" * 257, "longer than 256"),
        ("@entity", "starts with '@'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a?b", "'?'"),
        ("a#b", "'#'"),
        ("100%", "'%'"),
        ("a b", "space"),
        ("tab\there", "control"),
        ("nul\x00", "control"),
        ("line\nbreak", "control"),
        ("del\x7f", "control"),
    ],
)
def test_rejects_ids_with_a_reason(instance_id: str, reason: str) -> None:
    with pytest.raises(InvalidInstanceId) as raised:
        validate_instance_id(instance_id)
    assert reason in str(raised.value)
    assert raised.value.instance_id == instance_id


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=256))
def test_every_plain_id_but_a_dot_segment_is_accepted(instance_id: str) -> None:
    if instance_id in {".", ".."}:
        with pytest.raises(InvalidInstanceId, match="dot segment"):
            validate_instance_id(instance_id)
    else:
        assert validate_instance_id(instance_id) == instance_id


@pytest.mark.parametrize("instance_id", [".", ".."])
def test_rejects_the_dot_segments_the_client_resolves_away(instance_id: str) -> None:
    with pytest.raises(InvalidInstanceId, match="dot segment"):
        validate_instance_id(instance_id)


_RPC_BASE = "http://127.0.0.1:7071/runtime/webhooks/durabletask/"


@given(st.text(min_size=1, max_size=300) | st.sampled_from([".", "..", "...", "a..", "%2e"]))
def test_accepted_ids_reach_the_host_unchanged_through_the_clients_urls(instance_id: str) -> None:
    """The client pastes IDs into these URLs unencoded and aiohttp parses them with yarl:
    whatever passes validation must come out of yarl as the same path segment."""
    try:
        validate_instance_id(instance_id)
    except InvalidInstanceId:
        return
    start = URL(f"{_RPC_BASE}orchestrators/F/{instance_id}")
    status = URL(f"{_RPC_BASE}instances/{instance_id}?taskHub=Hub&connection=Storage")
    terminate = URL(f"{_RPC_BASE}instances/{instance_id}/terminate?reason=r")
    assert start.parts[-1] == instance_id
    assert status.parts[-1] == instance_id
    assert dict(status.query) == {"taskHub": "Hub", "connection": "Storage"}
    assert terminate.parts[-2:] == (instance_id, "terminate")


@given(st.text(min_size=1, max_size=300))
def test_accepted_ids_survive_an_unencoded_url(instance_id: str) -> None:
    """Whatever passes validation contains nothing a URL path would reinterpret."""
    try:
        validate_instance_id(instance_id)
    except InvalidInstanceId:
        return
    assert not set(instance_id) & set("/\\?#% \t\r\n")
    assert len(instance_id) <= 256
    assert not instance_id.startswith("@")


@pytest.mark.parametrize("name", ["Monitor", "ProcessBatch", "a", "with_under-score9"])
def test_accepts_function_names(name: str) -> None:
    assert validate_orchestrator_name(name) == name


@pytest.mark.parametrize("name", ["", "9lives", "has space", "a/b", "é", "x" * 129])
def test_rejects_function_names(name: str) -> None:
    with pytest.raises(InvalidOrchestratorName):
        validate_orchestrator_name(name)
