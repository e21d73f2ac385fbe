"""The worker Lambda of one process host: SQS FIFO batches (and the host's delay queue)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from runtime.bootstrap import HOST_ENV, engine_from_environment, powertools_sink
from runtime.processes.worker import ActorBatchProcessor, ProcessWorker

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="ComputeUnits")
ENGINE = engine_from_environment(log_sink=powertools_sink(logger))
if ENGINE.processes is None:
    raise RuntimeError("the process worker needs UNITS_TABLE and UNITS_PROCESS_QUEUES")
WORKER = ProcessWorker(ENGINE, ENGINE.processes, os.environ[HOST_ENV])
PROCESSOR = ActorBatchProcessor()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    before = WORKER.stats.turns, WORKER.stats.cache_hits, WORKER.stats.cache_misses
    WORKER.loops.longest = 0
    reply = process_partial_response(
        event=event, record_handler=WORKER.handle, processor=PROCESSOR, context=context
    )
    turns, hits, misses = (
        now - then
        for now, then in zip(
            (WORKER.stats.turns, WORKER.stats.cache_hits, WORKER.stats.cache_misses),
            before,
            strict=True,
        )
    )
    metrics.add_metric(name="Turns", unit=MetricUnit.Count, value=turns)
    metrics.add_metric(name="SnapshotCacheHits", unit=MetricUnit.Count, value=hits)
    metrics.add_metric(name="SnapshotCacheMisses", unit=MetricUnit.Count, value=misses)
    if WORKER.loops.longest:
        # The longest journal generation of the loop processes this batch ran: a cold worker
        # replays that many events (process.upgrade starts a new generation).
        metrics.add_metric(name="JournalLength", unit=MetricUnit.Count, value=WORKER.loops.longest)
    return reply
