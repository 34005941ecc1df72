"""A decision's JSON from the encoder made once (issue 18) is byte for byte what
``json.dumps(..., separators=(",", ":"))`` wrote, and reads back."""

from __future__ import annotations

import json

import pytest

from singleton.starter._decision import Decision, Outcome, StartResult
from singleton.starter._durable import RuntimeStatus
from singleton.starter._policies import ConflictPolicy, ReusePolicy, StartPolicy

DECISIONS = [
    Decision(
        StartPolicy(conflict=ConflictPolicy.FAIL, reuse=ReusePolicy.ALLOW, event=None),
        StartResult(outcome=Outcome.STARTED, instance_id="a", runtime_status=None, fence=7),
    ),
    Decision(
        StartPolicy(conflict=ConflictPolicy.USE_EXISTING, reuse=ReusePolicy.ALLOW, event="Go"),
        StartResult(
            outcome=Outcome.ALREADY_RUNNING,
            instance_id='élan "quoted" \\ \u2028',
            runtime_status=RuntimeStatus.RUNNING,
            fence=None,
            adopted=True,
        ),
    ),
]


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_decision_is_written_as_json_dumps_wrote_it(decision: Decision) -> None:
    text = decision.to_json()
    data = json.loads(text)

    assert text == json.dumps(data, separators=(",", ":"))
    assert Decision.from_json(text) == decision
