"""What Lambda's SQS event source mapping does, for the harness and the local stack.

:class:`QueuePoller` receives a batch with boto3, hands it to a handler as the Lambda event
would carry it, deletes what succeeded, and makes the failures visible again at once (standing
in for the visibility timeout running out, which moto would count in wall time). A handler that
dies (:class:`~runtime.processes.worker.WorkerCrash`) leaves the whole batch to be redelivered,
as a Lambda that crashed would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.message_queues import lambda_attributes

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message from ``receive_message`` in the shape of a Lambda SQS event record."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": lambda_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass
class PollResult:
    """One poll: how many messages came, how many were deleted, whether the handler died."""

    received: int
    deleted: int
    crashed: bool


class QueuePoller:
    """Polls one queue for one handler."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        *,
        batch_size: int,
        visibility_timeout: int,
        region: str,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.batch_size = max(1, min(10, batch_size))
        self.visibility_timeout = visibility_timeout
        self.region = region
        attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]

    def poll(
        self,
        handler: Handler,
        crash_type: type[BaseException] | tuple[type[BaseException], ...],
    ) -> PollResult:
        reply = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            VisibilityTimeout=self.visibility_timeout,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages") or []
        if not messages:
            return PollResult(0, 0, False)
        event = {"Records": [lambda_record(m, self.queue_arn, self.region) for m in messages]}
        try:
            response = handler(event)
        except crash_type:
            self._release([m["ReceiptHandle"] for m in messages])
            return PollResult(len(messages), 0, True)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        self._release([m["ReceiptHandle"] for m in messages if m["MessageId"] in failed])
        return PollResult(len(messages), len(done), False)

    def _release(self, handles: list[str]) -> None:
        for handle in handles:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
