"""A run's history in DynamoDB, in the processes' table (keys ``pk``, ``sk``).

- events: ``pk = "r#<run>"``, ``sk = "e#<seq, 12 digits>"``; each written with
  ``attribute_not_exists``, in one transaction per append, so two steps of one run can never
  fork its history: the second one's append fails and it starts over from the new history.
- the run's index item: ``pk = "r#<run>"``, ``sk = "run"`` (workflow, status, times, result,
  and ``base``: the sequence number after which the current generation's history begins, moved
  by ``workflow.continue_as_new`` in the same transaction as the append that continues it).
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


#: DynamoDB's limit of a transaction's total size is 4 MB; this leaves room for overhead.
_TRANSACTION_BYTES = 3_500_000


def _chunks(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split puts into transactions within DynamoDB's item-count and size limits, keeping one
    place free in each for the index update of a continue-as-new."""
    if not items:
        return []
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        item_size = len(item["Put"]["Item"]["data"]["S"].encode()) + 200  # keys, type, time
        full = len(chunks[-1]) >= _TRANSACTION_ITEMS - 1 or size + item_size > _TRANSACTION_BYTES
        if chunks[-1] and full:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


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
    def create_run(
        self,
        run_id: str,
        workflow: str,
        started: Event,
        *,
        host: str = "",
        parent: str | None = None,
        parent_cmd: int | None = None,
        parent_seq: int | None = None,
    ) -> None:
        """The index item and event 1, together. ``parent`` is the run id of the workflow that
        started this one as its child (it hears of the end through its inbox); ``parent_cmd``
        and ``parent_seq`` are the command and the event that started it.

        Raises:
            UnitError: ALREADY_EXISTS when the run id is taken.
        """
        started.seq = 1
        index = {
            "pk": {"S": _run_key(run_id)},
            "sk": {"S": "run"},
            "workflow": {"S": workflow},
            "host": {"S": host},
            "status": {"S": "running"},
            "started": {"N": repr(started.time)},
        }
        if parent:
            index["parent"] = {"S": parent}
            index["parent_cmd"] = {"N": str(parent_cmd or 0)}
            index["parent_seq"] = {"N": str(parent_seq or 0)}
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
            "host": item.get("host", {}).get("S", ""),
            "status": item["status"]["S"],
            "started": float(item["started"]["N"]),
        }
        if "parent" in item:
            out["parent"] = item["parent"]["S"]
            out["parent_cmd"] = int(item["parent_cmd"]["N"])
            out["parent_seq"] = int(item.get("parent_seq", {}).get("N", "0"))
        out["base"] = int(item.get("base", {}).get("N", "0"))
        out["dispatched"] = int(item.get("dispatched", {}).get("N", "0"))
        #: Whether a step ran the code (it has parked at least once).
        out["ran"] = bool(item.get("ran", {}).get("BOOL", False))
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
    def load(self, run_id: str, after: int = 0) -> list[Event]:
        """The history from event ``after + 1`` on, in order (a consistent query): all of it
        by default, only the tail for a step that kept the run in memory."""
        events: list[Event] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": _run_key(run_id)},
                ":lo": {"S": f"e#{after + 1:012d}"},
                ":hi": {"S": "e#~"},
            },
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

    def append(self, run_id: str, events: list[Event], *, base: int | None = None) -> None:
        """Append events whose ``seq`` continue the history; with ``base``, move the run's
        current generation to start after event ``base`` in the same transaction as the last
        events (a continue-as-new).

        An append beyond one transaction (99 events or 3.5 MB) is several: a step that dies
        between them leaves a prefix of its events, which is a history the next step replays
        and completes (it issues the same commands, and the inbox items not yet in the history
        are still in the inbox).

        Raises:
            LogConflict: one of those sequence numbers is taken (another step won).
        """
        chunks = _chunks([self._put_event(run_id, e) for e in events])
        for i, items in enumerate(chunks):
            if base is not None and i == len(chunks) - 1:
                items.append(self._move_base(run_id, base))
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if is_condition_failure(exc):
                    raise LogConflict(run_id) from None
                raise

    def _move_base(self, run_id: str, base: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
                "UpdateExpression": "SET #b = :b",
                "ExpressionAttributeNames": {"#b": "base"},  # a reserved word
                "ExpressionAttributeValues": {":b": {"N": str(base)}},
            }
        }

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

    # -- names (idempotent starts) -------------------------------------------------------------
    def claim_name(self, name: str, run_id: str) -> str | None:
        """Give ``name`` to ``run_id`` unless taken; returns the run holding it before, or None."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"w#{name}"}, "sk": {"S": "name"}, "run": {"S": run_id}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return None
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"w#{name}"}, "sk": {"S": "name"}},
            ConsistentRead=True,
        )
        return reply["Item"]["run"]["S"]

    def move_name(self, name: str, old_run: str, new_run: str) -> bool:
        """Hand ``name`` from ``old_run`` to ``new_run``; False if someone else moved it first."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"w#{name}"}, "sk": {"S": "name"}},
                UpdateExpression="SET #r = :new",
                ConditionExpression="#r = :old",
                ExpressionAttributeNames={"#r": "run"},
                ExpressionAttributeValues={":new": {"S": new_run}, ":old": {"S": old_run}},
            )
            return True
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise

    # -- the driver's wait token and the activity dispatch mark -------------------------------
    def park(
        self,
        run_id: str,
        token: str,
        entered: float,
        next_timer: float | None,
        generation: int,
    ) -> int | None:
        """Keep the task token of the run's current wait (one UpdateItem), with the run's next
        timer for wakers to time the next wait by, and note that the code has run; returns how
        many times the run parked in driver execution ``generation``, or None when the token
        was not stored because a newer wait's is there: a later execution's (``generation``
        never goes back) or a later task's of this one (nor does ``entered``).

        Raises:
            UnitError: NOT_FOUND for a run that does not exist (nothing is written).
        """
        names = {"#t": "token", "#e": "entered", "#g": "gen", "#p": f"parks{generation}"}
        values: dict[str, Any] = {
            ":t": {"S": token},
            ":e": {"N": repr(entered)},
            ":g": {"N": str(generation)},
            ":one": {"N": "1"},
            ":yes": {"BOOL": True},
        }
        sets = ["#t = :t", "#e = :e", "#g = :g", "ran = :yes"]
        removes = []
        if next_timer is None:
            removes.append("next_timer")
        else:
            sets.append("next_timer = :n")
            values[":n"] = {"N": repr(next_timer)}
        if generation > 0:
            names["#old"] = f"parks{generation - 1}"
            removes.append("#old")
        expression = "SET " + ", ".join(sets) + " ADD #p :one"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            reply = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#g) "
                "OR #g < :g OR (#g = :g AND (attribute_not_exists(#e) OR #e <= :e)))",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            if not self.exists(run_id):
                raise UnitError(NOT_FOUND, f"no workflow run {run_id}") from None
            return None
        return int(reply["Attributes"][names["#p"]]["N"])

    def generation(self, run_id: str) -> int:
        """The newest driver execution that parked the run (0 before any park)."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            ProjectionExpression="gen",
            ConsistentRead=True,
        )
        return int(reply.get("Item", {}).get("gen", {}).get("N", "0"))

    def wait(self, run_id: str) -> tuple[str | None, float | None]:
        """The task token of the run's current wait (None when it never parked) and its next
        timer (None: it waits for news only)."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            ProjectionExpression="#t, next_timer",
            ExpressionAttributeNames={"#t": "token"},
            ConsistentRead=True,
        )
        item = reply.get("Item", {})
        timer = item.get("next_timer", {}).get("N")
        return item.get("token", {}).get("S"), None if timer is None else float(timer)

    def exists(self, run_id: str) -> bool:
        """Whether the run has an index item."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            ProjectionExpression="pk",
            ConsistentRead=True,
        )
        return "Item" in reply

    def dispatched(self, run_id: str) -> int:
        """The sequence number up to which the run's activities were sent to the queue."""
        return int(self._index_attribute(run_id, "dispatched").get("N", "0"))

    def _index_attribute(self, run_id: str, name: str) -> dict[str, Any]:
        """One attribute of the run's index item, as DynamoDB types it ({} when absent)."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            ProjectionExpression="#a",
            ExpressionAttributeNames={"#a": name},
            ConsistentRead=True,
        )
        return reply.get("Item", {}).get(name, {})

    def mark_dispatched(self, run_id: str, seq: int) -> None:
        """Activities up to event ``seq`` are on the queue (never lowered)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
                UpdateExpression="SET dispatched = :d",
                ConditionExpression="attribute_not_exists(dispatched) OR dispatched < :d",
                ExpressionAttributeValues={":d": {"N": str(seq)}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    # -- inbox --------------------------------------------------------------------------------
    def post(self, run_id: str, event_type: str, fields: dict[str, Any], when: float) -> str:
        """Leave an outcome for the run's next step; returns the inbox item's id."""
        item = self._inbox_item(run_id, event_type, fields, when)
        self.client.put_item(TableName=self.table, Item=item)
        return item["sk"]["S"]

    def _inbox_item(
        self, run_id: str, event_type: str, fields: dict[str, Any], when: float
    ) -> dict[str, Any]:
        # Ordered by the clock, then by the wall clock in nanoseconds: two signals one sender
        # sends in a row stay in that order even when the (harness) clock stood still.
        item_id = f"{when:020.6f}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"
        return {
            "pk": {"S": f"{_run_key(run_id)}#in"},
            "sk": {"S": item_id},
            "type": {"S": event_type},
            "data": {"S": json.dumps(fields, ensure_ascii=False)},
        }

    def post_once(
        self, run_id: str, key: str, event_type: str, fields: dict[str, Any], when: float
    ) -> bool:
        """:meth:`post`, at most once per ``key`` (an activity's idempotency key): False when
        an outcome under that key was posted before, and nothing is written."""
        inbox_item = self._inbox_item(run_id, event_type, fields, when)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {"pk": {"S": _run_key(run_id)}, "sk": {"S": f"k#{key}"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": inbox_item}},
                ]
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def posted(self, run_id: str, key: str) -> bool:
        """Whether an outcome under ``key`` was posted (see :meth:`post_once`)."""
        reply = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": f"k#{key}"}},
            ConsistentRead=True,
        )
        return "Item" in reply

    def has_inbox(self, run_id: str) -> bool:
        """Whether anything waits in the run's inbox (one cheap query)."""
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{_run_key(run_id)}#in"}},
            ConsistentRead=True,
            Limit=1,
            Select="COUNT",
        )
        return reply.get("Count", 0) > 0

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
