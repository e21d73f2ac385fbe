"""Cost: dollars per million function calls, process messages and workflow activities at the
published list prices of ``runtime/costs.py``, from the AWS calls counted in this run, and the
same activities on Step Functions alone and on Lambda durable functions.

Where the counts come from (nothing per unit is typed in here):

- function calls: ``bench/aws_calls.py`` (the Lambda invokes per remote ``funcs.call``) and the
  engine's time per call;
- process messages: the load run (``bench/load.py``: one message per actor per batch, a commit
  per message), and ``bench/processes.py``'s one actor with 10-message batches (a commit per
  10 messages);
- workflow activities, inline and queued: ``bench/activities.py`` (the marginal activity of a
  50-activity and a 1-activity run: AWS calls, capacity units, SQS requests, Lambda
  invocations and CPU per role, Step Functions state transitions read from the executions'
  histories).

Within ``python -m bench`` the load section's run (process messages) and the workflow
section's accounting are reused; alone, this runs a small load run and the accounting.

Lambda duration is not measurable here, so it is modelled, and the model is printed: each
invocation bills its CPU outside boto3 as measured on this machine, scaled to the vCPU share
of MEMORY_MB (Lambda gives one vCPU at 1,769 MB), plus AWS_CALL_MS for every AWS call it
waits on, rounded up to the millisecond.

python -m bench.cost
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from bench import activities, aws_calls, load, processes
from bench.timing import Figure, per_call_us
from runtime import costs, manifest
from runtime.engine import Engine

#: The Lambdas' memory: a function entry's default ``deploy.memory`` (runtime/manifest.py),
#: which the stack gives the worker, step and activity Lambdas too (infra/plan.py).
MEMORY_MB = manifest.Deploy().memory
#: An assumption: one in-region AWS API round trip (DynamoDB, SQS, Step Functions), waited on.
AWS_CALL_MS = 10.0
#: Lambda gives a function one vCPU at 1,769 MB and a share in proportion below it.
FULL_VCPU_MB = 1769
#: The size of the load run made when ``bench.load`` has not run in this process.
SMALL = load.Size(messages=1_000, actors=100, workflows=20, first_wave=5)


def billed_ms(cpu_seconds: float, aws_calls: float) -> float:
    """One invocation's modelled duration: its CPU at MEMORY_MB's vCPU share plus its waits."""
    cpu_ms = cpu_seconds * 1000 * max(1.0, FULL_VCPU_MB / MEMORY_MB)
    return max(1.0, math.ceil(cpu_ms + aws_calls * AWS_CALL_MS))


@dataclass
class Row:
    """A unit of work priced: its usage per unit and what the usage came from."""

    name: str
    usage: costs.Usage
    note: str


def _function_rows() -> list[Row]:
    invokes = next(
        f.value for f in aws_calls.run() if f.name.endswith("of a deploy.remote function")
    )
    engine = Engine(manifest.load_app(aws_calls.APP))
    try:
        engine.call("bench:add", [1, 2])
        call_us = min(per_call_us(lambda: engine.call("bench:add", [1, 2]), 500) for _ in range(5))
    finally:
        engine.close()
    ms = billed_ms(call_us / 1e6, 0)
    call = costs.function_call(MEMORY_MB, ms)
    call.lambda_requests *= invokes
    call.lambda_gb_seconds *= invokes
    note = (
        f"{invokes:.0f} Lambda invoke per remote funcs.call (an in-process one makes none); "
        f"Engine.call {call_us:.0f} µs here -> {ms:.0f} ms billed at {MEMORY_MB} MB"
    )
    http = costs.function_call(MEMORY_MB, ms, http=True)
    return [
        Row("a function call as its own Lambda invocation", call, note),
        Row("  the same through the HTTP API", http, "+ one API Gateway HTTP API request"),
    ]


def _lambda(unit: load.PerUnit) -> costs.Usage:
    if not unit.lambda_invocations:
        return costs.Usage()
    per_invocation = billed_ms(
        unit.lambda_cpu / unit.lambda_invocations, unit.lambda_calls / unit.lambda_invocations
    )
    return costs.lambda_time(unit.lambda_invocations, MEMORY_MB, per_invocation)


def _unit_usage(unit: load.PerUnit) -> costs.Usage:
    return _lambda(unit) + costs.Usage(
        sqs_standard_requests=unit.sqs_standard,
        sqs_fifo_requests=unit.sqs_fifo,
        dynamodb_wru=unit.wru,
        dynamodb_rru=unit.rru,
    )


def _process_rows(report: load.LoadReport) -> list[Row]:
    single = load.process_per_message(report)
    one_by_one = Row(
        "a process message, one per actor per batch (a commit each)",
        _unit_usage(single),
        f"load run: {single.wru:.2f} WRU, {single.sqs_fifo:.2f} FIFO requests (send, receive, "
        f"delete), {single.lambda_invocations:.2f} worker invocations per message",
    )
    drains, _ = processes._one_actor()
    merged = processes._merge(drains)
    reads, writes = merged.per_message(processes.READS), merged.per_message(processes.WRITES)
    fifo = 1 + merged.per_message(processes.WORKER_SQS) + merged.event_source_per_message()
    invocations = 1 / 10  # the host's batch_size: one worker invocation per 10 messages
    cpu = (merged.wall - merged.aws) / merged.messages
    usage = costs.lambda_time(
        invocations, MEMORY_MB, billed_ms(cpu / invocations, (reads + writes) / invocations)
    ) + costs.Usage(sqs_fifo_requests=fifo, dynamodb_wru=writes, dynamodb_rru=reads)
    batched = Row(
        "a process message, 10 per actor per batch (a commit per batch)",
        usage,
        f"bench/processes.py: {writes:.2f} writes (1 WRU: the counter's snapshot is under "
        f"1 KB), {fifo:.2f} FIFO requests (the send, then receive + delete per batch) per "
        "message",
    )
    return [one_by_one, batched]


def _workflow_rows() -> list[Row]:
    rows = []
    for queued in (False, True):
        acct = activities.accounting(queued)
        per = acct.per_activity
        invocations = ", ".join(
            f"{per.get(f'invocations {role}', 0.0):g} {role}" for role in activities.LAMBDAS
        )
        cpu = ", ".join(
            f"{role} {per.get(f'cpu {role}', 0.0) * 1e3:.2f} ms" for role in activities.LAMBDAS
        )
        how = (
            "run in the step's invocation, its outcome checkpointed with one PutItem"
            if not queued
            else "through the SQS activity queue and the activity Lambda, which posts the "
            "outcome to the run's inbox and wakes the run (one more Wake)"
        )
        rows.append(
            Row(
                f"a workflow activity, {acct.kind} ({how})",
                acct.usage(MEMORY_MB, billed_ms),
                f"per activity, the marginal of runs of {acct.large.n} and {acct.small.n} "
                f"(bench/activities.py): {per.get('transitions', 0.0):g} transitions, "
                f"{per.get('calls', 0.0):g} AWS calls, {per.get('wru', 0.0):g} WRU + "
                f"{per.get('rru', 0.0):g} RRU, {per.get('sqs', 0.0):g} SQS requests, "
                f"{invocations} Lambda invocations; CPU {cpu}",
            )
        )
    function_ms = billed_ms(0, 0)
    n = activities.LARGE
    rows += [
        Row(
            "  the same activity on Step Functions alone (a Task state per activity)",
            costs.step_functions_activity(MEMORY_MB, function_ms),
            "1 transition + the activity's Lambda invocation; the Lua engine's own work (the "
            "step's replay) is not there to pay for, nor durable replay-from-code",
        ),
        Row(
            "  the same activity as a step of a Lambda durable function",
            costs.durable_activity(MEMORY_MB, function_ms + AWS_CALL_MS, invocations=1 / n),
            f"1 durable operation + the step's duration and its checkpoint call, one invocation "
            f"per {n}-activity workflow; a LOWER BOUND: the durable functions' data written / "
            "retained charges were not found and are not priced",
        ),
    ]
    return rows


def rows(report: load.LoadReport) -> list[Row]:
    return [*_function_rows(), *_process_rows(report), *_workflow_rows()]


def figures(priced: list[Row]) -> list[Figure]:
    out = [
        Figure(
            f"price: {name}",
            price.each * 1e6,
            "$ per million",
            f"${price.usd:g} per {price.per:,.0f} {price.unit}: {price.source}, us-east-1, read "
            f"{costs.PRICES_READ}",
        )
        for name, price in costs.PRICES.items()
    ]
    out.append(
        Figure(
            "the model",
            MEMORY_MB,
            "MB Lambdas",
            "free tiers, volume tiers, storage and data transfer left out; Lambda duration: the "
            f"CPU measured here at {MEMORY_MB} MB's vCPU share + {AWS_CALL_MS:.0f} ms per AWS "
            "call waited on",
        )
    )
    for row in priced:
        lines = costs.dollars(row.usage)
        breakdown = ", ".join(f"{name} ${value * 1e6:.2f}" for name, value in lines.items())
        out.append(
            Figure(
                f"{row.name}: $ per million, arm64",
                costs.per_million(row.usage),
                "$",
                f"x86_64 ${costs.per_million(row.usage, 'x86_64'):.2f}; {breakdown}; {row.note}",
            )
        )
    return out


def run() -> list[Figure]:
    report = load.LAST
    if report is None:
        print("cost: a small load run for the counts...", file=sys.stderr)
        report = load.run_load(SMALL)
    return figures(rows(report))


if __name__ == "__main__":
    load._print(run())
