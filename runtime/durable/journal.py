"""A journal of events in DynamoDB chunk items: what both drivers store a durable coroutine's
history in (a workflow run's under ``pk = "r#<run>"``, a loop process's under
``pk = "p#<pid>"``, beside its actor item).

A chunk item has ``sk = "e#<seq of its first event, 12 digits>"`` and ``data``, the chunk's
events as a JSON list of ``[type, time, fields]`` (an event's ``seq`` is the chunk's first plus
its position). One append is one chunk, written by one conditional ``PutItem``
(``attribute_not_exists``): 1 WRU per KB of the chunk instead of a transaction's 2 per KB of
each event. An append over :data:`CHUNK_BYTES` is several chunks in order; a writer that dies
between them leaves a prefix of its events, which is a history the next one replays and
completes.

Two writers can never fork a journal: both put their first chunk at the key of the first new
seq, and the second one's put fails (:class:`JournalConflict`). Every chunk key is therefore
the first seq of an append (or of a part of one).

Events of the layout before chunks (one item per event, with ``type``, ``time`` and ``data`` =
its fields) read as chunks of one event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from runtime.aws.dynamodb import is_condition_failure, set_ttl
from runtime.durable.events import Event
from runtime.errors import INVALID, UnitError

#: The most one chunk item may take: its encoded ``data`` (UTF-8 JSON) plus its key attributes.
#: Under DynamoDB's 400 KB item limit, and over the 350 KB one value may take
#: (:data:`~runtime.durable.events.VALUE_LIMIT_BYTES`, what ``check_size`` enforces), so any
#: event holding one value of the most allowed, plus its other fields, fits in a chunk.
CHUNK_BYTES = 380 * 1024

#: The lowest and highest sort keys of event chunks ("~" sorts after the digits).
_FIRST_EVENT_KEY = "e#"
_LAST_EVENT_KEY = "e#~"


class JournalConflict(Exception):
    """Another writer appended to this journal first: reload and go again."""


def event_key(seq: int) -> str:
    """The sort key of the chunk whose first event is ``seq``."""
    return f"e#{seq:012d}"


def encode(event: Event) -> str:
    """One event as its chunk holds it (``seq`` is implied by its place)."""
    return json.dumps(
        [event.type, event.time, event.fields], ensure_ascii=False, separators=(",", ":")
    )


def _pack(encoded: list[str], overhead: int) -> list[list[int]]:
    """Indexes of ``encoded`` grouped into chunks of at most :data:`CHUNK_BYTES` each, in
    order (each already checked to fit alone)."""
    groups: list[list[int]] = []
    size = 0
    for i, text in enumerate(encoded):
        item_size = len(text.encode()) + 1  # the comma before it
        if not groups or size + item_size > CHUNK_BYTES:
            groups.append([])
            size = overhead
        groups[-1].append(i)
        size += item_size
    return groups


def _decode(item: dict[str, Any]) -> list[Event]:
    """The events of one chunk item (or of one item of the layout before chunks)."""
    first = int(item["sk"]["S"][2:])
    if "type" in item:  # one event per item, its fields in ``data``
        fields = json.loads(item["data"]["S"])
        return [Event(item["type"]["S"], float(item["time"]["N"]), fields, seq=first)]
    return [
        Event(type_, float(when), fields, seq=first + i)
        for i, (type_, when, fields) in enumerate(json.loads(item["data"]["S"]))
    ]


Chunk = tuple[list[Event], list[str]]


class Journal:
    """Reads and appends the journals of one table, each in partition ``prefix + key``."""

    def __init__(self, client: Any, table: str, prefix: str, noun: str = "journal") -> None:
        self.client = client
        self.table = table
        self.prefix = prefix
        #: What an error calls one journal ("run", "process").
        self.noun = noun

    def pk(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def overhead(self, key: str) -> int:
        """What a chunk item takes besides its events: attribute names, keys, the brackets."""
        return (
            len("pk") + len(self.pk(key).encode()) + len("sk") + len(event_key(0))
            + len("data") + len("[]")
        )  # fmt: skip

    # -- reading --------------------------------------------------------------------------------
    def load(self, key: str, after: int = 0) -> list[Event]:
        """The journal from event ``after + 1`` on, in order (consistent reads).

        Any ``after`` is answered exactly, also one inside a chunk. Costs one ``Query``
        (reading the last chunk) when ``after + 1`` is in the last chunk or past the end; else
        one more paged ``Query`` for the chunks from ``after + 1`` to the last, and one more
        (``Limit=1``) only when ``after`` is not where a chunk ends.
        """
        after = max(0, after)
        first_new = after + 1
        last = self.chunk_at_or_before(key, _LAST_EVENT_KEY)
        if last is None:
            return []
        if last[0].seq <= first_new:
            return [e for e in last if e.seq > after]
        # Bounded by the last chunk seen: a chunk appended meanwhile is not taken without
        # its predecessors, so the answer is always a prefix of the journal.
        chunks = list(self._chunks_between(key, first_new, last[0].seq - 1))
        if not chunks or chunks[0][0].seq != first_new:
            head = self.chunk_at_or_before(key, event_key(after))
            if head is not None:
                chunks.insert(0, head)
        chunks.append(last)
        return [e for chunk in chunks for e in chunk if e.seq > after]

    def chunk_at_or_before(self, key: str, sk: str = _LAST_EVENT_KEY) -> list[Event] | None:
        """The events of the chunk with the greatest key not after ``sk`` (None: no chunk)."""
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": self.pk(key)},
                ":lo": {"S": _FIRST_EVENT_KEY},
                ":hi": {"S": sk},
            },
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = reply.get("Items", [])
        return _decode(items[0]) if items else None

    def _chunks_between(self, key: str, first: int, last: int) -> Iterator[list[Event]]:
        """The chunks whose first event is from ``first`` to ``last``, in order (paged)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": self.pk(key)},
                ":lo": {"S": event_key(first)},
                ":hi": {"S": event_key(last)},
            },
            "ConsistentRead": True,
        }
        while True:
            reply = self.client.query(**kwargs)
            for item in reply.get("Items", []):
                yield _decode(item)
            if "LastEvaluatedKey" not in reply:
                return
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def expire(self, key: str, expires: int) -> None:
        """Write ``expires`` (epoch seconds) as the TTL of every chunk of the journal (one
        ``UpdateItem`` each: about what writing it cost once), for one that has ended."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
            "ExpressionAttributeValues": {":pk": {"S": self.pk(key)}, ":e": {"S": "e#"}},
            "ProjectionExpression": "pk, sk",
        }
        keys: list[dict[str, Any]] = []
        while True:
            reply = self.client.query(**kwargs)
            keys += reply.get("Items", [])
            if "LastEvaluatedKey" not in reply:
                break
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        set_ttl(self.client, self.table, keys, expires)

    # -- writing --------------------------------------------------------------------------------
    def append(self, key: str, events: list[Event]) -> None:
        """Append events whose ``seq`` continue the journal: one conditional ``PutItem`` of
        one chunk, or several in order for an append over :data:`CHUNK_BYTES`.

        Raises:
            JournalConflict: the first sequence number of a chunk is taken.
            UnitError: INVALID when one event alone is over :data:`CHUNK_BYTES` (nothing is
                written).
            ValueError: the events' sequence numbers are not consecutive.
        """
        if not events:
            return
        for chunk in self.chunks(key, events):
            self.put_chunk(key, *chunk)

    def chunks(self, key: str, events: list[Event]) -> list[Chunk]:
        """``events`` checked and grouped into the chunks an append writes."""
        start = events[0].seq
        if start < 1 or any(e.seq != start + i for i, e in enumerate(events)):
            raise ValueError(f"{self.noun} {key}: appended events must have consecutive seqs")
        encoded = [self.encoded(key, e) for e in events]  # all checked before any write
        return [
            ([events[i] for i in group], [encoded[i] for i in group])
            for group in _pack(encoded, self.overhead(key))
        ]

    def encoded(self, key: str, event: Event) -> str:
        """The event as its chunk holds it; refused when it cannot fit in a chunk alone."""
        text = encode(event)
        size = self.overhead(key) + len(text.encode())
        if size > CHUNK_BYTES:
            raise UnitError(
                INVALID,
                f"{self.noun} {key}: event {event.seq} ({event.type}) takes {size} bytes, over "
                f"the {CHUNK_BYTES} bytes a journal item holds; keep large values elsewhere "
                "(S3, a table) and pass their key",
            )
        return text

    def put_chunk(self, key: str, events: list[Event], encoded: list[str]) -> None:
        put = self.chunk_put(key, events, encoded)["Put"]
        try:
            self.client.put_item(**put)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise JournalConflict(key) from None
            raise

    def chunk_put(self, key: str, events: list[Event], encoded: list[str]) -> dict[str, Any]:
        """The conditional put of one chunk (a transaction's item; ``PutItem`` takes its body)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": self.pk(key)},
                    "sk": {"S": event_key(events[0].seq)},
                    "data": {"S": "[" + ",".join(encoded) + "]"},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
