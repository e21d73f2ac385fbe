"""The queues of one process host (its FIFO mailbox queue, its delay queue, and their DLQs) and
of one workflow host (its activity queue and DLQ).

Built as the local harness builds them (``runtime.processes.local``), so what the tests prove
there holds here:

- the **FIFO queue** is every actor's mailbox on the host (``MessageGroupId`` = pid): content
  deduplication off, because every send carries its own deterministic deduplication id (a
  retried outbox send must be dropped, two equal messages must not); deduplication per message
  group with the per-group throughput limit, which is SQS's high-throughput FIFO mode;
- its **FIFO DLQ** takes a message after ``max_receive_count`` failed receives (a poison
  message, or an actor that keeps crashing the worker);
- the **delay queue** is a standard queue, because FIFO queues take no per-message
  ``DelaySeconds``: delayed sends (a service's restart backoff) wait there and the worker
  forwards them to the FIFO queue when due; it has a standard DLQ of its own;
- a workflow host's **activity queue** is a standard queue: activities are independent
  function calls, each recorded once in the run's log whatever order or how many times they
  arrive (the step ignores a redelivered result), so FIFO ordering would buy nothing and cap
  throughput. Its DLQ takes an activity message that kept failing the activity Lambda.

Every queue is encrypted with SQS-managed keys (no key to manage, nothing to grant) and refuses
requests that are not over TLS. Every queue keeps its messages 14 days, SQS's maximum: an event
source queue as long as its DLQ, so a worker broken for a long weekend loses nothing. A
CloudWatch alarm goes off when any DLQ holds a message, and when an event source queue's oldest
message is older than its consumer should ever let it get.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.alarms import at_least_one, oldest_message_alarm
from infra.plan import ProcessHost, WorkflowHost

#: How long dead letters are kept: SQS's maximum, time enough to look at them after an alarm.
DLQ_RETENTION = Duration.days(14)
#: How long an event source queue keeps a message: as long as its DLQ (SQS's default, 4 days,
#: would drop messages a broken worker never took before they could even dead-letter).
QUEUE_RETENTION = Duration.days(14)
#: The longest a message waits in a delay queue by design: SQS's longest ``DelaySeconds`` (a
#: delayed send not yet due is sent back with the rest of its delay, at most this again).
MAX_DELAY_SECONDS = 900


def _queue(scope: Construct, construct_id: str, **props: Any) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        **props,
    )


def dead_letter_alarm(
    scope: Construct, construct_id: str, queue: sqs.Queue, description: str
) -> cloudwatch.Alarm:
    """An alarm that goes off as soon as ``queue`` (a DLQ) holds a message."""
    metric = queue.metric_approximate_number_of_messages_visible(
        period=Duration.minutes(5), statistic="Maximum"
    )
    return at_least_one(scope, construct_id, metric, description)


class HostQueues(Construct):
    """``queue`` (FIFO), ``dead_letters`` (its FIFO DLQ), ``delays`` (standard) and
    ``delay_dead_letters``; ``alarms`` on the two DLQs, ``age_alarms`` on the two event source
    queues' oldest message."""

    def __init__(self, scope: Construct, construct_id: str, *, host: ProcessHost) -> None:
        super().__init__(scope, construct_id)
        entry = host.entry
        # The worker's timeout is at most this (plan.py checks), so SQS never hands a batch to
        # a second worker while the first may still be on it.
        visibility = Duration.seconds(host.visibility_timeout)
        self.dead_letters = _queue(self, "DeadLetters", fifo=True, retention_period=DLQ_RETENTION)
        self.queue = _queue(
            self,
            "Queue",
            fifo=True,
            content_based_deduplication=False,
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            visibility_timeout=visibility,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=entry.max_receive_count
            ),
        )
        self.delay_dead_letters = _queue(self, "DelayDeadLetters", retention_period=DLQ_RETENTION)
        self.delays = _queue(
            self,
            "Delays",
            visibility_timeout=visibility,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.delay_dead_letters, max_receive_count=entry.max_receive_count
            ),
        )
        self.alarms = [
            self._dead_letter_alarm("DeadLettersAlarm", self.dead_letters, host.id, "messages"),
            self._dead_letter_alarm(
                "DelayDeadLettersAlarm", self.delay_dead_letters, host.id, "delayed messages"
            ),
        ]
        what = f"Compute Units process host {host.id}"
        self.age_alarms = [
            oldest_message_alarm(self, "QueueAgeAlarm", self.queue, f"{what}: mailbox queue"),
            oldest_message_alarm(
                self,
                "DelaysAgeAlarm",
                self.delays,
                f"{what}: delay queue",
                delay=MAX_DELAY_SECONDS,
            ),
        ]

    def _dead_letter_alarm(
        self, construct_id: str, queue: sqs.Queue, host_id: str, what: str
    ) -> cloudwatch.Alarm:
        return dead_letter_alarm(
            self,
            construct_id,
            queue,
            f"Compute Units process host {host_id}: {what} reached the dead-letter queue "
            "(a poison message, or an actor that keeps failing)",
        )


class ActivityQueues(Construct):
    """A workflow host's ``queue`` (standard) of activities to run, its ``dead_letters`` and
    ``alarm`` on them, and ``age_alarm`` on the queue's oldest message."""

    def __init__(self, scope: Construct, construct_id: str, *, host: WorkflowHost) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = _queue(self, "DeadLetters", retention_period=DLQ_RETENTION)
        self.queue = _queue(
            self,
            "Queue",
            # Six times the activity Lambda's timeout (plan.py): SQS never hands a batch to a
            # second Lambda while the first may still run it, with room for throttling retries.
            visibility_timeout=Duration.seconds(host.activity_visibility_timeout),
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=host.entry.activity_max_receive_count
            ),
        )
        self.alarm = dead_letter_alarm(
            self,
            "DeadLettersAlarm",
            self.dead_letters,
            f"Compute Units workflow host {host.id}: activity messages reached the dead-letter "
            "queue (the activity Lambda kept failing on them)",
        )
        self.age_alarm = oldest_message_alarm(
            self,
            "QueueAgeAlarm",
            self.queue,
            f"Compute Units workflow host {host.id}: activity queue",
        )
