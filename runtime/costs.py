"""What compute units cost on AWS: published list prices, and dollars per unit of work.

:data:`PRICES` is the one table of prices. :class:`Usage` is what one unit of work (a function
call, a process message, a workflow activity) uses of each priced dimension, counted from the
AWS calls it makes (``bench/load.py`` and ``bench/workflows.py`` count them on the boto3
clients); :func:`dollars` and :func:`per_million` turn a usage into dollars. The comparisons
price the same work on Step Functions alone and on Lambda durable functions.

The prices ignore free tiers and volume tiers (the first tier's price is used throughout),
data transfer, storage (DynamoDB GB-months, logs) and CloudWatch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

#: The day the prices below were read.
PRICES_READ = "2026-11-25"


@dataclass(frozen=True)
class Price:
    """``usd`` per ``per`` units of ``unit``, from the pricing page ``source``."""

    usd: float
    per: float
    unit: str
    source: str

    @property
    def each(self) -> float:
        """Dollars for one unit."""
        return self.usd / self.per


# Published list prices, us-east-1, first tier, read on PRICES_READ from stored copies of the
# pricing pages named in each row (through the project's search tool, not the live pages).
# - Lambda: "AWS Lambda Pricing" (aws.amazon.com/lambda/pricing). A GB-second is 1,024 MB for one
#   second, billed per 1 ms. arm64 (the stack's default, infra/bundling.py) is 20% below x86.
# - SQS: "Amazon SQS Pricing". Every API action is a request; each 64 KB chunk of a request's
#   payload is billed as one request (a 10-message batch under 64 KB is one request).
# - DynamoDB: "Amazon DynamoDB Pricing for On-Demand Capacity" (the November 2024 prices). A WRU
#   writes up to 1 KB; a transactional write takes 2 WRU per KB. An RRU reads up to 4 KB
#   strongly consistent (or in a consistent Query); an eventually consistent read is half an
#   RRU, a transactional read 2 RRU.
# - Step Functions: "AWS Step Functions Pricing", Standard workflows: every state entered is a
#   transition, retries included.
# - API Gateway: "Amazon API Gateway Pricing", HTTP APIs, the first 300 million a month.
# - Lambda durable functions: $8.00 per million durable operations (a step, a wait, a callback)
#   is the figure the AWS Lambda pricing page gives, as transcribed (read 2026-09-20) in the
#   api-evangelist/aws-lambda repository's plans/aws-lambda-plans-pricing.yml; the page itself
#   was not available to read. The page's other durable-function charges (data written and data
#   retained, per GB) were not found: they are NOT in this table, so the durable-function
#   figures below are a lower bound. Durable functions also pay ordinary Lambda requests and
#   duration for every invocation (a resume is an invocation).
PRICES: dict[str, Price] = {
    "lambda_request": Price(0.20, 1e6, "request", "AWS Lambda Pricing"),
    "lambda_gb_second_arm64": Price(0.0000133334, 1, "GB-second, arm64", "AWS Lambda Pricing"),
    "lambda_gb_second_x86_64": Price(0.0000166667, 1, "GB-second, x86_64", "AWS Lambda Pricing"),
    "sqs_standard_request": Price(0.40, 1e6, "request (64 KB chunk)", "Amazon SQS Pricing"),
    "sqs_fifo_request": Price(0.50, 1e6, "request (64 KB chunk)", "Amazon SQS Pricing"),
    "dynamodb_wru": Price(0.625, 1e6, "write request unit", "Amazon DynamoDB Pricing (on-demand)"),
    "dynamodb_rru": Price(0.125, 1e6, "read request unit", "Amazon DynamoDB Pricing (on-demand)"),
    "sfn_standard_transition": Price(0.025, 1e3, "state transition", "AWS Step Functions Pricing"),
    "apigw_http_request": Price(1.00, 1e6, "HTTP API request", "Amazon API Gateway Pricing"),
    "lambda_durable_operation": Price(8.00, 1e6, "durable operation", "AWS Lambda Pricing"),
}

ARCHITECTURES = ("arm64", "x86_64")


@dataclass
class Usage:
    """What one unit of work uses of each priced dimension (fractions are averages)."""

    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    sqs_standard_requests: float = 0.0
    sqs_fifo_requests: float = 0.0
    dynamodb_wru: float = 0.0
    dynamodb_rru: float = 0.0
    sfn_transitions: float = 0.0
    http_requests: float = 0.0
    durable_operations: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


def gb_seconds(memory_mb: float, billed_ms: float) -> float:
    """GB-seconds of one invocation: memory (MB, 1,024 to the GB) times its duration, which
    Lambda rounds up to the next millisecond."""
    return memory_mb / 1024 * math.ceil(billed_ms) / 1000


def dollars(usage: Usage, architecture: str = "arm64") -> dict[str, float]:
    """Dollars per unit of work, by line (Lambda, SQS, DynamoDB, Step Functions, API Gateway,
    durable operations); lines that cost nothing are left out."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: expected one of {ARCHITECTURES}")
    p = PRICES
    lines = {
        "Lambda": usage.lambda_requests * p["lambda_request"].each
        + usage.lambda_gb_seconds * p[f"lambda_gb_second_{architecture}"].each,
        "SQS": usage.sqs_standard_requests * p["sqs_standard_request"].each
        + usage.sqs_fifo_requests * p["sqs_fifo_request"].each,
        "DynamoDB": usage.dynamodb_wru * p["dynamodb_wru"].each
        + usage.dynamodb_rru * p["dynamodb_rru"].each,
        "Step Functions": usage.sfn_transitions * p["sfn_standard_transition"].each,
        "API Gateway": usage.http_requests * p["apigw_http_request"].each,
        "durable operations": usage.durable_operations * p["lambda_durable_operation"].each,
    }
    return {name: value for name, value in lines.items() if value}


def per_million(usage: Usage, architecture: str = "arm64") -> float:
    """Dollars per million units of work."""
    return sum(dollars(usage, architecture).values()) * 1e6


# -- the units of work ----------------------------------------------------------------------
def function_call(memory_mb: float, billed_ms: float, *, http: bool = False) -> Usage:
    """A function run as its own Lambda invocation (a remote ``funcs.call``, or an HTTP request
    through API Gateway with ``http``). An in-process ``funcs.call`` makes no AWS call: it is
    part of its caller's invocation and costs only its share of the caller's duration."""
    return Usage(
        lambda_requests=1,
        lambda_gb_seconds=gb_seconds(memory_mb, billed_ms),
        http_requests=1 if http else 0,
    )


def lambda_time(invocations: float, memory_mb: float, billed_ms: float) -> Usage:
    """``invocations`` Lambda invocations of ``billed_ms`` each (per unit of work)."""
    return Usage(
        lambda_requests=invocations,
        lambda_gb_seconds=invocations * gb_seconds(memory_mb, billed_ms),
    )


def step_functions_activity(memory_mb: float, activity_ms: float) -> Usage:
    """The same activity on Step Functions alone: one Task state (one transition) of a
    Standard workflow invoking the activity's Lambda (one request and its duration). The
    workflow's start and end states are per workflow, not per activity, and left out."""
    return Usage(sfn_transitions=1) + function_call(memory_mb, activity_ms)


def durable_activity(memory_mb: float, activity_ms: float, invocations: float = 0.0) -> Usage:
    """The same activity as a step of a Lambda durable function: one durable operation, the
    step's duration inside the function's invocation, and ``invocations`` of the function per
    activity (0 when the steps run back to back in one invocation; a resume after a wait or a
    callback is one more, with its replay). Data written and retained is not priced (see
    PRICES)."""
    return Usage(
        durable_operations=1,
        lambda_requests=invocations,
        lambda_gb_seconds=gb_seconds(memory_mb, activity_ms),
    )
