"""LeasePolicy: keyword-only, frozen, validated; float seconds or timedelta."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from singleton.lease._policy import LeasePolicy, milliseconds, validity


def test_defaults_match_webjobs_singleton() -> None:
    policy = LeasePolicy()
    assert policy.ttl == 15.0
    assert policy.renew_every == 5.0
    assert policy.wait == 0.0
    assert policy.max_hold is None
    assert policy.min_replicas == 0


def test_timedelta_and_float_seconds_are_the_same() -> None:
    assert LeasePolicy(ttl=timedelta(milliseconds=1500), wait=timedelta(seconds=2)) == LeasePolicy(
        ttl=1.5, wait=2
    )


def test_float_ttls_keep_millisecond_precision() -> None:
    assert milliseconds(LeasePolicy(ttl=0.0125).ttl) == 12  # not truncated to whole seconds
    assert milliseconds(0.0001) == 1  # never 0: PX 0 is an error


def test_it_is_frozen_and_keyword_only() -> None:
    policy = LeasePolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.ttl = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        LeasePolicy(15.0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"ttl": 0}, "ttl must be at least"),
        ({"ttl": -1}, "ttl must be at least"),
        ({"ttl": float("nan")}, "ttl must be finite"),
        ({"ttl": float("inf")}, "ttl must be finite"),
        ({"wait": -0.1}, "wait must be >= 0"),
        ({"ttl": 3, "renew_every": 3}, "renew_every must be > 0 and shorter than ttl"),
        # The keeper's deadline is 0.988 s after the acquire: a renewal due at 0.995 s is never
        # sent (accepted before, and the lease ran out under every hold).
        ({"ttl": 1, "renew_every": 0.995}, r"under 0\.988 s for ttl 1 s\), not 0\.995"),
        ({"ttl": 1, "renew_every": 0.988}, "shorter than ttl less the clock-drift allowance"),
        ({"renew_every": 0}, "renew_every must be > 0"),
        ({"max_hold": 0}, "max_hold must be > 0"),
        ({"min_replicas": -1}, "min_replicas must be an int"),
        ({"min_replicas": 1.5}, "min_replicas must be an int"),
        ({"replica_timeout": 0}, "replica_timeout must be > 0"),
        ({"wake_fallback": 0}, "wake_fallback must be at least"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LeasePolicy(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["15", True, None])
def test_values_that_are_not_durations_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="ttl must be seconds"):
        LeasePolicy(ttl=value)  # type: ignore[arg-type]


def test_a_renewal_just_inside_the_validity_is_accepted() -> None:
    assert validity(1.0) == pytest.approx(0.988)
    assert LeasePolicy(ttl=1, renew_every=0.987).renew_every == 0.987
