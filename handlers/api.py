"""The API Lambda: API Gateway HTTP API (v2) events routed to ``http.endpoint`` functions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.bootstrap import engine_from_environment, powertools_sink
from runtime.http_api import HttpApi

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
API = HttpApi(engine_from_environment(log_sink=powertools_sink(logger)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return API.resolve(event, context)
