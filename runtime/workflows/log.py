"""A run's history in DynamoDB, in the processes' table (keys ``pk``, ``sk``).

- events: ``pk = "r#<run>"``, ``sk = "e#<seq, 12 digits>"``; each written with
  ``attribute_not_exists``, in one transaction per append, so two steps of one run can never
  fork its history: the second one's append fails and it starts over from the new history.
- the run's index item: ``pk = "r#<run>"``, ``sk = "run"`` (workflow, status, times, result).
- the inbox: ``pk = "r#<run>#in"``: activity results (and later signals) waiting for the next
  step, which moves them into the history (each event remembers its inbox item, so a step that
  crashed after the append but before deleting them does not apply them twice).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from runtime.aws.dynamodb import is_condition_failure
from runtime.errors import ALREADY_EXISTS, NOT_FOUND, UnitError
from runtime.workflows.events import Event

#: DynamoDB's limit of items per transaction.
_TRANSACTION_ITEMS = 100


class LogConflict(Exception):
    """Another step appended to this run first: reload and step again."""


def _run_key(run_id: str) -> str:
    return f"r#{run_id}"


class EventLog:
    """Reads and appends run histories, and keeps their inboxes."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, run_id: str, workflow: str, started: Event) -> None:
        """The index item and event 1, together.

        Raises:
            UnitError: ALREADY_EXISTS when the run id is taken.
        """
        started.seq = 1
        index = {
            "pk": {"S": _run_key(run_id)},
            "sk": {"S": "run"},
            "workflow": {"S": workflow},
            "status": {"S": "running"},
            "started": {"N": repr(started.time)},
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": index,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    self._put_event(run_id, started),
                ]
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise UnitError(ALREADY_EXISTS, f"run {run_id} already exists") from None
            raise

    def describe(self, run_id: str) -> dict[str, Any]:
        """The run's index item as a dict (``workflow``, ``status``, ``result``, ``error``...)."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            ConsistentRead=True,
        )
        item = reply.get("Item")
        if item is None:
            raise UnitError(NOT_FOUND, f"no workflow run {run_id}")
        out: dict[str, Any] = {
            "run_id": run_id,
            "workflow": item["workflow"]["S"],
            "status": item["status"]["S"],
            "started": float(item["started"]["N"]),
        }
        if "closed" in item:
            out["closed"] = float(item["closed"]["N"])
        if "outcome" in item:
            out.update(json.loads(item["outcome"]["S"]))
        return out

    def close_run(self, run_id: str, status: str, when: float, outcome: dict[str, Any]) -> None:
        """Mark the run ended (its ending event is already in the history)."""
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            UpdateExpression="SET #s = :s, closed = :c, outcome = :o",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": status},
                ":c": {"N": repr(when)},
                ":o": {"S": json.dumps(outcome)},
            },
        )

    # -- history ------------------------------------------------------------------------------
    def load(self, run_id: str) -> list[Event]:
        """The whole history, in order (a consistent query)."""
        events: list[Event] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
            "ExpressionAttributeValues": {":pk": {"S": _run_key(run_id)}, ":e": {"S": "e#"}},
            "ConsistentRead": True,
        }
        while True:
            reply = self.client.query(**kwargs)
            for item in reply.get("Items", []):
                events.append(
                    Event(
                        type=item["type"]["S"],
                        time=float(item["time"]["N"]),
                        fields=json.loads(item["data"]["S"]),
                        seq=int(item["sk"]["S"][2:]),
                    )
                )
            if "LastEvaluatedKey" not in reply:
                return events
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def append(self, run_id: str, events: list[Event]) -> None:
        """Append events whose ``seq`` continue the history.

        Raises:
            LogConflict: one of those sequence numbers is taken (another step won).
        """
        for start in range(0, len(events), _TRANSACTION_ITEMS):
            chunk = events[start : start + _TRANSACTION_ITEMS]
            try:
                self.client.transact_write_items(
                    TransactItems=[self._put_event(run_id, e) for e in chunk]
                )
            except ClientError as exc:
                if is_condition_failure(exc):
                    raise LogConflict(run_id) from None
                raise

    def _put_event(self, run_id: str, event: Event) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": _run_key(run_id)},
                    "sk": {"S": f"e#{event.seq:012d}"},
                    "type": {"S": event.type},
                    "time": {"N": repr(event.time)},
                    "data": {"S": json.dumps(event.fields, ensure_ascii=False)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    # -- inbox --------------------------------------------------------------------------------
    def post(self, run_id: str, event_type: str, fields: dict[str, Any], when: float) -> str:
        """Leave an outcome for the run's next step; returns the inbox item's id."""
        # Ordered by the clock, then by the wall clock in nanoseconds: two signals one sender
        # sends in a row stay in that order even when the (harness) clock stood still.
        item_id = f"{when:020.6f}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"{_run_key(run_id)}#in"},
                "sk": {"S": item_id},
                "type": {"S": event_type},
                "data": {"S": json.dumps(fields, ensure_ascii=False)},
            },
        )
        return item_id

    def inbox(self, run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The waiting outcomes, oldest first: ``(item id, event type, fields)``."""
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{_run_key(run_id)}#in"}},
            ConsistentRead=True,
        )
        return [
            (i["sk"]["S"], i["type"]["S"], json.loads(i["data"]["S"]))
            for i in reply.get("Items", [])
        ]

    def discard(self, run_id: str, item_ids: list[str]) -> None:
        """Delete inbox items that are in the history now."""
        for item_id in item_ids:
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"{_run_key(run_id)}#in"}, "sk": {"S": item_id}},
            )
