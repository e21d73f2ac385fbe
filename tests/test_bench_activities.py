"""bench/activities.py's arithmetic: the marginal activity of two runs, and the Lambda bill of
a run's roles, on known counts (no cloud)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench import activities
from bench.activities import Role, RunCount, marginal, marginal_counts
from runtime import costs


def test_the_marginal_activity_leaves_a_runs_fixed_cost_out() -> None:
    # A run costs 10 fixed calls and 3 per activity: 13 at 1 activity, 160 at 50.
    assert marginal(13, 160, 1, 50) == 3
    assert marginal(2, 2, 1, 50) == 0  # what does not grow with N costs nothing per activity


def test_the_marginal_needs_a_larger_run() -> None:
    with pytest.raises(ValueError):
        marginal(1, 2, 50, 50)


def test_marginal_counts_per_key_a_missing_key_being_zero_and_zeros_left_out() -> None:
    small = {"call dynamodb.PutItem": 2, "call sfn.StartExecution": 1, "transitions": 2}
    large = {"call dynamodb.PutItem": 51, "call sfn.StartExecution": 1, "transitions": 2}
    large["call sqs.SendMessageBatch"] = 49

    assert marginal_counts(small, large, 1, 50) == {
        "call dynamodb.PutItem": 1,
        "call sqs.SendMessageBatch": 1,
    }


def _run(n: int, step: Role, activity: Role | None = None) -> RunCount:
    roles = {activities.STEP: step}
    if activity is not None:
        roles[activities.ACTIVITY] = activity
    return RunCount(
        n=n,
        queued=activity is not None,
        calls=Counter(),
        wru=float(n),
        rru=0.0,
        sqs_requests=0,
        roles=roles,
        transitions=2,
        executions=1,
    )


def test_an_inline_activity_adds_the_steps_duration_but_no_invocation() -> None:
    # One step invocation either way; each activity adds one call (10 ms waited) to it.
    def ms(cpu: float, calls: float) -> float:
        return cpu * 1000 + calls * 10

    small, large = _run(1, Role(1, 10, 0.0)), _run(50, Role(1, 59, 0.0))
    usage = activities.marginal_usage(
        activities.run_usage(small, 1024, ms), activities.run_usage(large, 1024, ms), 1, 50
    )

    assert usage.lambda_requests == 0
    assert usage.lambda_gb_seconds == pytest.approx(costs.gb_seconds(1024, 10))
    assert usage.dynamodb_wru == 1
    assert usage.sfn_transitions == 0


def test_each_lambda_invocation_is_billed_its_roles_mean_duration() -> None:
    run = _run(2, Role(4, 8, 0.004), Role(2, 2, 0.0))

    usage = activities.lambda_usage(run, 1024, lambda cpu, calls: cpu * 1000 + calls)

    # step: 4 invocations of 1 ms CPU + 2 calls = 3 ms; activity: 2 of 1 ms.
    assert usage.lambda_requests == 6
    assert usage.lambda_gb_seconds == pytest.approx((4 * 3 + 2 * 1) / 1000)
