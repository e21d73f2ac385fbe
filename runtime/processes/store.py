"""Actor snapshots and registered names in one DynamoDB table (keys ``pk``, ``sk``).

An actor is one item, ``pk = "p#<pid>"``: its state (codec JSON), a version that every commit
raises by one under a condition on the version it read, the ids of the envelopes its last turn
applied, and that turn's outbox. A name is one item, ``pk = "n#<name>"``, holding its pid.
An exited or crashed actor's item carries the table's TTL attribute (``ttl``: its host's
retention after the end), so DynamoDB deletes it in time; a running one never does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

from botocore.exceptions import ClientError

from runtime.aws.dynamodb import TTL_ATTRIBUTE, is_condition_failure
from runtime.errors import ALREADY_EXISTS, INVALID, UnitError

#: DynamoDB's item size limit.
ITEM_LIMIT_BYTES = 400 * 1024
RUNNING, EXITED, CRASHED = "running", "exited", "crashed"


class StaleSnapshot(Exception):
    """A commit lost the race: someone committed this actor since the snapshot was read."""


class SnapshotTooLarge(Exception):
    """The new snapshot would not fit in one DynamoDB item."""


@dataclass
class OutboxEntry:
    """One send of a committed turn: an envelope body to ``host``'s queue, maybe delayed."""

    host: str
    group: str
    body: str
    dedup: str
    delay: float = 0.0


@dataclass
class Snapshot:
    """An actor as stored. ``state`` is the codec JSON text of its Lua state."""

    pid: str
    entry: str
    host: str
    version: int = 0
    status: str = RUNNING
    state: str = "null"
    applied: list[str] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    monitors: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    trap_links: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    service: str | None = None
    generation: int = 0
    #: Consecutive restarts of a service so far (0 again after a long enough run).
    attempt: int = 0
    #: Clock time the process was born (its spawn turn).
    started: float = 0.0
    parent: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    updated: float = 0.0
    #: ``handler`` (init/handle/on_event over ``state``) or ``loop`` (a ``main`` over a
    #: journal; ``state`` then holds where its current generation starts).
    style: str = "handler"
    #: The item's TTL (epoch seconds) once the actor has ended; None while it runs.
    expires: int | None = None

    def meta(self) -> dict[str, Any]:
        """Everything but the keyed attributes, as stored in the item's ``meta`` JSON."""
        # Field by field rather than dataclasses.asdict, which deep-copies: this runs per commit.
        data = {f.name: getattr(self, f.name) for f in _META_FIELDS}
        data["outbox"] = [o.__dict__ for o in self.outbox]
        return data

    def copy(self) -> Snapshot:
        """A copy whose lists can change without touching this one (values are JSON data that
        nobody mutates in place)."""
        twin = replace(self)
        for name in ("applied", "outbox", "links", "monitors", "names"):
            setattr(twin, name, list(getattr(self, name)))
        return twin

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Snapshot:
        meta = json.loads(item["meta"]["S"])
        meta["outbox"] = [OutboxEntry(**o) for o in meta.get("outbox", [])]
        expires = item.get(TTL_ATTRIBUTE, {}).get("N")
        return cls(
            expires=None if expires is None else int(expires),
            pid=item["pk"]["S"][2:],
            entry=item["entry"]["S"],
            host=item["host"]["S"],
            version=int(item["version"]["N"]),
            status=item["status"]["S"],
            state=item["state"]["S"],
            **meta,
        )


_META_FIELDS = [
    f
    for f in fields(Snapshot)
    if f.name not in ("pid", "entry", "host", "version", "status", "state", "expires")
]


def _actor_key(pid: str) -> dict[str, Any]:
    return {"pk": {"S": f"p#{pid}"}, "sk": {"S": "actor"}}


def _name_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"n#{name}"}, "sk": {"S": "name"}}


class ActorStore:
    """Reads and conditionally writes actor items; registers names."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    # -- actors -----------------------------------------------------------------------------
    def load(self, pid: str) -> Snapshot | None:
        """The committed snapshot of ``pid`` (a consistent read), or None."""
        reply = self.client.get_item(TableName=self.table, Key=_actor_key(pid), ConsistentRead=True)
        item = reply.get("Item")
        return Snapshot.from_item(item) if item else None

    def commit(self, snapshot: Snapshot, expected_version: int) -> None:
        """Store ``snapshot`` if the stored version is still ``expected_version`` (0: absent);
        its ``expires`` (set on an actor that has ended) is the item's TTL.

        Raises:
            StaleSnapshot: the condition failed.
            SnapshotTooLarge: the item would pass DynamoDB's 400 KB limit.
        """
        item = self.item(snapshot)
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        try:
            self.client.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleSnapshot(snapshot.pid) from None
            raise

    def commit_with(
        self, snapshot: Snapshot, puts: list[dict[str, Any]], *, first: bool = False
    ) -> None:
        """Store ``snapshot`` together with ``puts`` (transaction items: a loop process's
        journal chunk) in one ``TransactWriteItems``; ``first``: only if the actor item does
        not exist yet (a birth), else unconditionally (the chunks' own conditions decide).

        Raises:
            StaleSnapshot: a condition failed.
            SnapshotTooLarge: the item would pass DynamoDB's 400 KB limit.
        """
        head: dict[str, Any] = {"TableName": self.table, "Item": self.item(snapshot)}
        if first:
            head["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self.client.transact_write_items(TransactItems=[*puts, {"Put": head}])
        except ClientError as exc:
            if is_condition_failure(exc):
                raise StaleSnapshot(snapshot.pid) from None
            raise

    def item(self, snapshot: Snapshot) -> dict[str, Any]:
        """The actor item of ``snapshot``.

        Raises:
            SnapshotTooLarge: the item would pass DynamoDB's 400 KB limit.
        """
        snapshot.updated = time.time()
        meta = json.dumps(snapshot.meta(), ensure_ascii=False, separators=(",", ":"))
        item = {
            **_actor_key(snapshot.pid),
            "entry": {"S": snapshot.entry},
            "host": {"S": snapshot.host},
            "version": {"N": str(snapshot.version)},
            "status": {"S": snapshot.status},
            "state": {"S": snapshot.state},
            "meta": {"S": meta},
        }
        if snapshot.expires is not None:
            item[TTL_ATTRIBUTE] = {"N": str(snapshot.expires)}
        size = sum(len(k) + len(v.get("S", v.get("N", ""))) for k, v in item.items())
        if size > ITEM_LIMIT_BYTES:
            raise SnapshotTooLarge(
                f"snapshot of {snapshot.pid} is {size} bytes; a DynamoDB item holds at most "
                f"{ITEM_LIMIT_BYTES} bytes (400 KB): keep less in the state"
            )
        return item

    # -- names --------------------------------------------------------------------------------
    def register(self, name: str, pid: str) -> None:
        """Give ``name`` to ``pid`` (again, idempotently).

        Raises:
            UnitError: ALREADY_EXISTS when another process holds it; INVALID for a bad name.
        """
        if not name or "/" in name or name.startswith("@"):
            raise UnitError(INVALID, f"'{name}' is not a valid process name (no '/', no '@')")
        try:
            self.client.put_item(
                TableName=self.table,
                Item={**_name_key(name), "pid": {"S": pid}},
                ConditionExpression="attribute_not_exists(pk) OR pid = :pid",
                ExpressionAttributeValues={":pid": {"S": pid}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                owner = self.lookup(name)
                raise UnitError(ALREADY_EXISTS, f"name '{name}' is taken by {owner}") from None
            raise

    def lookup(self, name: str) -> str | None:
        """The pid holding ``name``, or None."""
        reply = self.client.get_item(TableName=self.table, Key=_name_key(name), ConsistentRead=True)
        item = reply.get("Item")
        return item["pid"]["S"] if item else None

    def unregister(self, name: str, pid: str) -> bool:
        """Release ``name`` if ``pid`` holds it; True when it did."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=_name_key(name),
                ConditionExpression="pid = :pid",
                ExpressionAttributeValues={":pid": {"S": pid}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
