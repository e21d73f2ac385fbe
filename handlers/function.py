"""The function Lambda: direct invokes ``{"id", "args", "context"}`` of function entries."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from runtime import function_service
from runtime.bootstrap import engine_from_environment, powertools_sink
from runtime.errors import INVALID, UnitError

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
ENGINE = engine_from_environment(log_sink=powertools_sink(logger))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        validate(event=event, schema=function_service.INVOKE_SCHEMA)
    except SchemaValidationError as exc:
        return function_service.error_reply(UnitError(INVALID, f"bad invoke event: {exc.message}"))
    reply = function_service.invoke(ENGINE, event)
    metrics.add_metric(
        name="Calls" if reply["ok"] else "CallErrors", unit=MetricUnit.Count, value=1
    )
    return reply
