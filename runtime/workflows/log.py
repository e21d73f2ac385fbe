"""A run's history in DynamoDB, in the processes' table (keys ``pk``, ``sk``).

- events, in chunk items of the run's journal (:mod:`runtime.durable.journal`): ``pk =
  "r#<run>"``, ``sk = "e#<seq>"``, one conditional ``PutItem`` per append, so two steps of one
  run can never fork its history (the second one's put is a :class:`LogConflict`: it starts
  over from the new history).
- the run's index item: ``pk = "r#<run>"``, ``sk = "run"`` (workflow, status, times, result,
  and ``base``: the sequence number after which the current generation's history begins, moved
  by ``workflow.continue_as_new`` in the same transaction as the chunks that end the old
  generation and start the new one, whose first event starts a chunk of its own).
- the inbox: ``pk = "r#<run>#in"``: activity results and signals waiting for the next step,
  which moves them into the history (each event remembers its inbox item, so a step that
  crashed after the append but before deleting them does not apply them twice). Each item has
  ``at``, its arrival on the clock of the poster, and ``ns``, the poster's wall clock in
  nanoseconds, which orders items posted while a (harness) clock stood still. A queued
  activity's outcome (posted once per idempotency key, :meth:`EventLog.post_once`) is at
  ``sk = "#a#<seq, 10 digits>"``, its command's event number, and stays there once taken: it
  is its own spent key. Those sort before every other item, in command order, so a step reads
  the inbox from its oldest open activity's on (:func:`spent_floor`) and pays only for what
  waits there (and for answers that came ahead of an older open activity). Another keyed
  outcome (a child's) is at ``sk = "k#<key>"``, signals at a unique id; both are deleted once
  taken.
- posted markers: ``pk = "r#<run>"``, ``sk = "k#<key>"``, written when a ``k#`` inbox item is
  discarded (it is in the history then), so :meth:`EventLog.posted` stays true once the inbox
  item is gone.
- when the run ends, :meth:`EventLog.close_run` writes the table's TTL attribute (``ttl``,
  the end plus the host's retention) on the index item, every chunk, posted marker and inbox
  leftover of the run, and on its workflow name's item (``pk = "w#<name>"``) while the name
  still points at the run: DynamoDB deletes them in time, and the name is free again.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from runtime.aws.dynamodb import TTL_ATTRIBUTE, is_condition_failure, set_ttl
from runtime.durable.events import Event
from runtime.durable.journal import CHUNK_BYTES, Journal, JournalConflict
from runtime.errors import ALREADY_EXISTS, NOT_FOUND, UnitError

#: DynamoDB's limit of items per BatchWriteItem.
_BATCH_WRITE_ITEMS = 25

#: A lost race: another step appended to this run first (reload and step again).
LogConflict = JournalConflict

__all__ = ["CHUNK_BYTES", "EventLog", "LogConflict"]


def _run_key(run_id: str) -> str:
    return f"r#{run_id}"


def _inbox_key(run_id: str) -> str:
    return f"{_run_key(run_id)}#in"


def _posted_key(key: str) -> str:
    return f"k#{key}"


#: Where a queued activity's outcome waits for good (see :func:`keyed_item`): before every
#: other inbox item ("#" sorts before digits and "k"), in its command's order.
SPENT_PREFIX = "#a#"


def spent_floor(seq: int) -> str:
    """The inbox id of the outcome of the activity scheduled at event ``seq``: read the inbox
    from here (:meth:`EventLog.inbox`) to skip every outcome of an activity before it."""
    return f"{SPENT_PREFIX}{seq:010d}"


def keyed_item(run_id: str, key: str) -> str:
    """The inbox id of an outcome posted under ``key``: an activity attempt's key
    (``<run>:<seq>``) at :func:`spent_floor` of its command's event, where it stays once
    taken (the step reads the inbox from the oldest open command on); any other key (a
    child's) at ``k#<key>``, deleted once taken, with a posted marker left for it."""
    prefix = f"{run_id}:"
    if key.startswith(prefix) and key[len(prefix) :].isdigit():
        return spent_floor(int(key[len(prefix) :]))
    return _posted_key(key)


def _arrival(item: dict[str, Any]) -> tuple[float, int, str]:
    """Where an inbox item goes in arrival order: its clock, the poster's wall clock, its id.
    Items posted before ``at`` existed have both clocks in their id (``when#ns#uuid``)."""
    sk = item["sk"]["S"]
    if "at" in item:
        return float(item["at"]["N"]), int(item.get("ns", {}).get("N", "0")), sk
    parts = sk.split("#")
    try:
        return float(parts[0]), int(parts[1]), sk
    except (ValueError, IndexError):
        return 0.0, 0, sk


class EventLog:
    """Reads and appends run histories, and keeps their inboxes."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        #: The runs' histories (``pk = "r#<run>"``).
        self.journal = Journal(client, table, "r#", noun="run")

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
        name: str | None = None,
    ) -> None:
        """The index item and event 1, together. ``parent`` is the run id of the workflow that
        started this one as its child (it hears of the end through its inbox); ``parent_cmd``
        and ``parent_seq`` are the command and the event that started it; ``name`` the
        workflow name it was started under (its item expires with the run).

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
        if name is not None:
            index["name"] = {"S": name}
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
                    self.journal.chunk_put(
                        run_id, [started], [self.journal.encoded(run_id, started)]
                    ),
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

    def close_run(
        self,
        run_id: str,
        status: str,
        when: float,
        outcome: dict[str, Any],
        *,
        expires: int | None = None,
    ) -> None:
        """Mark the run ended (its ending event is already in the history); with ``expires``
        (epoch seconds: ``runtime.aws.dynamodb.expires_at``), write it as the TTL of every item
        of the run and of its name's item (see the module docstring).

        The TTL costs one ``UpdateItem`` per item (a chunk's write units: about what writing
        the history cost once), made :data:`_EXPIRE_THREADS` at a time.
        """
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":s": {"S": status},
            ":c": {"N": repr(when)},
            ":o": {"S": json.dumps(outcome)},
        }
        expression = "SET #s = :s, closed = :c, outcome = :o"
        if expires is not None:
            names["#x"] = TTL_ATTRIBUTE
            values[":x"] = {"N": str(expires)}
            expression += ", #x = :x"
        reply = self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW" if expires is not None else "NONE",
        )
        if expires is not None:
            name = reply.get("Attributes", {}).get("name", {}).get("S")
            self._expire(run_id, expires, name)

    def _expire(self, run_id: str, expires: int, name: str | None) -> None:
        """Write ``expires`` on the run's items but its index (the chunks, posted markers and
        inbox leftovers, activities' spent keys among them) and on its name's item while it
        names this run."""
        index = {"pk": {"S": _run_key(run_id)}, "sk": {"S": "run"}}
        keys = []
        for pk in (_run_key(run_id), _inbox_key(run_id)):
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}},
                "ProjectionExpression": "pk, sk",
            }
            while True:
                reply = self.client.query(**kwargs)
                keys += [item for item in reply.get("Items", []) if item != index]
                if "LastEvaluatedKey" not in reply:
                    break
                kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        conditions = {}
        if name is not None:
            # Only while the name still points at this run (it may have moved to another).
            conditions[len(keys)] = (" AND #r = :r", {"#r": "run"}, {":r": {"S": run_id}})
            keys.append({"pk": {"S": f"w#{name}"}, "sk": {"S": "name"}})
        set_ttl(self.client, self.table, keys, expires, conditions)

    # -- history ------------------------------------------------------------------------------
    def load(self, run_id: str, after: int = 0) -> list[Event]:
        """The history from event ``after + 1`` on, in order (consistent reads): all of it by
        default, only the tail for a step that kept the run in memory (see
        :meth:`runtime.durable.journal.Journal.load` for what it costs)."""
        return self.journal.load(run_id, after)

    def append(self, run_id: str, events: list[Event], *, base: int | None = None) -> None:
        """Append events whose ``seq`` continue the history (consecutive, the first one right
        after its last event); with ``base``, move the run's current generation to start after
        event ``base`` (a continue-as-new).

        Without ``base``: the journal's append (one conditional ``PutItem`` per chunk). With
        ``base``: the events after ``base`` (the next generation's) start a chunk of their
        own, so the generation's history begins at a chunk; the last chunk of the old
        generation's events, the first of the new one's and the move of ``base`` are one
        ``TransactWriteItems`` (a replay never sees the new generation without its ``base``,
        nor ``base`` moved past events not written), the chunks before and after it
        ``PutItem``\\s.

        Raises:
            LogConflict: the first sequence number of a chunk is taken (another step won).
            UnitError: INVALID when one event alone is too large (nothing is written).
            ValueError: the events' sequence numbers are not consecutive.
        """
        journal = self.journal
        if not events:
            return
        if base is None:
            journal.append(run_id, events)
            return
        journal.chunks(run_id, events)  # every event checked before any write
        split = min(max(base - events[0].seq + 1, 0), len(events))  # [split:]: the new one's
        old = journal.chunks(run_id, events[:split]) if split else []
        new = journal.chunks(run_id, events[split:]) if split < len(events) else []
        for chunk in old[:-1]:
            journal.put_chunk(run_id, *chunk)
        together = [journal.chunk_put(run_id, *chunk) for chunk in old[-1:] + new[:1]]
        try:
            self.client.transact_write_items(
                TransactItems=[*together, self._move_base(run_id, base)]
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                raise LogConflict(run_id) from None
            raise
        for chunk in new[1:]:
            journal.put_chunk(run_id, *chunk)

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

    # -- names (idempotent starts) -------------------------------------------------------------
    def claim_name(self, name: str, run_id: str, now: float | None = None) -> str | None:
        """Give ``name`` to ``run_id`` unless taken; returns the run holding it before, or None.

        A name whose run ended longer ago than its host keeps runs (its TTL is before ``now``,
        the caller's clock) is free, whether or not DynamoDB has deleted it yet."""
        condition = "attribute_not_exists(pk)"
        extra: dict[str, Any] = {}
        if now is not None:
            condition += " OR #x < :now"
            extra = {
                "ExpressionAttributeNames": {"#x": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
            }
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"w#{name}"}, "sk": {"S": "name"}, "run": {"S": run_id}},
                ConditionExpression=condition,
                **extra,
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
                # The old run ended (it was terminated for this): its TTL is not the new one's.
                UpdateExpression="SET #r = :new REMOVE #x",
                ConditionExpression="#r = :old",
                ExpressionAttributeNames={"#r": "run", "#x": TTL_ATTRIBUTE},
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
        dispatched: int | None = None,
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
        if dispatched is not None:
            # The step's commands are carried out: the mark moves in the same write (only the
            # newest wait's park lands, and its step saw the longest history).
            sets.append("dispatched = :d")
            values[":d"] = {"N": str(dispatched)}
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
        # A unique id that also sorts in arrival order, for a reader that ignores ``at``.
        item_id = f"{when:020.6f}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"
        item = self._inbox_item(run_id, item_id, event_type, fields, when)
        self.client.put_item(TableName=self.table, Item=item)
        return item_id

    def _inbox_item(
        self, run_id: str, item_id: str, event_type: str, fields: dict[str, Any], when: float
    ) -> dict[str, Any]:
        return {
            "pk": {"S": _inbox_key(run_id)},
            "sk": {"S": item_id},
            "at": {"N": repr(when)},
            # The wall clock orders two items one sender posts in a row even when the
            # (harness) clock stood still between them.
            "ns": {"N": str(time.time_ns())},
            "type": {"S": event_type},
            "data": {"S": json.dumps(fields, ensure_ascii=False)},
        }

    def post_once(
        self, run_id: str, key: str, event_type: str, fields: dict[str, Any], when: float
    ) -> bool:
        """:meth:`post`, at most once per ``key`` (an activity's idempotency key): False when
        an outcome under that key is waiting in the inbox, and nothing is written.

        One conditional ``PutItem`` at :func:`keyed_item`, so a second post under the key
        finds it. An activity's outcome stays there for good (until the run's end sets its
        TTL): a second post never lands. A child's is discarded once taken (leaving a posted
        marker, see :meth:`discard`), after which a post under its key would land again; the
        caller asks :meth:`posted` first, and an outcome that still lands twice is harmless:
        the step drops an outcome of a command the history has settled, and one of an earlier
        generation's command.
        """
        item = self._inbox_item(run_id, keyed_item(run_id, key), event_type, fields, when)
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def posted(self, run_id: str, key: str) -> bool:
        """Whether an outcome under ``key`` was posted (see :meth:`post_once`): it is in the
        inbox, or it was discarded into the history (its posted marker). An activity's key:
        one eventually consistent ``GetItem`` (its outcome never leaves the inbox); another:
        one eventually consistent ``BatchGetItem`` of both keys. Eventually consistent (half
        the read units of a consistent read): it
        only spares a redelivered attempt its rerun, the redelivery comes a visibility timeout
        after the post, and a miss costs a second run of an at-least-once attempt whose outcome
        :meth:`post_once` still records once."""
        item_id = keyed_item(run_id, key)
        if item_id.startswith(SPENT_PREFIX):
            # An activity's outcome stays where it was posted: one item to read.
            reply = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": _inbox_key(run_id)}, "sk": {"S": item_id}},
                ProjectionExpression="pk",
                ConsistentRead=False,
            )
            return "Item" in reply
        keys = [
            {"pk": {"S": _inbox_key(run_id)}, "sk": {"S": item_id}},
            {"pk": {"S": _run_key(run_id)}, "sk": {"S": item_id}},
        ]
        request: dict[str, Any] = {
            self.table: {"Keys": keys, "ConsistentRead": False, "ProjectionExpression": "pk"}
        }
        for attempt in range(10):
            reply = self.client.batch_get_item(RequestItems=request)
            if reply.get("Responses", {}).get(self.table):
                return True
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return False
            time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, as AWS advises
        raise RuntimeError(f"run {run_id}: DynamoDB left the posted check unprocessed")

    def has_inbox(
        self, run_id: str, start: str | None = None, known: set[str] | frozenset[str] = frozenset()
    ) -> bool:
        """Whether anything waits in the run's inbox (one cheap query): from ``start`` on (an
        inbox id, :func:`spent_floor`), and not one of ``known`` (the ids a step read)."""
        if start is None and not known:
            reply = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _inbox_key(run_id)}},
                ConsistentRead=True,
                Limit=1,
                Select="COUNT",
            )
            return reply.get("Count", 0) > 0
        return any(item["sk"]["S"] not in known for item in self._items(run_id, start, "sk"))

    def inbox(self, run_id: str, start: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """The waiting outcomes in arrival order (``at``, then the poster's wall clock, then
        the id), keyed outcomes and signals interleaved: ``(item id, event type, fields)``.

        From the inbox id ``start`` on (None: all): a step passes the :func:`spent_floor` of
        its oldest open activity, so the outcomes of the activities before it, which stay in
        the inbox once taken, are not read again."""
        items = self._items(run_id, start)
        items.sort(key=_arrival)
        return [(i["sk"]["S"], i["type"]["S"], json.loads(i["data"]["S"])) for i in items]

    def _items(
        self, run_id: str, start: str | None, projection: str | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _inbox_key(run_id)}},
            "ConsistentRead": True,
        }
        if start is not None:
            kwargs["KeyConditionExpression"] += " AND sk >= :lo"
            kwargs["ExpressionAttributeValues"][":lo"] = {"S": start}
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        while True:
            reply = self.client.query(**kwargs)
            items += reply.get("Items", [])
            if "LastEvaluatedKey" not in reply:
                break
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        return items

    def discard(self, run_id: str, item_ids: list[str]) -> None:
        """Delete inbox items that are in the history now; for an item posted under a
        ``k#`` key (:meth:`post_once`), leave its posted marker so :meth:`posted` stays true.
        An activity's outcome (``#a#``) is left where it is, as its own spent key: the next
        step reads the inbox from after it once no older activity is open (nothing to write
        for a step that took only activities' outcomes).

        ``BatchWriteItem``\\s of up to 25 writes (a delete per item, a marker put per keyed
        one): one call for a step's usual take. Not atomic, and it need not be: an item still
        there is known to the history (its event names it) and dropped by the next step, and
        a marker missing lets only a redelivered attempt run again (activities are
        at-least-once anyway), its outcome then dropped as settled.
        """
        writes: list[dict[str, Any]] = []
        for item_id in dict.fromkeys(item_ids):  # a batch may not name one item twice
            if item_id.startswith(SPENT_PREFIX):
                continue  # an activity's outcome: it stays, as its own posted marker
            key = {"pk": {"S": _inbox_key(run_id)}, "sk": {"S": item_id}}
            writes.append({"DeleteRequest": {"Key": key}})
            if item_id.startswith("k#"):
                marker = {"pk": {"S": _run_key(run_id)}, "sk": {"S": item_id}}
                writes.append({"PutRequest": {"Item": marker}})
        for i in range(0, len(writes), _BATCH_WRITE_ITEMS):
            self._batch_write(writes[i : i + _BATCH_WRITE_ITEMS])

    def _batch_write(self, writes: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self.table: writes}
        for attempt in range(10):
            reply = self.client.batch_write_item(RequestItems=request)
            request = reply.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, as AWS advises
        raise RuntimeError(f"DynamoDB left {len(request[self.table])} writes unprocessed")
