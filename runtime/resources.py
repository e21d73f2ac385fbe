"""Where the resource entries of an application live: the store table, the buckets, the queues.

``store.*`` entries keep their keys in one DynamoDB table of their own (``UNITS_STORE_TABLE``),
``cloudstorage.s3`` entries name a bucket each (``UNITS_BUCKETS``: ``{"ns:name": "bucket"}``).
``queue.queue`` entries an SQS queue each (``UNITS_QUEUES``: ``{"ns:name": "queue url"}``).
The stack sets them (``infra/storage.py``, ``infra/app_queues.py``); the harness and
``units dev`` create them in moto.
Credentials are never configured here: boto3's default chain (the Lambda's role) signs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.aws.clients import LazyClient
from runtime.message_queues import QUEUES_ENV

#: The DynamoDB table of the store entries (``infra.environment.STORE_TABLE_ENV``).
STORE_TABLE_ENV = "UNITS_STORE_TABLE"
#: ``{"ns:name": "bucket name"}`` of every ``cloudstorage.s3`` entry (``BUCKETS_ENV``).
BUCKETS_ENV = "UNITS_BUCKETS"
#: Where the ``fs.directory`` volumes live on Lambda: the instance's ephemeral storage.
LAMBDA_FS_ROOT = "/tmp/units-fs"

_PLACEHOLDER = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every ``${env:NAME}`` replaced by ``environ[NAME]``.

    Raises:
        KeyError: a named variable is not set (its name is the error's argument).
    """

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in environ:
            raise KeyError(name)
        return environ[name]

    return _PLACEHOLDER.sub(value, text)


@dataclass
class Resources:
    """The clients and names the ``store`` and ``cloudstorage`` modules use.

    ``dynamodb`` is a client (or a :class:`LazyClient`); ``s3_client(region, endpoint)`` makes
    (and caches) an S3 client for one ``config.aws`` region and endpoint override.
    """

    store_table: str | None = None
    buckets: dict[str, str] = field(default_factory=dict)
    #: ``queue.queue`` entry id -> its SQS queue URL, and (locally) -> its DLQ's URL.
    queues: dict[str, str] = field(default_factory=dict)
    dead_letter_queues: dict[str, str] = field(default_factory=dict)
    dynamodb: Any = None
    sqs: Any = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    s3_factory: Any = None
    #: The folder every ``fs.directory`` volume lives under (None: a temporary folder made on
    #: first use, for engines built without a stack, e.g. in unit tests).
    fs_root: str | None = None
    #: Reads a ``db.sql.postgres`` entry's password from Secrets Manager or SSM (None: boto3's
    #: default clients, :func:`runtime.sql_db.read_password_secret`).
    sql_password_reader: Any = None
    _s3: dict[tuple[str | None, str | None], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def s3_client(self, region: str | None, endpoint: str | None) -> Any:
        """An S3 client for ``region`` (None: the default) and ``endpoint`` (path-style when
        set, as Wippy does for S3-compatible services)."""
        key = (region, endpoint)
        with self._lock:
            client = self._s3.get(key)
            if client is None:
                client = (self.s3_factory or _new_s3)(region, endpoint)
                self._s3[key] = client
            return client

    def volumes_root(self) -> str:
        """:attr:`fs_root`, making a temporary one first when none is configured."""
        with self._lock:
            if self.fs_root is None:
                import tempfile

                self.fs_root = tempfile.mkdtemp(prefix="units-fs-")
            return self.fs_root


def _new_s3(region: str | None, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 for presigned URLs too (boto3's S3 default there is still the legacy signature).
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"} if endpoint else None)
    return boto3.client("s3", region_name=region, endpoint_url=endpoint, config=config)


def resources_from_environment() -> Resources:
    """What the stack configured for this Lambda (nothing when the app has no resources)."""
    return Resources(
        store_table=os.environ.get(STORE_TABLE_ENV) or None,
        buckets=json.loads(os.environ.get(BUCKETS_ENV) or "{}"),
        queues=json.loads(os.environ.get(QUEUES_ENV) or "{}"),
        dynamodb=LazyClient("dynamodb"),
        fs_root=LAMBDA_FS_ROOT,
        sqs=LazyClient("sqs"),
    )


#: The store table's name in the harness and ``units dev`` (the stack's is CloudFormation's).
LOCAL_STORE_TABLE = "units-stores"


def local_bucket_name(entry_id: str) -> str:
    """The bucket the harness makes for a ``cloudstorage.s3`` entry that names none."""
    text = re.sub(r"[^a-z0-9-]+", "-", entry_id.lower()).strip("-")
    return f"units-{text}"[:63].rstrip("-")


def create_local_resources(
    registry: Any, region: str, environ: Mapping[str, str], fs_root: str | None = None
) -> Resources:
    """Create in moto what the stack would (the store table with its TTL attribute, a bucket
    per ``cloudstorage.s3`` entry), unless it exists; the :class:`Resources` naming them.

    An entry's ``endpoint`` is not used here: moto is the S3 of the harness and the dev stack.
    ``fs_root`` is the folder the ``fs.directory`` volumes live under (the harness's own
    temporary folder).
    """
    import boto3

    from runtime import manifest
    from runtime.aws.dynamodb import create_table
    from runtime.message_queues import create_local_queues

    env = {"AWS_REGION": region, **os.environ, **environ}
    dynamodb = boto3.client("dynamodb", region_name=region)
    resources = Resources(
        dynamodb=dynamodb,
        sqs=boto3.client("sqs", region_name=region),
        environ=env,
        s3_factory=lambda reg, _endpoint: _new_s3(reg or region, None),
        fs_root=fs_root,
    )
    if registry.of_kind(manifest.StoreEntry):
        resources.store_table = LOCAL_STORE_TABLE
        if LOCAL_STORE_TABLE not in dynamodb.list_tables()["TableNames"]:
            create_table(dynamodb, LOCAL_STORE_TABLE)
            dynamodb.update_time_to_live(
                TableName=LOCAL_STORE_TABLE,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
            )
    for entry in registry.of_kind(manifest.S3StorageEntry):
        name = expand_env(entry.bucket, env) if entry.bucket else local_bucket_name(entry.id)
        config = registry.get(entry.config)
        bucket_region = expand_env(config.region, env) if config.region else region
        s3 = resources.s3_client(bucket_region, None)
        extra = (
            {"CreateBucketConfiguration": {"LocationConstraint": bucket_region}}
            if bucket_region != "us-east-1"
            else {}
        )
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name, **extra)
        resources.buckets[entry.id] = name
    if registry.of_kind(manifest.QueueEntry):
        resources.queues, resources.dead_letter_queues = create_local_queues(
            resources.sqs, registry
        )
    return resources
