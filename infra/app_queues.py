"""The application's ``queue.queue`` entries (an SQS queue each, with a DLQ) and its
``queue.consumer`` entries (a Lambda each, fed by an SQS event source mapping).

- **Queues.** Standard, or FIFO when ``queue_name`` ends in ``.fifo`` (Wippy's SQS driver
  decides the same way); named ``queue_name`` when given (other systems find it by name), else
  named by CloudFormation. SQS-managed encryption, TLS only, the driver's retention and delay.
  Each has a DLQ of its own (14 days' retention, an alarm as soon as it holds a message) unless
  ``dead_letter.queue`` names another queue entry; a message goes there after
  ``dead_letter.max_attempts`` receives (5 by default). A queue with a consumer has an alarm on
  its oldest message's age too (the consumer is failing or not keeping up).
- **Consumers: a Lambda per consumer**, not the function Lambda with more event sources. Its
  role can receive and delete on exactly its queue (the event source mapping's grant) while the
  function Lambda, which anything may invoke, reads no queue; it is sized for the consumer's
  function (its ``deploy`` memory and timeout); its event source's maximum concurrency is the
  consumer's ``concurrency`` (at least 2, the least Lambda takes) and its batch size
  ``prefetch`` (at most 10); and a failing consumer shows in its own errors alarm.
  The function runs in process in it (it is the function's home).
- **Visibility timeout**: six times the longest timeout of the queue's consumers (AWS's advice
  for event sources), ``driver_options.sqs.default_visibility_timeout`` when given (it must be
  at least that longest timeout), 30 s for a queue nobody consumes.

Every Lambda that runs function code may publish to every queue and read its counts
(``SendMessage``, ``GetQueueAttributes``, ``GetQueueUrl``): nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.alarms import oldest_message_alarm
from infra.environment import APP_QUEUES_ENV, CONSUMER_ENV, HOME_FUNCTIONS_ENV
from infra.errors import SynthError
from infra.lambdas import UnitLambda
from infra.plan import ESM_CONCURRENCY, VISIBILITY_PER_TIMEOUT, LambdaSize
from infra.queues import DLQ_RETENTION, _queue, dead_letter_alarm
from runtime import manifest

CONSUMER_HANDLER = "handlers.queue_consumer.handler"
#: A queue nobody consumes keeps SQS's default visibility timeout.
DEFAULT_VISIBILITY = 30


def consumer_size(registry: manifest.Registry, consumer: manifest.QueueConsumerEntry) -> LambdaSize:
    """The consumer Lambda's size: its function's ``deploy`` memory and timeout."""
    deploy = registry.get(consumer.func).deploy  # type: ignore[attr-defined]
    return LambdaSize(deploy.memory, math.ceil(deploy.timeout))


def visibility_timeouts(registry: manifest.Registry) -> dict[str, int]:
    """Each queue's visibility timeout in whole seconds (see the module's docstring).

    Raises:
        SynthError: a queue's own visibility timeout is shorter than a consumer's Lambda runs.
    """
    longest: dict[str, int] = {}
    for consumer in registry.of_kind(manifest.QueueConsumerEntry):
        timeout = consumer_size(registry, consumer).timeout
        longest[consumer.queue] = max(longest.get(consumer.queue, 0), timeout)
    out, problems = {}, []
    for entry in registry.of_kind(manifest.QueueEntry):
        slowest = longest.get(entry.id)
        if entry.visibility_timeout is not None:
            if slowest is not None and entry.visibility_timeout < slowest:
                problems.append(
                    f"{entry.file}: entry '{entry.id}' field "
                    f"'driver_options.sqs.default_visibility_timeout': {entry.visibility_timeout}"
                    f" s is shorter than its consumer's Lambda may run ({slowest} s): SQS would "
                    "hand a message to a second consumer while the first may still be on it"
                )
            out[entry.id] = entry.visibility_timeout
        else:
            out[entry.id] = (
                VISIBILITY_PER_TIMEOUT * slowest if slowest is not None else DEFAULT_VISIBILITY
            )
    if problems:
        raise SynthError("the queues cannot be deployed:", problems)
    return out


class AppQueues(Construct):
    """``queues`` and ``dead_letters`` (entry id -> queue; a DLQ shared through
    ``dead_letter.queue`` is that entry's queue), ``alarms``, and ``consumers`` (entry id ->
    its Lambda) once :meth:`add_consumers` ran."""

    def __init__(self, scope: Construct, construct_id: str, *, registry: manifest.Registry) -> None:
        super().__init__(scope, construct_id)
        self.registry = registry
        entries = registry.of_kind(manifest.QueueEntry)
        visibility = visibility_timeouts(registry)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letters: dict[str, sqs.Queue] = {}
        self.alarms: list[cloudwatch.Alarm] = []
        self.consumers: dict[str, UnitLambda] = {}
        # The queues other queues dead-letter to first (they dead-letter to their own DLQ).
        targets = {e.dead_letter_queue for e in entries if e.dead_letter_queue}
        for entry in sorted(entries, key=lambda e: e.id not in targets):
            label = f"[{entry.id}]"
            if entry.dead_letter_queue:
                dlq = self.queues[entry.dead_letter_queue]
            else:
                dlq = _queue(
                    self,
                    f"DeadLetters{label}",
                    fifo=entry.fifo or None,
                    retention_period=DLQ_RETENTION,
                )
                self.alarms.append(
                    dead_letter_alarm(
                        self,
                        f"DeadLettersAlarm{label}",
                        dlq,
                        f"Compute Units queue {entry.id}: messages reached its dead-letter queue "
                        f"(its consumer failed on them {entry.max_attempts} times)",
                    )
                )
            driver = registry.get(entry.driver)
            self.dead_letters[entry.id] = dlq
            self.queues[entry.id] = _queue(
                self,
                f"Queue{label}",
                queue_name=entry.queue_name,
                fifo=entry.fifo or None,
                visibility_timeout=Duration.seconds(visibility[entry.id]),
                retention_period=Duration.seconds(driver.message_retention_period),  # type: ignore[attr-defined]
                delivery_delay=Duration.seconds(driver.default_delay_seconds),  # type: ignore[attr-defined]
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dlq, max_receive_count=entry.max_attempts
                ),
            )

    def environment(self) -> dict[str, str]:
        """The variable naming every queue's URL (``runtime.resources``)."""
        urls = {k: q.queue_url for k, q in sorted(self.queues.items())}
        return {APP_QUEUES_ENV: Stack.of(self).to_json_string(urls)} if urls else {}

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` publish to every queue and read its counts (``queue.info``)."""
        for queue in self.queues.values():
            queue.grant_send_messages(grantee)

    def add_consumers(
        self,
        *,
        code: lambda_.Code,
        architecture: str,
        environment: Mapping[str, str],
    ) -> None:
        """One Lambda per ``queue.consumer``, fed by its queue (see the module docstring)."""
        for consumer in self.consumers_entries():
            fn = UnitLambda(
                self,
                f"Consumer[{consumer.id}]",
                code=code,
                handler=CONSUMER_HANDLER,
                architecture=architecture,
                size=consumer_size(self.registry, consumer),
                environment={
                    **environment,
                    CONSUMER_ENV: consumer.id,
                    HOME_FUNCTIONS_ENV: consumer.func,
                },
                description=f"Compute Units queue consumer {consumer.id}: runs {consumer.func} "
                f"for each message of {consumer.queue}"[:256],
                # Its function may publish to the queue that feeds it (every function may
                # publish to every queue of the app; re-enqueueing is a pattern, and the
                # harness runs it without a cut-off): SQS -> Lambda -> same queue is allowed.
                recursive_loop=True,
            )
            # The mapping grants receive, delete and visibility changes on this queue only.
            fn.function.add_event_source(
                event_sources.SqsEventSource(
                    self.queues[consumer.queue],
                    batch_size=consumer.batch_size,
                    max_concurrency=max(ESM_CONCURRENCY[0], consumer.concurrency),
                    report_batch_item_failures=True,
                )
            )
            self.consumers[consumer.id] = fn
        for queue_id in sorted({c.queue for c in self.consumers_entries()}):
            entry = self.registry.get(queue_id)
            driver = self.registry.get(entry.driver)  # type: ignore[attr-defined]
            self.alarms.append(
                oldest_message_alarm(
                    self,
                    f"QueueAgeAlarm[{queue_id}]",
                    self.queues[queue_id],
                    f"Compute Units queue {queue_id}",
                    delay=driver.default_delay_seconds,  # type: ignore[attr-defined]
                )
            )

    def consumers_entries(self) -> list[manifest.QueueConsumerEntry]:
        """The application's ``queue.consumer`` entries."""
        return self.registry.of_kind(manifest.QueueConsumerEntry)
