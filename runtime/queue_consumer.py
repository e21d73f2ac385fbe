"""A ``queue.consumer``: its function run for each message of its queue's Lambda SQS batch.

The consumer Lambda (``handlers/queue_consumer.py``) and the local event sources (the harness's
``drain``, the dev stack's pumps) hand :meth:`QueueConsumer.handle` one record at a time
through Powertools' ``BatchProcessor`` (partial batch responses). The function gets the
message's decoded body as its one argument; ``queue.message()`` is the record (id, headers).

Settling, as Wippy's consumer settles: the function's success acks (the record is deleted by
the event source), ``false``, ``nil, err`` or a raised error nack (the record is reported
failed, so SQS hands it out again after the visibility timeout, and to the queue's DLQ after
``max_attempts`` receives). ``msg:ack()`` / ``msg:nack()`` settle early: the first settlement
wins, whatever the function does afterwards.

Delivery is at least once: a Lambda that dies after the function ran and before the batch
response is handled gets the same messages again, with the same ``msg:id()`` (SQS's message
id) for the function to deduplicate on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime import manifest
from runtime.errors import INVALID, UnitError
from runtime.message_queues import decode_body, headers_of_record

#: Points where a test may kill the consumer (:class:`ConsumerCrash`): after the function ran,
#: before the batch response reaches the event source.
CONSUMER_FAULT_POINTS = ("after_function",)

_serials = itertools.count(1)
_live: dict[int, Delivery] = {}
_lock = threading.Lock()


class ConsumerCrash(Exception):
    """The consumer Lambda died (a test's fault hook): the whole batch is redelivered."""


class Nacked(Exception):
    """A record whose message is to be received again (the batch response reports it)."""


@dataclass
class Delivery:
    """One message being handled: what ``queue.message()`` shows and how it was settled."""

    message_id: str
    headers: dict[str, Any]
    serial: int = field(default_factory=lambda: next(_serials))
    outcome: str | None = None
    released: bool = False

    def settle(self, outcome: str) -> bool:
        """Record ``ack`` or ``nack`` unless settled already; whether this call settled it."""
        if self.outcome is not None:
            return False
        self.outcome = outcome
        return True


def live_delivery(serial: int) -> Delivery | None:
    """The delivery a ``queue.Message`` stands for, while its function runs."""
    return _live.get(serial)


FaultHook = Callable[[str, str], bool]


class QueueConsumer:
    """Runs one ``queue.consumer`` entry's function over SQS records, on ``engine``."""

    def __init__(self, engine: Any, consumer_id: str, *, fault: FaultHook | None = None) -> None:
        entry = engine.registry.get(consumer_id)
        if not isinstance(entry, manifest.QueueConsumerEntry):
            raise UnitError(INVALID, f"'{consumer_id}' is a {entry.kind}, not a queue.consumer")
        self.engine = engine
        self.entry = entry
        self.fault = fault
        #: Messages handled, acked and nacked (for tests and metrics).
        self.handled = self.acked = self.nacked = 0

    def handle(self, record: Any) -> None:
        """One record (a Powertools ``SQSRecord`` or the raw dict): run the function, raise
        :class:`Nacked` to leave the message for redelivery."""
        raw = record.raw_event if hasattr(record, "raw_event") else record
        delivery = Delivery(raw["messageId"], headers_of_record(raw))
        with _lock:
            _live[delivery.serial] = delivery
        error: UnitError | None = None
        try:
            body = decode_body(raw["body"])
            value = self.engine.call(self.entry.func, [body], delivery=delivery)
        except UnitError as exc:
            error, value = exc, None
        except ValueError as exc:  # a body that is not the codec's JSON
            error, value = UnitError(INVALID, f"message {raw['messageId']}: bad body: {exc}"), None
        finally:
            delivery.released = True
            with _lock:
                _live.pop(delivery.serial, None)
        self.handled += 1
        if self.fault is not None and self.fault("after_function", delivery.message_id):
            raise ConsumerCrash(f"consumer {self.entry.id} killed after the function ran")
        delivery.settle("nack" if error is not None or value is False else "ack")
        if delivery.outcome == "nack":
            self.nacked += 1
            why = error.message if error is not None else "the function returned false"
            self.engine.emit_log(
                "warn",
                "queue message nacked",
                {"consumer": self.entry.id, "message_id": delivery.message_id, "error": why},
            )
            raise Nacked(f"{self.entry.func}: {why}")
        self.acked += 1
