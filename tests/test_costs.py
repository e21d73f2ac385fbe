"""runtime/costs.py: the price table's arithmetic on known counts."""

from __future__ import annotations

import pytest

from runtime import costs
from runtime.costs import PRICES, Usage


def test_one_request_and_one_gb_second_cost_their_prices() -> None:
    usage = Usage(lambda_requests=1, lambda_gb_seconds=1)

    assert costs.dollars(usage) == {"Lambda": pytest.approx(0.20 / 1e6 + 0.0000133334)}
    assert costs.dollars(usage, "x86_64") == {"Lambda": pytest.approx(0.20 / 1e6 + 0.0000166667)}
    assert costs.per_million(usage) == pytest.approx(0.20 + 13.3334)


def test_gb_seconds_round_the_duration_up_to_the_millisecond() -> None:
    assert costs.gb_seconds(1024, 1000) == 1.0
    assert costs.gb_seconds(512, 0.2) == pytest.approx(0.5 / 1000)  # 1 ms billed
    assert costs.gb_seconds(128, 2.5) == pytest.approx(0.125 * 3 / 1000)


def test_each_line_at_its_price_per_million() -> None:
    usage = Usage(
        sqs_standard_requests=2,
        sqs_fifo_requests=1,
        dynamodb_wru=4,  # e.g. two items written in one transaction: 2 WRU each
        dynamodb_rru=0.5,  # an eventually consistent read
        sfn_transitions=3,
        http_requests=1,
        durable_operations=1,
    )

    lines = {name: value * 1e6 for name, value in costs.dollars(usage).items()}

    assert lines == {
        "SQS": pytest.approx(2 * 0.40 + 0.50),
        "DynamoDB": pytest.approx(4 * 0.625 + 0.5 * 0.125),
        "Step Functions": pytest.approx(3 * 25.0),  # $0.025 per 1,000 transitions
        "API Gateway": pytest.approx(1.00),
        "durable operations": pytest.approx(8.00),
    }
    assert costs.per_million(usage) == pytest.approx(sum(lines.values()))


def test_the_comparisons() -> None:
    # One Task state: a transition and the activity's Lambda (1 ms at 1,024 MB).
    alone = costs.step_functions_activity(1024, 1)
    assert alone == Usage(sfn_transitions=1, lambda_requests=1, lambda_gb_seconds=0.001)
    # A durable step: one operation and the step's time, no invocation of its own.
    durable = costs.durable_activity(1024, 1)
    assert durable == Usage(durable_operations=1, lambda_gb_seconds=0.001)
    assert costs.per_million(durable) == pytest.approx(8.00 + 0.001 * 13.3334)
    # A remote function call through the HTTP API: a request to each.
    assert costs.function_call(512, 1, http=True) == Usage(
        lambda_requests=1, lambda_gb_seconds=0.0005, http_requests=1
    )
    assert costs.lambda_time(0.1, 1024, 1000) == Usage(lambda_requests=0.1, lambda_gb_seconds=0.1)


def test_usages_add_up_and_the_table_is_whole() -> None:
    total = Usage(dynamodb_wru=1) + Usage(dynamodb_wru=2, sfn_transitions=1)
    assert total == Usage(dynamodb_wru=3, sfn_transitions=1)
    assert all(price.usd > 0 and price.per > 0 and price.source for price in PRICES.values())
    assert PRICES["sfn_standard_transition"].each == pytest.approx(0.000025)
    with pytest.raises(ValueError, match="architecture"):
        costs.dollars(Usage(), "sparc")
