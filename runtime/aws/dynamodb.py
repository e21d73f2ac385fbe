"""DynamoDB helpers shared by the process store and the workflow log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from runtime.manifest import DEFAULT_RETENTION, Registry

#: The key schema of the kit's table: string ``pk`` (hash) and ``sk`` (range).
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
KEY_ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
#: The table's TTL attribute (epoch seconds): DynamoDB deletes an item some time after it.
#: Only what has ended carries it (see :func:`expires_at`); ``TTL`` is a reserved word.
TTL_ATTRIBUTE = "ttl"


def expires_at(registry: Registry, host: str, ended: float) -> int | None:
    """The TTL of what ended at ``ended`` (clock seconds) on ``host`` (a process or workflow
    host id): the end plus the host's ``retention``, in whole epoch seconds; None when the host
    keeps it for good (``retention: 0``). An unknown host keeps the default retention.

    Written on an exited or crashed actor's snapshot, on every item of an ended run (its index,
    history chunks, spent idempotency keys, inbox leftovers) and on its spent workflow name.
    """
    retention = getattr(registry.find(host), "retention", DEFAULT_RETENTION)
    return int(ended + retention) if retention else None


#: Concurrent UpdateItems that write an ended unit's TTL on its items.
_TTL_THREADS = 8


def set_ttl(
    client: Any,
    table: str,
    keys: list[dict[str, Any]],
    expires: int,
    conditions: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] | None = None,
) -> None:
    """Write ``expires`` as the TTL of each item of ``keys`` that still exists (one
    ``UpdateItem`` each, :data:`_TTL_THREADS` at a time for many). ``conditions`` adds, by the
    key's position, a condition of its own (expression, names, values); an item that fails it
    is left as it is."""

    def one(position: int) -> None:
        condition, names, values = (conditions or {}).get(position, ("", {}, {}))
        try:
            client.update_item(
                TableName=table,
                Key=keys[position],
                UpdateExpression="SET #x = :x",
                # Never recreate an item deleted meanwhile (a discarded inbox item).
                ConditionExpression="attribute_exists(pk)" + condition,
                ExpressionAttributeNames={"#x": TTL_ATTRIBUTE, **names},
                ExpressionAttributeValues={":x": {"N": str(expires)}, **values},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    if len(keys) <= 4:  # the usual short run or process: no threads
        for position in range(len(keys)):
            one(position)
        return
    with ThreadPoolExecutor(min(_TTL_THREADS, len(keys))) as pool:
        list(pool.map(one, range(len(keys))))


def is_condition_failure(exc: ClientError) -> bool:
    """True when a write lost on its condition (alone or inside a transaction)."""
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def create_table(client: Any, name: str) -> None:
    """Create the kit's table as the stack does (on-demand, TTL on :data:`TTL_ATTRIBUTE`), for
    the harness and the dev stack."""
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=KEY_ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
