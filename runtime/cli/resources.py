"""``units resources``: the application's stores, buckets and queues on a stack.

Each store's first keys, each bucket's first objects, each queue's depth, in-flight and
dead-letter counts, read through boto3 (:mod:`runtime.resource_views`) with the names the
stack's outputs give (``StoreTableName``, ``Stores``, ``Buckets``, ``Queues``,
``QueueDeadLetterQueues``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from runtime.cli.common import EXIT_OK, EXIT_USAGE, CliError, print_json, table, when
from runtime.cli.connection import Connection
from runtime.resource_views import BucketListing, StoreListing

Connect = Callable[[], Connection]

#: The most keys or objects one listing shows (S3's ListObjectsV2 page).
MAX_LIMIT = 1000


def add_parser(sub: Any, target_options: argparse.ArgumentParser) -> None:
    resources = sub.add_parser(
        "resources",
        parents=[target_options],
        help="list the stores' keys, the buckets' objects and the queues' depths",
    )
    resources.add_argument(
        "id", nargs="?", help="only this store, cloudstorage.s3 or queue.queue entry"
    )
    resources.add_argument("--prefix", default="", help="only keys and objects starting with it")
    resources.add_argument(
        "--limit", default="20", help="keys or objects per store or bucket (default 20)"
    )
    resources.set_defaults(handler=resources_command)


def resources_command(opts: argparse.Namespace, connect: Connect) -> int:
    limit = _limit(opts.limit)
    conn = connect()
    views = conn.resource_views
    if opts.id is not None and opts.id not in views.ids():
        known = ", ".join(views.ids()) or "none"
        raise CliError(
            f"{conn.target.name} has no store, bucket or queue '{opts.id}' (it has: {known})"
        )
    chosen = [opts.id] if opts.id else None

    def wanted(ids: dict[str, str]) -> list[str]:
        return sorted(i for i in ids if chosen is None or i in chosen)

    now = conn.clock.now()
    stores = [views.store_keys(s, now, opts.prefix, limit) for s in wanted(views.stores)]
    buckets = [views.bucket_objects(b, opts.prefix, limit) for b in wanted(views.buckets)]
    queues = [views.queue_depth(q) for q in wanted(views.queues)]
    if opts.json:
        print_json(
            {
                "stores": [s.to_dict() for s in stores],
                "buckets": [b.to_dict() for b in buckets],
                "queues": [q.to_dict() for q in queues],
            }
        )
        return EXIT_OK
    sections = []
    if stores:
        sections.append(table(("STORE", "KEY", "VERSION", "EXPIRES", "VALUE"), _key_rows(stores)))
    if buckets:
        sections.append(table(("BUCKET", "OBJECT", "SIZE", "MODIFIED"), _object_rows(buckets)))
    if queues:
        rows = [
            (
                q.queue,
                q.queued,
                q.in_flight,
                q.delayed,
                q.dead_letters if q.dead_letters is not None else "-",
            )
            for q in queues
        ]
        sections.append(table(("QUEUE", "QUEUED", "IN FLIGHT", "DELAYED", "DEAD LETTERS"), rows))
    if not sections:
        sections.append(f"{conn.target.name} has no store, cloudstorage.s3 or queue.queue entries")
    print("\n\n".join(sections))
    return EXIT_OK


def _limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise CliError(f"--limit must be a whole number from 1 to {MAX_LIMIT}: {raw!r}", EXIT_USAGE)
    return value


def _value(value: Any, limit: int = 40) -> str:
    # Keys sorted: a Lua table's order is no order, and the cell should not change with it.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_MORE = "... (more: raise --limit or give --prefix)"


def _key_rows(stores: list[StoreListing]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for s in stores:
        if not s.keys:
            rows.append((s.store, "(no keys)", None, None, None))
        for k in s.keys:
            rows.append((s.store, k.key, k.version, when(k.expires), _value(k.value)))
        if s.more:
            rows.append((s.store, _MORE, None, None, None))
    return rows


def _object_rows(buckets: list[BucketListing]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for b in buckets:
        if not b.objects:
            rows.append((b.storage, "(no objects)", None, None))
        for o in b.objects:
            rows.append((b.storage, o.key, o.size, when(o.modified)))
        if b.more:
            rows.append((b.storage, _MORE, None, None))
    return rows
