"""The activity Lambda of a workflow host: runs the activities on its queue (SQS)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
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
PROCESSOR = BatchProcessor(event_type=EventType.SQS)


def run(record: SQSRecord) -> None:
    """One activity; an exception (an AWS error, not the function's) retries the message."""
    if not HOST.run_activity(json.loads(record.body)):
        metrics.add_metric(name="ActivityRedeliveries", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=run, processor=PROCESSOR, context=context
    )
