"""The load bench scaled down: 2,000 process messages over 200 actors and 20 concurrent
workflows through the harness, nothing lost or applied twice (bench/load.py checks it and
raises LoadCheckFailed otherwise).

It runs with the bench's ``--fast-moto`` patches (``touched_partitions_only``: a transaction
backs up only the partitions it writes; ``partition_queries``: a Query reads only its partition),
which keep it near 20 s: moto as is copies and sorts the whole table on every log append and
query. The other tests show both patches answer exactly as moto does.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench import load
from runtime.aws.dynamodb import create_table

SIZE = load.Size(messages=2_000, actors=200, workflows=20, activities=1, first_wave=1, burst=10)


def test_load_loses_nothing() -> None:
    report = load.run_load(SIZE, fast_moto=True)

    assert report.checked == {
        "actors": 200,
        "messages_applied": 2_000,
        "runs_completed": 21,
        "activities_completed": 21,
        "activities_run": 21,
        "dead_letters": 0,
    }
    message = load.process_per_message(report)
    assert 0 < message.dynamodb_writes <= 1  # at most one commit per message
    assert message.sqs_fifo > 0 and message.lambda_invocations > 0
    activity = load.workflow_per_activity(report)
    assert activity.wru > activity.dynamodb_writes  # the start's transaction: 2 WRU an item
    # One activity per run, inline: the run's one step invocation runs it.
    assert activity.lambda_invocations >= 1
    assert activity.sfn_calls >= 1  # the step ends its own task (SendTaskFailure: Completed)
    rows = {f.name: f for f in load.figures(report)}
    assert rows["zero loss"].value == 1.0


def _item(pk: str, sk: str, n: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(n)}}


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.usefixtures("aws_credentials")
def test_a_cancelled_transaction_changes_nothing(fast: bool) -> None:
    with mock_aws(), load.touched_partitions_only() if fast else load.contextlib.nullcontext():
        db = boto3.client("dynamodb", region_name="us-east-1")
        create_table(db, "t")
        db.put_item(TableName="t", Item=_item("run", "0", 1))
        db.put_item(TableName="t", Item=_item("other", "0", 1))
        with pytest.raises(ClientError, match="TransactionCanceled"):
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": _item("run", "1", 2)}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "run"}, "sk": {"S": "0"}},
                            "UpdateExpression": "SET n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "9"}},
                        }
                    },
                    {"Put": {"TableName": "t", "Item": _item("new", "0", 3)}},
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": _item("other", "0", 4),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        items = sorted(
            (i["pk"]["S"], i["sk"]["S"], i["n"]["N"]) for i in db.scan(TableName="t")["Items"]
        )
        assert items == [("other", "0", "1"), ("run", "0", "1")]
        # And one that succeeds writes everything.
        db.transact_write_items(
            TransactItems=[{"Put": {"TableName": "t", "Item": _item("run", "1", 2)}}]
        )
        assert len(db.scan(TableName="t")["Items"]) == 3


def _queries(db) -> list:
    """A spread of key queries, paginated to the end, as the kit and the CLI make them."""
    shapes = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}}},
        {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": "b"}, ":s": {"S": "e#"}},
            "ScanIndexForward": False,
        },
        {
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :x AND :y",
            "ExpressionAttributeValues": {
                ":p": {"S": "a"},
                ":x": {"S": "e#03"},
                ":y": {"S": "e#07"},
            },
            "Limit": 2,
        },
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "b"}},
            "Select": "COUNT",
            "Limit": 1,
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    ]
    answers = []
    for shape in shapes:
        pages, start = [], None
        while True:
            reply = db.query(
                TableName="t",
                ConsistentRead=True,
                **shape,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            pages.append((reply.get("Items"), reply["Count"], reply.get("LastEvaluatedKey")))
            start = reply.get("LastEvaluatedKey")
            if not start:
                break
        answers.append(pages)
    return answers


@pytest.mark.usefixtures("aws_credentials")
def test_partition_queries_answer_as_moto_does() -> None:
    answers = []
    for fast in (False, True):
        with mock_aws(), load.partition_queries() if fast else load.contextlib.nullcontext():
            db = boto3.client("dynamodb", region_name="us-east-1")
            create_table(db, "t")
            for pk in ("a", "b", "c"):
                for n in range(10):
                    db.put_item(TableName="t", Item=_item(pk, f"e#{n:02d}", n))
                db.put_item(TableName="t", Item=_item(pk, "run", 99))
            answers.append(_queries(db))
    assert answers[0] == answers[1]
    assert answers[0][0][0][1] == 11  # the partition's items, no other's
