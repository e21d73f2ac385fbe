"""The resources of ``store.*`` and ``cloudstorage.s3`` entries: the store table and buckets;
and the grants of ``db.sql.postgres`` entries (the database itself is the user's: SQLite is a
file in the Lambda's /tmp, PostgreSQL is reached by its DSN).

- **The store table.** Every store entry's keys live in one DynamoDB table of its own, not in
  the process/workflow table: its TTL attribute (``ttl``) lets DynamoDB sweep expired keys,
  which must never touch an actor snapshot or an event log; the function runners get exactly
  the item actions the ``store`` module makes on it and nothing on the other table for it; and
  it exists whether or not the application has hosts. (A per-store ``dynamodb:LeadingKeys``
  condition would not narrow anything: every runner may name every store.)
- **Buckets.** A ``cloudstorage.s3`` entry without ``bucket`` gets a bucket of the stack
  (S3-managed encryption, all public access blocked, TLS enforced, versioned, kept on
  ``cdk destroy`` whatever the stage: objects are the application's data); one naming a
  bucket uses that bucket (``${env:NAME}`` expanded from the synth's environment) and is only
  granted on.

Grants are per runner: the object actions on each bucket's objects, listing on the bucket;
``secretsmanager:GetSecretValue`` / ``ssm:GetParameter`` on exactly the secret or parameter a
``db.sql.postgres`` entry names for its password.
"""

from __future__ import annotations

import os
import re
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.environment import BUCKETS_ENV, STORE_TABLE_ENV
from infra.errors import SynthError
from runtime import manifest

#: What the ``store`` module asks of its table (runtime/modules/store_module.py).
STORE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)
#: What the ``cloudstorage`` module asks of a bucket's objects (HeadObject is GetObject's) and
#: of the bucket (ListObjectsV2, ListObjectVersions).
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging")
BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")

_PLACEHOLDER = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(text: str, entry_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        if match[1] not in os.environ:
            raise SynthError(
                "A bucket name cannot be resolved",
                [
                    f"entry '{entry_id}' field 'bucket': {match[0]} needs the environment "
                    f"variable {match[1]} set when the stack is synthesized"
                ],
            )
        return os.environ[match[1]]

    return _PLACEHOLDER.sub(value, text)


class Storage(Construct):
    """``table`` (None without store entries) and ``buckets`` (entry id -> bucket)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: manifest.Registry,
        production: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table: dynamodb.Table | None = None
        #: Store entry id -> the partition of ``table`` its keys live in.
        self.partitions = {e.id: e.partition for e in registry.of_kind(manifest.StoreEntry)}
        if registry.of_kind(manifest.StoreEntry):
            self.table = dynamodb.Table(
                self,
                "StoreTable",
                partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                time_to_live_attribute="ttl",
                # As the process table: it means nothing without the stack's code, except in
                # production, where it is kept and protected.
                removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
                deletion_protection=production or None,
            )
        #: (actions, resource ARNs) reading the passwords ``db.sql.postgres`` entries name.
        self.secret_reads: list[tuple[str, list[str]]] = []
        for sql_entry in registry.of_kind(manifest.SqlEntry):
            if sql_entry.password_secret:
                arn = sql_entry.password_secret
                # A complete ARN ends with Secrets Manager's 6-character suffix; one written
                # without it matches the secret only with the suffix wildcard.
                self.secret_reads.append(("secretsmanager:GetSecretValue", [arn, f"{arn}-??????"]))
            if sql_entry.password_parameter:
                self.secret_reads.append(("ssm:GetParameter", [sql_entry.password_parameter]))
        self.buckets: dict[str, s3.IBucket] = {}
        for i, entry in enumerate(registry.of_kind(manifest.S3StorageEntry)):
            if entry.bucket:
                name = _expand(entry.bucket, entry.id)
                self.buckets[entry.id] = s3.Bucket.from_bucket_name(self, f"Named{i}", name)
                continue
            bucket = s3.Bucket(
                self,
                f"Bucket{i}",
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                versioned=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                removal_policy=RemovalPolicy.RETAIN,
            )
            nag.suppress(
                bucket,
                "AwsSolutions-S1",
                "Server access logs need a second bucket per stack that nothing reads by "
                "default; audit S3 access with CloudTrail data events where it is required.",
            )
            self.buckets[entry.id] = bucket

    def environment(self) -> dict[str, str]:
        """The variables naming the table and the buckets (``runtime.resources``)."""
        out: dict[str, str] = {}
        if self.table is not None:
            out[STORE_TABLE_ENV] = self.table.table_name
        if self.buckets:
            names = {k: b.bucket_name for k, b in sorted(self.buckets.items())}
            out[BUCKETS_ENV] = Stack.of(self).to_json_string(names)
        return out

    def grant(self, function: Any) -> None:
        """Let ``function`` use every store and bucket, with only what the modules ask, and
        read exactly the database passwords the ``db.sql.postgres`` entries name."""
        for action, arns in self.secret_reads:
            function.add_to_role_policy(iam.PolicyStatement(actions=[action], resources=arns))
        if any(action.startswith("secretsmanager") for action, _ in self.secret_reads):
            nag.suppress(
                function.role,
                "AwsSolutions-IAM5",
                "A secret's ARN ends with a random 6-character suffix; '<written ARN>-??????' "
                "matches exactly the named secret when its ARN was written without it.",
                applies_to=[nag.regex(r"^Resource::arn:.*:secretsmanager:.*-\?{6}$")],
            )
        if self.table is not None:
            self.table.grant(function, *STORE_ACTIONS)
        for bucket in self.buckets.values():
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(OBJECT_ACTIONS), resources=[bucket.arn_for_objects("*")]
                )
            )
            function.add_to_role_policy(
                iam.PolicyStatement(actions=list(BUCKET_ACTIONS), resources=[bucket.bucket_arn])
            )
        if self.buckets:
            nag.suppress(
                function.role,
                "AwsSolutions-IAM5",
                "The cloudstorage module reads and writes any object key of the application's "
                "buckets (keys are application data): '<bucket arn>/*' is the narrowest "
                "resource, with the object actions listed, no wildcard action.",
                applies_to=[
                    nag.regex(r"^Resource::.*Bucket.*\.Arn>/\*$"),
                    nag.regex(r"^Resource::arn:<AWS::Partition>:s3:::.*/\*$"),
                ],
            )
