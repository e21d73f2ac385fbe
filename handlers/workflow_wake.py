"""The wake Lambda of a workflow host: the driver's ``Park`` state stores its task token here."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.bootstrap import (
    engine_from_environment,
    powertools_sink,
    workflow_host_from_environment,
)

logger = Logger()
tracer = Tracer()
ENGINE = engine_from_environment(log_sink=powertools_sink(logger))
HOST = workflow_host_from_environment(ENGINE)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event.get("run_id"))
    return HOST.wake(event)  # type: ignore[arg-type]
