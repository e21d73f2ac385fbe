"""``queue.consumer`` entries on this machine: one engine and one poller per consumer over the
queues :func:`runtime.message_queues.create_local_queues` made in moto, one round at a time
(the harness's ``drain`` and the dev stack's pumps run the rounds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from runtime import manifest
from runtime.message_queues import decode_body
from runtime.processes.event_source import PollResult, QueuePoller
from runtime.processes.local import lambda_handler_for
from runtime.queue_consumer import ConsumerCrash, FaultHook, QueueConsumer

#: What ends a consumer's invocation as a crash: the fault hook's kill, and Powertools'
#: error when every record of a batch failed (the Lambda fails; SQS gives the batch back).
DIED = (ConsumerCrash, BatchProcessingError)


def _sqs_processor() -> BatchProcessor:
    return BatchProcessor(event_type=EventType.SQS)


@dataclass
class _Consumer:
    consumer: QueueConsumer
    poller: QueuePoller
    handler: Any


class LocalConsumers:
    """Runs every ``queue.consumer`` of an app over its moto queue."""

    def __init__(
        self,
        registry: manifest.Registry,
        resources: Any,
        *,
        region: str,
        new_engine: Any,
        fault: FaultHook | None = None,
    ) -> None:
        self.resources = resources
        self.engines: list[Any] = []
        self.consumers: dict[str, _Consumer] = {}
        for entry in registry.of_kind(manifest.QueueConsumerEntry):
            queue = registry.get(entry.queue)
            engine = new_engine(entry)
            self.engines.append(engine)
            consumer = QueueConsumer(engine, entry.id, fault=fault)
            poller = QueuePoller(
                resources.sqs,
                resources.queues[entry.queue],
                batch_size=entry.batch_size,
                visibility_timeout=queue.visibility_timeout or 30,
                region=region,
            )
            handler = lambda_handler_for(consumer.handle, _sqs_processor)
            self.consumers[entry.id] = _Consumer(consumer, poller, handler)

    def poll(self, consumer_id: str) -> PollResult:
        """One batch of one consumer (an empty result when it is gone after a reload)."""
        found = self.consumers.get(consumer_id)
        if found is None:
            return PollResult(0, 0, False)
        return found.poller.poll(found.handler, DIED)

    def round(self) -> tuple[int, bool]:
        """One batch of every consumer: (invocations, whether any message was received)."""
        invocations, progressed = 0, False
        for consumer_id in self.consumers:
            got = self.poll(consumer_id)
            if got.received:
                invocations += 1
                progressed = True
        return invocations, progressed

    def dead_letters(self, queue_id: str) -> list[Any]:
        """The values in a queue's DLQ, decoded (read without consuming)."""
        url = self.resources.dead_letter_queues[queue_id]
        sqs = self.resources.sqs
        values = []
        while True:
            reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = reply.get("Messages") or []
            if not messages:
                break
            values += [decode_body(m["Body"]) for m in messages]
        return values

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
