"""DynamoDB helpers shared by the process store and the workflow log."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

#: The key schema of the kit's table: string ``pk`` (hash) and ``sk`` (range).
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
KEY_ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]


def is_condition_failure(exc: ClientError) -> bool:
    """True when a write lost on its condition (alone or inside a transaction)."""
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def create_table(client: Any, name: str) -> None:
    """Create the kit's table as the stack does (on-demand), for the harness and the dev stack."""
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=KEY_ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
