"""The step Lambda of a workflow host: the driver's ``Step`` state (runtime/workflows/asl.py)."""

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
    stats = HOST.stepper.stats
    before = stats.sticky_hits, stats.sticky_misses, stats.conflicts
    logger.append_keys(run_id=event.get("run_id"))
    reply = HOST.step(event)  # type: ignore[arg-type]
    hits, misses, conflicts = (
        now - then
        for now, then in zip(
            (stats.sticky_hits, stats.sticky_misses, stats.conflicts), before, strict=True
        )
    )
    metrics.add_metric(name="StickyCacheHits", unit=MetricUnit.Count, value=hits)
    metrics.add_metric(name="StickyCacheMisses", unit=MetricUnit.Count, value=misses)
    metrics.add_metric(name="AppendConflicts", unit=MetricUnit.Count, value=conflicts)
    return dict(reply)
