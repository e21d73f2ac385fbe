"""Read-only views of an application's outside resources: store keys, bucket objects, queue
depths (what ``units resources`` shows).

Each view is a bounded number of requests, whatever the resource holds: a store's first keys are
one DynamoDB ``Query`` per page of its partition (more pages only while expired items the TTL
sweeper has not removed yet fill them), a bucket's first objects one S3 ``ListObjectsV2``, a
queue's counts one SQS ``GetQueueAttributes`` for it and one for its dead-letter queue. Nothing
here writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StoreKey:
    """One live key of a store."""

    key: str
    #: The store's version of the key (raised by one per write).
    version: int | None = None
    #: When it expires (epoch seconds); None: never.
    expires: float | None = None
    #: The value in the codec's JSON form (``{"$bytes": ...}`` for binary).
    value: Any = None


@dataclass
class StoreListing:
    """A store entry's first keys (sorted, as DynamoDB orders its partition)."""

    store: str
    partition: str
    keys: list[StoreKey] = field(default_factory=list)
    #: Whether keys past the first ``limit`` exist.
    more: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StoredObject:
    """One object of a bucket."""

    key: str
    size: int
    modified: float | None = None


@dataclass
class BucketListing:
    """A ``cloudstorage.s3`` entry's bucket and its first objects (in key order)."""

    storage: str
    bucket: str
    objects: list[StoredObject] = field(default_factory=list)
    more: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AppQueueDepth:
    """A ``queue.queue`` entry's counts, SQS's approximate ones."""

    queue: str
    #: Messages waiting to be received.
    queued: int = 0
    #: Messages a consumer holds right now (received, not yet deleted).
    in_flight: int = 0
    #: Messages sent with a delay that has not passed yet.
    delayed: int = 0
    #: Messages in its dead-letter queue (None: it has none).
    dead_letters: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceViews:
    """The views over one stack's resources (names as the stack's outputs give them).

    ``stores`` maps store entry ids to their partition of ``store_table``; ``buckets`` maps
    ``cloudstorage.s3`` entry ids to bucket names; ``queues`` and ``dead_letter_queues`` map
    ``queue.queue`` entry ids to queue URLs. ``now`` (epoch seconds) decides which store keys
    have expired: an expired key is absent, as the store module reads it.
    """

    def __init__(
        self,
        *,
        dynamodb: Any = None,
        s3: Any = None,
        sqs: Any = None,
        store_table: str | None = None,
        stores: dict[str, str] | None = None,
        buckets: dict[str, str] | None = None,
        queues: dict[str, str] | None = None,
        dead_letter_queues: dict[str, str] | None = None,
    ) -> None:
        self.dynamodb, self.s3, self.sqs = dynamodb, s3, sqs
        self.store_table = store_table
        self.stores = dict(stores or {})
        self.buckets = dict(buckets or {})
        self.queues = dict(queues or {})
        self.dead_letter_queues = dict(dead_letter_queues or {})

    def ids(self) -> list[str]:
        """Every resource id these views know, sorted."""
        return sorted({*self.stores, *self.buckets, *self.queues})

    # -- stores ---------------------------------------------------------------------------------
    def store_keys(self, store: str, now: float, prefix: str = "", limit: int = 20) -> StoreListing:
        """``store``'s first ``limit`` live keys starting with ``prefix``."""
        partition = self.stores[store]
        listing = StoreListing(store=store, partition=partition)
        if not self.store_table:
            return listing
        request: dict[str, Any] = {
            "TableName": self.store_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        if prefix:
            request["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            request["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        items: list[dict[str, Any]] = []
        while True:
            # One more than asked for: whether there are more keys is whether it came.
            request["Limit"] = limit + 1 - len(items)
            answer = self.dynamodb.query(**request)
            items += [i for i in answer.get("Items", []) if _live(i, now)]
            start = answer.get("LastEvaluatedKey")
            if len(items) > limit or start is None:
                break
            request["ExclusiveStartKey"] = start
        listing.keys = [_store_key(i) for i in items[:limit]]
        listing.more = len(items) > limit
        return listing

    # -- buckets --------------------------------------------------------------------------------
    def bucket_objects(self, storage: str, prefix: str = "", limit: int = 20) -> BucketListing:
        """``storage``'s bucket and its first ``limit`` objects whose keys start with ``prefix``."""
        bucket = self.buckets[storage]
        request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": limit}
        if prefix:
            request["Prefix"] = prefix
        answer = self.s3.list_objects_v2(**request)
        objects = [
            StoredObject(
                key=o["Key"],
                size=int(o.get("Size", 0)),
                modified=o["LastModified"].timestamp() if o.get("LastModified") else None,
            )
            for o in answer.get("Contents", [])
        ]
        return BucketListing(
            storage=storage, bucket=bucket, objects=objects, more=bool(answer.get("IsTruncated"))
        )

    # -- queues ---------------------------------------------------------------------------------
    def queue_depth(self, queue: str) -> AppQueueDepth:
        """``queue``'s counts and its dead-letter queue's."""
        counts = self._counts(self.queues[queue])
        dead_url = self.dead_letter_queues.get(queue)
        dead = self._counts(dead_url) if dead_url else None
        return AppQueueDepth(
            queue=queue,
            queued=counts.get("ApproximateNumberOfMessages", 0),
            in_flight=counts.get("ApproximateNumberOfMessagesNotVisible", 0),
            delayed=counts.get("ApproximateNumberOfMessagesDelayed", 0),
            dead_letters=None if dead is None else dead.get("ApproximateNumberOfMessages", 0),
        )

    def _counts(self, url: str) -> dict[str, int]:
        reply = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        return {k: int(v) for k, v in reply.get("Attributes", {}).items()}


def _live(item: dict[str, Any], now: float) -> bool:
    return "exp" not in item or float(item["exp"]["N"]) > now


def _store_key(item: dict[str, Any]) -> StoreKey:
    raw = item.get("val", {}).get("S")
    try:
        value = json.loads(raw) if raw is not None else None
    except json.JSONDecodeError:
        value = raw  # written by something other than the store module: shown as it is
    return StoreKey(
        key=item["sk"]["S"],
        version=int(item["v"]["N"]) if "v" in item else None,
        expires=float(item["exp"]["N"]) if "exp" in item else None,
        value=value,
    )
