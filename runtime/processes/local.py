"""Process hosts on this machine: the table and queues created through boto3 (moto in tests and
in the dev stack), one worker per host, and a drain loop standing in for the event sources."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response

from runtime import manifest
from runtime.aws.dynamodb import create_table
from runtime.clock import Clock
from runtime.processes.event_source import QueuePoller
from runtime.processes.mailboxes import Mailboxes
from runtime.processes.store import ActorStore
from runtime.processes.system import ProcessSystem
from runtime.processes.worker import (
    ActorBatchProcessor,
    FaultHook,
    ProcessWorker,
    WorkerCrash,
    start_services,
)

TABLE_NAME = "units-processes"


def speed_up_moto_sqs() -> None:
    """Give moto's SQS model a cheap clock.

    moto checks every queued message's visibility on every call, each check reading the time
    through ``datetime`` (so that freezegun can move it): with a thousand messages queued that
    is most of a harness run. ``time.time()`` gives the same wall-clock reading, so the queues
    behave exactly as before, only faster. Idempotent.
    """
    from moto.sqs import models

    models.unix_time = time.time  # type: ignore[assignment]
    models.unix_time_millis = lambda: time.time() * 1000.0  # type: ignore[assignment]
    # Queue.attributes converts the same dozen attribute names on every call.
    if not hasattr(models.camelcase_to_underscores, "cache_info"):
        models.camelcase_to_underscores = functools.lru_cache(maxsize=256)(  # type: ignore[assignment]
            models.camelcase_to_underscores
        )


def lambda_handler_for(record_handler: Any, new_processor: Any = ActorBatchProcessor) -> Any:
    """An SQS event -> partial batch response callable over ``record_handler``, the way the
    queue's Lambda handler wires it (a worker's ``handle`` with the actor batch processor by
    default; ``handlers/activity.py`` passes a plain SQS ``BatchProcessor``)."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=new_processor()
        )

    return invoke


def queue_name(host_id: str, suffix: str = "") -> str:
    """The queue name the stack gives a host: ``units-<ns>-<name><suffix>``."""
    return "units-" + host_id.replace(":", "-").replace(".", "-") + suffix


@dataclass
class _Host:
    entry: manifest.ProcessHostEntry
    worker: ProcessWorker
    queue: QueuePoller
    delays: QueuePoller
    dlq_url: str


class DrainError(RuntimeError):
    """The queues did not empty within the round limit (something keeps sending)."""


def drain_rounds(rounds: list[Any], max_rounds: int) -> int:
    """Run every ``round()`` (-> (invocations, progressed)) until two rounds in a row move
    nothing; the invocations in all. Two, because moto hands a message that was made visible
    again only from the second receive on.

    Raises:
        DrainError: still busy after ``max_rounds``.
    """
    invocations, idle = 0, 0
    for _ in range(max_rounds):
        progressed = False
        for round_ in rounds:
            count, moved = round_()
            invocations += count
            progressed = progressed or moved
        idle = 0 if progressed else idle + 1
        if idle >= 2:
            return invocations
    raise DrainError(f"queues still busy after {max_rounds} rounds")


class LocalProcesses:
    """Creates the resources and runs the workers of every ``process.host`` of an app."""

    def __init__(
        self,
        registry: manifest.Registry,
        clock: Clock,
        *,
        dynamodb: Any,
        sqs: Any,
        region: str,
        new_engine: Any,
        fault: FaultHook | None = None,
    ) -> None:
        speed_up_moto_sqs()
        self.registry = registry
        self.sqs = sqs
        self.region = region
        hosts = registry.of_kind(manifest.ProcessHostEntry)
        # It exists when the dev stack rebuilds the hosts after a code change.
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            create_table(dynamodb, TABLE_NAME)
        queues, delays, dlqs = {}, {}, {}
        for host in hosts:
            queues[host.id], delays[host.id], dlqs[host.id] = self._create_queues(host)
        virtual = bool(getattr(clock, "virtual", False))
        self.system = ProcessSystem(
            registry,
            ActorStore(dynamodb, TABLE_NAME),
            Mailboxes(sqs, queues, delays, clock, hold_delays=virtual),
            clock,
        )
        self.hosts: dict[str, _Host] = {}
        self.engines = []
        for host in hosts:
            engine = new_engine(processes=self.system)
            self.engines.append(engine)
            worker = ProcessWorker(engine, self.system, host.id, fault=fault)
            visibility = int(host.visibility_timeout)
            self.hosts[host.id] = _Host(
                host,
                worker,
                QueuePoller(
                    sqs,
                    queues[host.id],
                    batch_size=host.batch_size,
                    visibility_timeout=visibility,
                    region=region,
                ),
                QueuePoller(
                    sqs,
                    delays[host.id],
                    batch_size=10,
                    visibility_timeout=visibility,
                    region=region,
                ),
                dlqs[host.id],
            )

    def _create_queues(self, host: manifest.ProcessHostEntry) -> tuple[str, str, str]:
        visibility = str(int(host.visibility_timeout))
        dlq = self.sqs.create_queue(
            QueueName=queue_name(host.id, "-dlq.fifo"),
            Attributes={"FifoQueue": "true"},
        )["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        queue = self.sqs.create_queue(
            QueueName=queue_name(host.id, ".fifo"),
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "false",
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
                "VisibilityTimeout": visibility,
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": host.max_receive_count}
                ),
            },
        )["QueueUrl"]
        delays = self.sqs.create_queue(
            QueueName=queue_name(host.id, "-delays"), Attributes={"VisibilityTimeout": visibility}
        )["QueueUrl"]
        return queue, delays, dlq

    def start_services(self) -> list[str]:
        """Spawn the auto-started services (what the stack's deploy-time custom resource does)."""
        return start_services(self.system)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run the workers until every queue is empty; return the number of worker invocations.

        Delayed messages that are not due stay where they are (``advance_time`` makes them due).
        A worker killed by a fault hook is a crashed Lambda: its batch comes back next round.
        """
        return drain_rounds([self.round], max_rounds)

    def round(self) -> tuple[int, bool]:
        """One poll of every host's delay queue and mailbox: (worker invocations, whether
        anything moved)."""
        invocations, progressed = 0, False
        for host in self.hosts.values():
            moved = host.delays.poll(lambda_handler_for(host.worker.handle), WorkerCrash)
            invocations += 1 if moved.received else 0
            progressed = progressed or moved.deleted > 0
            got = host.queue.poll(lambda_handler_for(host.worker.handle), WorkerCrash)
            if got.received:
                invocations += 1
                progressed = True
        return invocations, progressed

    def dead_letters(self, host_id: str) -> list[str]:
        """The bodies in a host's DLQ (read without consuming: they become visible again)."""
        url = self.hosts[host_id].dlq_url
        bodies = []
        while True:
            reply = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
            )
            messages = reply.get("Messages") or []
            if not messages:
                break
            bodies += [m["Body"] for m in messages]
        return bodies

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
