"""The SQS side of Wippy's queues (``queue.queue`` / ``queue.consumer`` entries).

Shared by the ``queue`` module (publishing), the consumer runner (:mod:`runtime.queue_consumer`),
the harness and ``units dev`` (which create the queues in moto) and nothing of AWS CDK:

- **Bodies** are the codec's JSON of the published value, so a consumer's function receives
  what was published (a table as a table, a string as a string).
- **Headers** map as Wippy's SQS driver maps them: ``sqs.delay_seconds``,
  ``sqs.message_group_id`` and ``sqs.message_deduplication_id`` become the typed SQS fields;
  every other header is a message attribute whose data type keeps its Lua type (``Number``,
  ``String``, ``String.bool``), so the consumer reads back the same value.
- **Size**: body and attributes together must fit one SQS message; a larger publish is an
  INVALID error naming the queue and the size, and nothing is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from runtime import codec as wire
from runtime.errors import INVALID, UnitError
from runtime.processes.mailboxes import MESSAGE_LIMIT_BYTES

#: ``{"ns:name": "queue url"}`` of every ``queue.queue`` entry (``infra.environment``).
QUEUES_ENV = "UNITS_QUEUES"
#: On a consumer's Lambda: the ``queue.consumer`` entry it runs.
CONSUMER_ENV = "UNITS_QUEUE_CONSUMER"

#: Headers Wippy's SQS driver turns into SendMessage fields.
DELAY_HEADER = "sqs.delay_seconds"
GROUP_HEADER = "sqs.message_group_id"
DEDUP_HEADER = "sqs.message_deduplication_id"
#: The header Wippy stamps on every message: its publish time, Unix seconds.
TIMESTAMP_HEADER = "timestamp"
#: SQS's limits on message attributes.
MAX_ATTRIBUTES = 10
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
MAX_DELAY_SECONDS = 900


def local_queue_name(entry: Any) -> str:
    """The queue's name in the harness and ``units dev``: ``queue_name`` when given, else
    ``units-q-<ns>-<name>``."""
    if entry.queue_name:
        return str(entry.queue_name)
    return ("units-q-" + re.sub(r"[^A-Za-z0-9_-]+", "-", entry.id))[:80]


def local_dead_letter_name(entry: Any) -> str:
    """The name of the queue's own DLQ locally: its name with ``-dlq`` (before ``.fifo``)."""
    name = local_queue_name(entry)
    if name.endswith(".fifo"):
        return name[:-5][:71] + "-dlq.fifo"
    return name[:76] + "-dlq"


def encode_body(value: Any) -> str:
    """The SQS body of a published value (already Python, through the codec)."""
    return json.dumps(wire.to_json_value(value), ensure_ascii=False, separators=(",", ":"))


def decode_body(body: str) -> Any:
    """The published value of an SQS body (Python, for the codec to hand to Lua)."""
    return wire.from_json_value(json.loads(body))


def _attribute(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        return {"DataType": "String.bool", "StringValue": "true" if value else "false"}
    if isinstance(value, int | float):
        return {
            "DataType": "Number",
            "StringValue": repr(value) if isinstance(value, float) else str(value),
        }
    return {"DataType": "String", "StringValue": value}


def send_request(
    queue_id: str,
    queue_url: str,
    body: str,
    headers: Mapping[str, Any],
    *,
    fifo: bool,
    message_id: str,
) -> dict[str, Any]:
    """The ``send_message`` arguments of one publish.

    Raises:
        UnitError: INVALID for a header SQS cannot carry, a FIFO publish without
            ``sqs.message_group_id``, or a message over SQS's size limit (nothing is sent).
    """
    request: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
    attributes: dict[str, dict[str, str]] = {}
    for name, value in headers.items():
        if name == DELAY_HEADER:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value <= MAX_DELAY_SECONDS)
            ):
                raise UnitError(
                    INVALID,
                    f"queue.publish: header {DELAY_HEADER} must be a number of seconds from 0 "
                    f"to {MAX_DELAY_SECONDS}, got {value!r}",
                )
            if fifo:
                raise UnitError(
                    INVALID,
                    f"queue.publish: '{queue_id}' is a FIFO queue, which takes no per-message "
                    f"delay ({DELAY_HEADER})",
                )
            request["DelaySeconds"] = int(value)
        elif name in (GROUP_HEADER, DEDUP_HEADER):
            text = value if isinstance(value, str) else _scalar_text(value)
            if not fifo:
                # Standard queues refuse these fields; Wippy's driver would pass SQS's error.
                raise UnitError(
                    INVALID,
                    f"queue.publish: header {name} is for FIFO queues; '{queue_id}' is a "
                    "standard queue (name it with a .fifo queue_name for ordering)",
                )
            request["MessageGroupId" if name == GROUP_HEADER else "MessageDeduplicationId"] = text
        else:
            if (
                not _ATTRIBUTE_NAME.fullmatch(name)
                or name.lower().startswith(("aws.", "amazon."))
                or ".." in name
                or name.startswith(".")
                or name.endswith(".")
            ):
                raise UnitError(
                    INVALID,
                    f"queue.publish: header name '{name}' cannot be an SQS message attribute "
                    "(up to 256 letters, digits, '_', '-' and '.', no leading, trailing or "
                    "double '.', not starting with 'AWS.' or 'Amazon.')",
                )
            if isinstance(value, str) and value == "":
                raise UnitError(
                    INVALID, f"queue.publish: header '{name}' is empty; SQS refuses empty values"
                )
            attributes[name] = _attribute(name, value)
    if len(attributes) > MAX_ATTRIBUTES:
        raise UnitError(
            INVALID,
            f"queue.publish: {len(attributes)} headers; an SQS message carries at most "
            f"{MAX_ATTRIBUTES} (sqs.* headers not counted)",
        )
    if fifo:
        if "MessageGroupId" not in request:
            raise UnitError(
                INVALID, f"queue.publish: sqs fifo publish missing {GROUP_HEADER} ('{queue_id}')"
            )
        # Each publish is its own message unless the publisher names a deduplication id.
        request.setdefault("MessageDeduplicationId", message_id)
    if attributes:
        request["MessageAttributes"] = attributes
    size = len(body.encode()) + sum(
        len(k.encode()) + len(a["DataType"]) + len(a["StringValue"].encode())
        for k, a in attributes.items()
    )
    if size > MESSAGE_LIMIT_BYTES:
        raise UnitError(
            INVALID,
            f"queue.publish: the message to '{queue_id}' is {size} bytes encoded (body and "
            f"headers); an SQS message holds at most {MESSAGE_LIMIT_BYTES} bytes; nothing was "
            "sent",
        )
    return request


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def headers_of_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda SQS record's headers, as the publisher set them (the reverse of
    :func:`send_request`), with Wippy's ``timestamp`` (the send time, Unix seconds) unless the
    publisher set one."""
    headers: dict[str, Any] = {}
    for name, attr in (record.get("messageAttributes") or {}).items():
        kind = attr.get("dataType", "String")
        text = attr.get("stringValue")
        if kind.startswith("Number") and text is not None:
            try:
                headers[name] = int(text)
            except ValueError:
                headers[name] = float(text)
        elif kind == "String.bool":
            headers[name] = text == "true"
        elif text is not None:
            headers[name] = text
    attributes = record.get("attributes") or {}
    if attributes.get("MessageGroupId"):
        headers[GROUP_HEADER] = attributes["MessageGroupId"]
    if attributes.get("MessageDeduplicationId"):
        headers[DEDUP_HEADER] = attributes["MessageDeduplicationId"]
    sent = attributes.get("SentTimestamp")
    if sent and TIMESTAMP_HEADER not in headers:
        headers[TIMESTAMP_HEADER] = int(sent) // 1000
    return headers


def lambda_attributes(message_attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``receive_message``'s MessageAttributes in the Lambda SQS event's shape."""
    return {
        name: {
            "stringValue": a.get("StringValue"),
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": a.get("DataType", "String"),
        }
        for name, a in message_attributes.items()
    }


def create_local_queues(sqs: Any, registry: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Create every ``queue.queue`` entry's queue and DLQ in moto (unless they exist) as the
    stack creates them; ``{entry id: queue url}`` and ``{entry id: its DLQ's url}``."""
    from runtime import manifest

    entries = registry.of_kind(manifest.QueueEntry)
    urls: dict[str, str] = {}
    dead: dict[str, str] = {}

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def base_attributes(entry: Any) -> dict[str, str]:
        driver = registry.get(entry.driver)
        out = {
            "MessageRetentionPeriod": str(driver.message_retention_period),
            "DelaySeconds": str(driver.default_delay_seconds),
            "VisibilityTimeout": str(entry.visibility_timeout or 30),
        }
        if entry.fifo:
            out["FifoQueue"] = "true"
        return out

    # Queues that are another's DLQ first, so their ARNs exist for the redrive policies.
    targets = {e.dead_letter_queue for e in entries if e.dead_letter_queue}
    order = sorted(entries, key=lambda e: e.id not in targets)
    for entry in order:
        if entry.dead_letter_queue and entry.dead_letter_queue in urls:
            dlq = urls[entry.dead_letter_queue]
        else:
            dlq_attributes = {"MessageRetentionPeriod": "1209600"}
            if entry.fifo:
                dlq_attributes["FifoQueue"] = "true"
            dlq = sqs.create_queue(
                QueueName=local_dead_letter_name(entry), Attributes=dlq_attributes
            )["QueueUrl"]
        dead[entry.id] = dlq
        attributes = base_attributes(entry)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arn(dlq), "maxReceiveCount": entry.max_attempts}
        )
        urls[entry.id] = sqs.create_queue(QueueName=local_queue_name(entry), Attributes=attributes)[
            "QueueUrl"
        ]
    return urls, dead
