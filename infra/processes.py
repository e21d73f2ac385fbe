"""Process hosts: every host's queues, and one worker Lambda per ``process.host``, over the
stack's table (``infra.tables``, shared with the workflow hosts).

A worker consumes its host's FIFO queue (batches of ``batch_size``, at most ``max_concurrency``
concurrent batches when set) and its delay queue, both reporting partial batch failures so one
failing actor never makes SQS redeliver another's messages. Actors send to any host, so every
worker may send to every host's FIFO and delay queue; functions and the API spawn, send and
look names up, so they get the table and the FIFO queues (they never send delayed messages).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra.environment import DELAY_QUEUES_ENV, HOST_ENV, QUEUES_ENV, TABLE_ENV
from infra.lambdas import UnitLambda
from infra.plan import ProcessHost
from infra.queues import HostQueues

WORKER_HANDLER = "handlers.process_worker.handler"
#: Delay-queue messages are forwarded one SQS call each, so a full standard batch is cheap.
DELAY_BATCH_SIZE = 10


class ProcessHosts(Construct):
    """``table``, ``queues`` and ``workers`` (both by host id), and ``environment``: what every
    Lambda of the stack needs to reach the processes (table name and the two queue maps)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hosts: tuple[ProcessHost, ...],
        table: dynamodb.Table,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = table
        self.queues = {host.id: HostQueues(self, f"Queues[{host.id}]", host=host) for host in hosts}
        stack = Stack.of(self)
        self.environment: dict[str, str] = {
            TABLE_ENV: self.table.table_name,
            QUEUES_ENV: stack.to_json_string(
                {host_id: q.queue.queue_url for host_id, q in self.queues.items()}
            ),
            DELAY_QUEUES_ENV: stack.to_json_string(
                {host_id: q.delays.queue_url for host_id, q in self.queues.items()}
            ),
        }
        self.workers: dict[str, UnitLambda] = {}
        for host in hosts:
            self.workers[host.id] = self._worker(host, code, architecture, environment)

    def _worker(
        self,
        host: ProcessHost,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
    ) -> UnitLambda:
        worker = UnitLambda(
            self,
            f"Worker[{host.id}]",
            code=code,
            handler=WORKER_HANDLER,
            architecture=architecture,
            size=host.size,
            environment={**environment, **self.environment, HOST_ENV: host.id},
            description=f"Compute Units process host {host.id}: runs its actors' turns"[:256],
            # It sends to its own FIFO queue (actors' messages to actors of the host) and delay
            # queue (restart backoffs, delayed sends not yet due), its two event sources: an
            # actor conversation or a backoff chain must not be cut after 16 hops.
            recursive_loop=True,
        )
        queues = self.queues[host.id]
        # The event source mappings grant the worker receive/delete on these two queues only.
        worker.function.add_event_source(
            event_sources.SqsEventSource(
                queues.queue,
                batch_size=host.entry.batch_size,
                max_concurrency=host.entry.max_concurrency,
                report_batch_item_failures=True,
            )
        )
        worker.function.add_event_source(
            event_sources.SqsEventSource(
                queues.delays, batch_size=DELAY_BATCH_SIZE, report_batch_item_failures=True
            )
        )
        # Snapshots are read, committed under a condition and names registered/released.
        self.table.grant_read_write_data(worker.function)
        # Outboxes go to any host; restarts are delayed sends to the service's host's delay
        # queue, and a delayed message not yet due is sent back to the delay queue.
        for other in self.queues.values():
            other.queue.grant_send_messages(worker.function)
            other.delays.grant_send_messages(worker.function)
        return worker

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` send to every host's FIFO queue (spawn, send, cancel, terminate)."""
        for queues in self.queues.values():
            queues.queue.grant_send_messages(grantee)

    def grant_clients(self, grantee: iam.IGrantable) -> None:
        """What functions and the API use: the FIFO queues, and the table for registered names
        and ``process.exec``-style reads of snapshots."""
        self.table.grant_read_write_data(grantee)
        self.grant_send(grantee)
