"""The decision as a value: its JSON form and what a concurrent caller makes of it."""

from __future__ import annotations

import pytest

from singleton import ConflictPolicy, InvalidStartOption, Outcome, ReusePolicy, RuntimeStatus
from singleton.starter import Decision, StartPolicy, StartResult

FAIL = StartPolicy()
USE = StartPolicy(conflict=ConflictPolicy.USE_EXISTING)


def decision(outcome: Outcome, policy: StartPolicy = FAIL, **fields: object) -> Decision:
    fields.setdefault("runtime_status", None)
    result = StartResult(outcome=outcome, instance_id="job", fence=7, **fields)  # type: ignore[arg-type]
    return Decision(policy, result)


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize(
    "policy",
    [FAIL, USE, StartPolicy(reuse=ReusePolicy.REJECT, event="go")],
    ids=["fail", "use-existing", "reject+event"],
)
def test_json_round_trip(outcome: Outcome, policy: StartPolicy) -> None:
    original = decision(outcome, policy)
    text = original.to_json()

    assert isinstance(text, str)
    assert Decision.from_json(text) == original
    assert Decision.from_json(text.encode()) == original


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"v": 2}', '{"v": 1, "outcome": "won"}'])
def test_from_json_refuses_what_is_not_a_decision(text: str) -> None:
    with pytest.raises(ValueError, match="decision"):
        Decision.from_json(text)


def test_a_start_is_a_409_naming_it_to_concurrent_callers_under_fail() -> None:
    adopted = decision(Outcome.STARTED).adopt(FAIL)

    assert adopted is not None
    assert adopted.outcome is Outcome.ALREADY_RUNNING
    assert adopted.runtime_status is RuntimeStatus.PENDING
    assert (adopted.instance_id, adopted.fence, adopted.adopted) == ("job", 7, True)


def test_a_start_is_the_existing_instance_under_use_existing() -> None:
    adopted = decision(Outcome.STARTED, USE).adopt(USE)

    assert adopted is not None
    assert adopted.outcome is Outcome.USED_EXISTING


@pytest.mark.parametrize(
    ("outcome", "follower", "answer"),
    [
        (Outcome.ALREADY_RUNNING, FAIL, Outcome.ALREADY_RUNNING),
        (Outcome.ALREADY_RUNNING, USE, Outcome.USED_EXISTING),
        (Outcome.USED_EXISTING, FAIL, Outcome.ALREADY_RUNNING),
        (Outcome.STARTED, USE, Outcome.USED_EXISTING),
    ],
)
def test_an_active_instance_is_answered_by_the_followers_own_conflict_policy(
    outcome: Outcome, follower: StartPolicy, answer: Outcome
) -> None:
    adopted = decision(outcome, runtime_status=RuntimeStatus.RUNNING).adopt(follower)

    assert adopted is not None
    assert adopted.outcome is answer
    assert adopted.runtime_status is (
        RuntimeStatus.PENDING if outcome is Outcome.STARTED else RuntimeStatus.RUNNING
    )
    assert adopted.adopted


def test_a_refused_reuse_is_adopted_only_under_the_same_reuse_policy() -> None:
    reject = StartPolicy(reuse=ReusePolicy.REJECT)
    refused = decision(Outcome.REUSE_REJECTED, reject)

    adopted = refused.adopt(
        StartPolicy(conflict=ConflictPolicy.USE_EXISTING, reuse=ReusePolicy.REJECT)
    )
    assert adopted is not None
    assert adopted.outcome is Outcome.REUSE_REJECTED
    assert refused.adopt(FAIL) is None  # reuse=allow would start it: decide for itself


@pytest.mark.parametrize(
    ("made_under", "follower", "outcome"),
    [
        (StartPolicy(conflict=ConflictPolicy.TERMINATE_EXISTING),) * 2 + (Outcome.STARTED,),
        (StartPolicy(event="go"),) * 2 + (Outcome.STARTED,),
        (StartPolicy(event="go"), FAIL, Outcome.EVENT_RAISED),  # the event was its own
    ],
)
def test_not_adopted_under_terminate_or_event(
    made_under: StartPolicy, follower: StartPolicy, outcome: Outcome
) -> None:
    assert decision(outcome, made_under).adopt(follower) is None


def test_busy_is_not_a_decision_to_adopt() -> None:
    assert decision(Outcome.BUSY).adopt(FAIL) is None


def test_policies_parse_their_wire_names_and_name_the_parameter_otherwise() -> None:
    assert ConflictPolicy.parse("terminate-existing") is ConflictPolicy.TERMINATE_EXISTING
    assert ReusePolicy.parse(ReusePolicy.REJECT) is ReusePolicy.REJECT
    with pytest.raises(InvalidStartOption, match="invalid reuse 'ALLOW'") as caught:
        ReusePolicy.parse("ALLOW")
    assert caught.value.parameter == "reuse"
