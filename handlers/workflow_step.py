"""The step Lambda of a workflow host: the driver's ``Wake`` task (runtime/workflows/asl.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.bootstrap import (
    engine_from_environment,
    powertools_sink,
    workflow_host_from_environment,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
ENGINE = engine_from_environment(log_sink=powertools_sink(logger))
HOST = workflow_host_from_environment(ENGINE)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stats, inline = HOST.stepper.stats, HOST.stepper.inline
    before = stats.sticky_hits, stats.sticky_misses, stats.conflicts, inline.attempts
    logger.append_keys(run_id=event.get("run_id"))
    # Inline activities stop short of the Lambda's own timeout.
    reply = HOST.step(event, context.get_remaining_time_in_millis() / 1000)  # type: ignore[arg-type]
    now = stats.sticky_hits, stats.sticky_misses, stats.conflicts, inline.attempts
    names = ("StickyCacheHits", "StickyCacheMisses", "AppendConflicts", "InlineActivities")
    for name, value, then in zip(names, now, before, strict=True):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value - then)
    return reply
