"""Workflows: what a step costs as the history grows (sticky cache vs full replay), and the AWS
calls and Step Functions state transitions per activity (the bill)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import boto3

from bench.timing import Figure
from runtime import manifest
from runtime.clock import ManualClock
from runtime.engine import Engine
from runtime.testing import LocalCloud
from runtime.workflows import events as ev
from runtime.workflows.replay import Replay

FLOWS = Path(__file__).resolve().parent.parent / "tests" / "apps" / "flows"
#: History lengths compared (each activity adds 2 events).
SHORT, LONG = 10, 1000
#: Steps averaged at each length.
STEPS = 20
ACTIVITIES = 20


def _outcomes(engine: Engine, scheduled: list[ev.Event], now: float) -> list[ev.Event]:
    return [
        ev.Event(ev.ACTIVITY_COMPLETED, now, {"cmd": a.cmd, "value": 2 * a.fields["args"][0]})
        for a in scheduled
    ]


def _step_times(engine: Engine, around: int) -> tuple[float, float]:
    """Mean seconds per step near history length ``around``: resuming a kept replay, and
    replaying the whole history from a cold start."""
    now = engine.clock.now()
    history = [ev.Event(ev.WORKFLOW_STARTED, now, {"input": {"n": 100_000}}, seq=1)]
    replay = Replay(engine, "app:loop", "bench", history)
    pending: list[ev.Event] = []
    sticky, full = 0.0, 0.0
    while len(replay.history) < around + 2 * STEPS:
        measuring = len(replay.history) >= around
        if measuring:
            cold = Replay(engine, "app:loop", "bench", replay.history + pending)
            start = time.perf_counter()
            cold.run(now)
            full += time.perf_counter() - start
        start = time.perf_counter()
        result = replay.resume(pending, now)
        if measuring:
            sticky += time.perf_counter() - start
        pending = _outcomes(engine, result.new_activities, now)
    replay.close()
    return sticky / STEPS, full / STEPS


def _calls_per_activity() -> dict[str, float]:
    counted: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        parts = event_name.split(".")  # before-call.<service>.<operation>
        counted[f"{parts[1]}.{parts[2]}"] += 1

    with LocalCloud(FLOWS) as cloud:
        flows = cloud.workflows
        for client in (flows.sqs, flows.sfn, flows.log.client):
            client.meta.events.register("before-call.*.*", count)
        run_id = cloud.start_workflow("app:loop", {"n": ACTIVITIES})
        cloud.run_workflows()
        assert cloud.result(run_id).status == "completed"
        calls = dict(counted)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        execution = flows._executions[run_id]  # the harness keeps it per run
        history = sfn.get_execution_history(executionArn=execution, maxResults=1000)
        transitions = sum(1 for e in history["events"] if e["type"].endswith("StateEntered"))
    by_service: Counter[str] = Counter()
    for name, n in calls.items():
        by_service[name.split(".")[0]] += n
    writes = sum(
        n
        for name, n in calls.items()
        if name.split(".")[1] in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
    )
    reads = sum(
        n for name, n in calls.items() if name.split(".")[1] in ("GetItem", "Query", "Scan")
    )
    return {
        "transitions": transitions / ACTIVITIES,
        "dynamodb_writes": writes / ACTIVITIES,
        "dynamodb_reads": reads / ACTIVITIES,
        "sqs": by_service["sqs"] / ACTIVITIES,
        "sfn": by_service["sfn"] / ACTIVITIES,
    }


def run() -> list[Figure]:
    engine = Engine(manifest.load_app(FLOWS), clock=ManualClock())
    try:
        short_sticky, short_full = _step_times(engine, SHORT)
        long_sticky, long_full = _step_times(engine, LONG)
    finally:
        engine.close()
    calls = _calls_per_activity()
    return [
        Figure("workflow step at 10 events, sticky cache", short_sticky * 1e6, "µs"),
        Figure("workflow step at 1,000 events, sticky cache", long_sticky * 1e6, "µs"),
        Figure(
            "sticky step, 1,000 vs 10 events",
            long_sticky / short_sticky,
            "x",
            "goal at most 1.5",
        ),
        Figure("workflow step at 10 events, full replay", short_full * 1e6, "µs"),
        Figure("workflow step at 1,000 events, full replay", long_full * 1e6, "µs"),
        Figure("full replay step, 1,000 vs 10 events", long_full / short_full, "x"),
        Figure(
            "Step Functions state transitions per activity",
            calls["transitions"],
            "transitions",
            "Step, Route, Park per loop; the bill of Standard workflows",
        ),
        Figure("DynamoDB writes per activity", calls["dynamodb_writes"], "calls"),
        Figure("DynamoDB reads per activity", calls["dynamodb_reads"], "calls"),
        Figure("SQS calls per activity", calls["sqs"], "calls", "send, receive, delete"),
        Figure("Step Functions API calls per activity", calls["sfn"], "calls", "SendTaskSuccess"),
    ]
