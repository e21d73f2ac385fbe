"""A ``queue.consumer``'s Lambda: runs its function for each message of its queue (SQS)."""

from __future__ import annotations

import os
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

from runtime.bootstrap import engine_from_environment, powertools_sink
from runtime.message_queues import CONSUMER_ENV
from runtime.queue_consumer import Nacked, QueueConsumer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
ENGINE = engine_from_environment(log_sink=powertools_sink(logger))
CONSUMER = QueueConsumer(ENGINE, os.environ[CONSUMER_ENV])
PROCESSOR = BatchProcessor(event_type=EventType.SQS)


def run(record: SQSRecord) -> None:
    """One message; a nack is a failed record, received again (and dead-lettered in time)."""
    try:
        CONSUMER.handle(record)
    except Nacked:
        metrics.add_metric(name="QueueMessagesNacked", unit=MetricUnit.Count, value=1)
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=run, processor=PROCESSOR, context=context
    )
