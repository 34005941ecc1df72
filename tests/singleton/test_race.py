"""The point of the project: concurrent starts of one ID, counted.

Both sides run against the embedded Durable backend emulating Azure Storage
(``storage_latency``): the duplicate check and the instance write are separate steps and a
conflicting write is swallowed, as on the real host. The documentation's sample gets several
202s for one ID there — proof these tests can see the race — while ours gets exactly one.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import azure.functions as func
import pytest

from singleton import SingletonStarter
from singleton.functions.http import handle_start_request
from tests import seed_sample
from tests.singleton.conftest import HOSTS
from tests.singleton.durable_app import WAIT_FOR_FINISH
from tests.singleton.harness import input_of, post, running_durable_host

pytestmark = pytest.mark.redis

CALLERS = 30
TRIALS = 100
CONCURRENT_TRIALS = 10
STORAGE_LATENCY = 0.005


def start_request(instance_id: str, caller: int) -> func.HttpRequest:
    return post(WAIT_FOR_FINISH, instance_id, json.dumps({"caller": caller}).encode())


async def test_the_documented_sample_lets_several_callers_start_one_id() -> None:
    trials_with_duplicates = 0
    async with running_durable_host(storage_latency=STORAGE_LATENCY) as durable:
        for trial in range(5):
            instance_id = f"seed-{trial}"
            # A caller that reads "absent" after the winner's write lands gets the host's
            # duplicate error, which the sample does not catch: the Functions host turns
            # that into a 500, as gather's exceptions here.
            outcomes = await asyncio.gather(
                *(
                    seed_sample.main(start_request(instance_id, caller), durable.binding)
                    for caller in range(CALLERS)
                ),
                return_exceptions=True,
            )
            accepted = [
                r for r in outcomes if isinstance(r, func.HttpResponse) and r.status_code == 202
            ]
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    assert "already exists" in str(outcome), outcome
                else:
                    assert outcome.status_code in {202, 409}
            if len(accepted) > 1:
                trials_with_duplicates += 1
            # Every 202 was a start the store "accepted"; only one input survived.
            assert durable.started(instance_id) == len(accepted)
            status = await durable.client().get_status(instance_id)
            assert input_of(status) in [{"caller": caller} for caller in range(CALLERS)]

    assert trials_with_duplicates >= 1, "the emulated race never showed: the test is blind"


async def test_ours_gives_exactly_one_202_and_strict_409s(
    starters: list[SingletonStarter],
) -> None:
    async with running_durable_host(storage_latency=STORAGE_LATENCY) as durable:

        async def trial(number: int) -> Counter[int]:
            instance_id = f"ours-{number}"
            responses = await asyncio.gather(
                *(
                    handle_start_request(
                        start_request(instance_id, caller),
                        durable.client(),
                        starter=lambda chosen=starters[caller % HOSTS]: chosen,
                    )
                    for caller in range(CALLERS)
                )
            )
            codes = Counter(response.status_code for response in responses)
            assert codes == Counter({202: 1, 409: CALLERS - 1}), (instance_id, codes)
            assert durable.started(instance_id) == 1, instance_id
            return codes

        totals: Counter[int] = Counter()
        for first in range(0, TRIALS, CONCURRENT_TRIALS):
            for codes in await asyncio.gather(
                *(trial(number) for number in range(first, first + CONCURRENT_TRIALS))
            ):
                totals += codes

    assert totals == Counter({202: TRIALS, 409: TRIALS * (CALLERS - 1)})
