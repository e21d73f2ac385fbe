"""The workflow log's storage (moto): chunk items, loads from any seq, races, continue-as-new,
the inbox's keyed items and their posted markers, and the AWS calls each of these makes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.aws.dynamodb import create_table
from runtime.durable import events as ev
from runtime.errors import ALREADY_EXISTS, INVALID, UnitError
from runtime.processes.local import TABLE_NAME
from runtime.workflows.log import CHUNK_BYTES, EventLog, LogConflict


class Calls:
    """Counts the DynamoDB operations a client makes (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.ops: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.dynamodb.*", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.ops[model.name] += 1
        self.params.append((model.name, params))

    def take(self) -> Counter[str]:
        ops, self.ops = self.ops, Counter()
        self.params = []
        return ops


@pytest.fixture
def log(aws_credentials: None) -> Iterator[EventLog]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE_NAME)
        yield EventLog(client, TABLE_NAME)


@pytest.fixture
def calls(log: EventLog) -> Calls:
    return Calls(log.client)


def _signals(first: int, count: int, payload: Any = 1) -> list[ev.Event]:
    return [
        ev.Event(ev.SIGNAL_RECEIVED, 10.0 + seq, {"topic": "t", "payload": payload}, seq=seq)
        for seq in range(first, first + count)
    ]


def _run(log: EventLog, run_id: str = "r1") -> ev.Event:
    started = ev.Event(ev.WORKFLOW_STARTED, 1.0, {"input": {"n": 1}})
    log.create_run(run_id, "app:flow", started)
    return started


def _chunk_keys(log: EventLog, run_id: str) -> list[str]:
    reply = log.client.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
        ExpressionAttributeValues={":pk": {"S": f"r#{run_id}"}, ":e": {"S": "e#"}},
        ConsistentRead=True,
    )
    return [item["sk"]["S"] for item in reply["Items"]]


def test_a_small_append_is_one_conditional_put_item_of_one_chunk(log, calls):
    started = _run(log)
    calls.take()
    events = _signals(2, 3)
    log.append("r1", events)
    [(op, params)] = calls.params
    assert op == "PutItem" and params["ConditionExpression"] == "attribute_not_exists(pk)"
    assert params["Item"]["sk"]["S"] == "e#000000000002"
    assert _chunk_keys(log, "r1") == ["e#000000000001", "e#000000000002"]
    assert log.load("r1") == [started, *events]


def test_create_run_writes_the_index_and_the_first_chunk_in_one_transaction(log, calls):
    started = _run(log)
    assert calls.take() == Counter({"TransactWriteItems": 1})
    assert log.load("r1") == [started] and log.describe("r1")["base"] == 0
    with pytest.raises(UnitError) as caught:
        _run(log)
    assert caught.value.kind == ALREADY_EXISTS


def test_load_after_any_seq_inside_or_at_a_chunk_boundary(log, calls):
    started = _run(log)
    history = [started]
    for first, count in ((2, 4), (6, 1), (7, 4)):  # chunks at 1, 2..5, 6, 7..10
        events = _signals(first, count)
        log.append("r1", events)
        history += events
    assert _chunk_keys(log, "r1") == [f"e#{n:012d}" for n in (1, 2, 6, 7)]
    for after in range(-1, 13):
        assert log.load("r1", after=after) == history[max(after, 0) :], after
    calls.take()
    assert log.load("r1", after=10) == []  # a kept replay's check that nothing came
    assert calls.take() == Counter({"Query": 1})
    assert log.load("r1", after=5) == history[5:]  # a boundary: no look-back query
    assert calls.take() == Counter({"Query": 2})
    assert log.load("r1", after=3) == history[3:]  # inside the chunk 2..5
    assert calls.take() == Counter({"Query": 3})
    assert log.load("nobody") == []


def test_two_appends_at_the_same_seq_one_conflicts_and_the_history_is_intact(log):
    started = _run(log)
    winner = _signals(2, 2, "a")
    log.append("r1", winner)
    for loser in (_signals(2, 2, "b"), _signals(2, 1, "b"), _signals(2, 5, "b")):
        with pytest.raises(LogConflict):
            log.append("r1", loser)  # same first seq, any length: the same chunk key
    assert log.load("r1") == [started, *winner]


def test_a_racing_large_append_loses_at_its_first_chunk_and_writes_nothing(log):
    started = _run(log)
    winner = _signals(2, 1, "a")
    log.append("r1", winner)
    big = "x" * 300_000
    with pytest.raises(LogConflict):
        log.append("r1", _signals(2, 3, big))  # three chunks; the first one's key is taken
    assert log.load("r1") == [started, *winner]


def test_continue_as_new_starts_a_chunk_and_moves_base_in_one_transaction(log, calls):
    started = _run(log)
    calls.take()
    old = [*_signals(2, 2), ev.Event(ev.WORKFLOW_CONTINUED, 20.0, {"input": 2}, seq=4)]
    nxt = ev.Event(ev.WORKFLOW_STARTED, 20.0, {"input": 2, "generation": 2}, seq=5)
    log.append("r1", [*old, nxt], base=4)
    [(op, params)] = calls.params
    assert op == "TransactWriteItems"
    puts = [i["Put"]["Item"]["sk"]["S"] for i in params["TransactItems"] if "Put" in i]
    assert puts == ["e#000000000002", "e#000000000005"]
    assert "Update" in params["TransactItems"][-1]
    assert log.describe("r1")["base"] == 4
    assert log.load("r1", after=4) == [nxt]
    assert log.load("r1") == [started, *old, nxt]
    # A lost race there changes nothing: neither chunk, nor base.
    again = ev.Event(ev.WORKFLOW_STARTED, 30.0, {"input": 3, "generation": 2}, seq=6)
    with pytest.raises(LogConflict):
        log.append("r1", [ev.Event(ev.WORKFLOW_CONTINUED, 30.0, {}, seq=5), again], base=5)
    assert log.describe("r1")["base"] == 4 and log.load("r1", after=4) == [nxt]


def test_a_large_continue_as_new_puts_the_old_generations_first_chunks_before(log, calls):
    _run(log)
    calls.take()
    big = "x" * 300_000
    old = [*_signals(2, 2, big), ev.Event(ev.WORKFLOW_CONTINUED, 20.0, {}, seq=4)]
    nxt = ev.Event(ev.WORKFLOW_STARTED, 20.0, {"input": 2}, seq=5)
    log.append("r1", [*old, nxt], base=4)
    assert [op for op, _ in calls.params] == ["PutItem", "TransactWriteItems"]
    assert _chunk_keys(log, "r1") == [f"e#{n:012d}" for n in (1, 2, 3, 5)]
    assert log.load("r1", after=4) == [nxt] and log.load("r1", after=1) == [*old, nxt]


def test_an_event_over_a_chunk_fails_before_anything_is_written(log, calls):
    started = _run(log)
    fits = "v" * (ev.VALUE_LIMIT_BYTES - 2)  # the most check_size lets one value take
    ev.check_size("payload", fits)
    log.append("r1", _signals(2, 1, fits))
    calls.take()
    too_big = {"topic": "t", "payload": fits, "also": fits}  # two values: over one item
    events = [*_signals(3, 1), ev.Event(ev.SIGNAL_RECEIVED, 0.0, too_big, seq=4)]
    with pytest.raises(UnitError, match=f"over the {CHUNK_BYTES} bytes") as caught:
        log.append("r1", events)
    assert caught.value.kind == INVALID
    assert calls.take() == Counter()  # nothing written, not even the small event before it
    assert [e.seq for e in log.load("r1")] == [1, 2] and log.load("r1")[0] == started


def test_appended_seqs_must_be_consecutive(log):
    _run(log)
    with pytest.raises(ValueError, match="consecutive"):
        log.append("r1", [*_signals(2, 1), *_signals(4, 1)])


def test_events_of_the_layout_before_chunks_load_and_the_run_goes_on(log):
    """A run whose events are one item each (the layout before chunks) reads as chunks of one
    event, and appends continue after them."""
    log.client.put_item(
        TableName=TABLE_NAME,
        Item={"pk": {"S": "r#old"}, "sk": {"S": "run"}, "workflow": {"S": "app:flow"}},
    )
    for seq, type_ in ((1, ev.WORKFLOW_STARTED), (2, "Signal")):
        log.client.put_item(
            TableName=TABLE_NAME,
            Item={
                "pk": {"S": "r#old"},
                "sk": {"S": f"e#{seq:012d}"},
                "type": {"S": type_},
                "time": {"N": "5.0"},
                "data": {"S": '{"input": 1}'},
            },
        )
    log.append("old", _signals(3, 2))
    history = log.load("old")
    assert [(e.seq, e.type) for e in history[:2]] == [(1, ev.WORKFLOW_STARTED), (2, "Signal")]
    assert history[0].fields == {"input": 1} and history[2:] == _signals(3, 2)
    assert log.load("old", after=1)[0].seq == 2


def test_post_once_twice_is_one_put_item_and_one_inbox_item(log, calls):
    _run(log)
    calls.take()
    fields = {"cmd": 1, "value": 2}
    assert log.post_once("r1", "r1:2:1", ev.ACTIVITY_COMPLETED, fields, 5.0) is True
    assert calls.take() == Counter({"PutItem": 1})
    again = {"cmd": 1, "value": 3}  # a redelivery's outcome
    assert log.post_once("r1", "r1:2:1", ev.ACTIVITY_COMPLETED, again, 6.0) is False
    assert log.inbox("r1") == [("k#r1:2:1", ev.ACTIVITY_COMPLETED, fields)]


def test_posted_stays_true_after_discard_and_the_inbox_is_empty(log, calls):
    _run(log)
    assert not log.posted("r1", "key")
    log.post_once("r1", "key", ev.ACTIVITY_COMPLETED, {"cmd": 1, "value": 2}, 5.0)
    signal = log.post("r1", ev.SIGNAL_RECEIVED, {"topic": "t", "payload": 1}, 5.0)
    calls.take()
    assert log.posted("r1", "key")
    assert calls.take() == Counter({"BatchGetItem": 1})
    log.discard("r1", ["k#key", signal])
    assert calls.take() == Counter({"BatchWriteItem": 1})
    assert log.inbox("r1") == [] and not log.has_inbox("r1")
    assert log.posted("r1", "key") and not log.posted("r1", "other")


def test_discard_of_many_items_batches_them(log, calls):
    _run(log)
    ids = [log.post("r1", ev.SIGNAL_RECEIVED, {"payload": i}, float(i)) for i in range(20)]
    for i in range(10):
        log.post_once("r1", f"k{i}", ev.ACTIVITY_COMPLETED, {"cmd": i}, 30.0)
    calls.take()
    log.discard("r1", [item_id for item_id, _, _ in log.inbox("r1")] + ids[:3])  # repeats too
    assert calls.take() == Counter({"Query": 1, "BatchWriteItem": 2})  # 40 writes
    assert log.inbox("r1") == [] and all(log.posted("r1", f"k{i}") for i in range(10))


def test_the_inbox_is_in_arrival_order_keyed_items_and_signals_interleaved(log):
    _run(log)
    log.post("r1", ev.SIGNAL_RECEIVED, {"payload": "late"}, 9.0)
    log.post_once("r1", "b", ev.ACTIVITY_COMPLETED, {"cmd": 2}, 7.0)
    log.post("r1", ev.SIGNAL_RECEIVED, {"payload": "first"}, 3.0)
    log.post_once("r1", "a", ev.ACTIVITY_COMPLETED, {"cmd": 1}, 5.0)
    # The clock standing still: the order they were posted in.
    log.post_once("r1", "z", ev.ACTIVITY_COMPLETED, {"cmd": 3}, 10.0)
    log.post("r1", ev.SIGNAL_RECEIVED, {"payload": "same time"}, 10.0)
    order = [fields.get("payload", fields.get("cmd")) for _, _, fields in log.inbox("r1")]
    assert order == ["first", 1, 2, "late", 3, "same time"]


def test_an_activitys_outcome_stays_in_the_inbox_as_its_own_spent_key(log, calls):
    _run(log)
    assert log.post_once("r1", "r1:12", ev.ACTIVITY_COMPLETED, {"cmd": 3, "value": 1}, 5.0)
    calls.take()
    assert log.posted("r1", "r1:12")
    assert calls.take() == Counter({"GetItem": 1})  # one item, not the two keys of a child's
    log.discard("r1", ["#a#0000000012"])
    assert calls.take() == Counter()  # nothing to write: it stays
    # Posted again (a redelivery past the check): refused, whenever it comes.
    assert not log.post_once("r1", "r1:12", ev.ACTIVITY_COMPLETED, {"cmd": 3, "value": 2}, 6.0)
    assert [i for i, _, _ in log.inbox("r1")] == ["#a#0000000012"]
    assert not log.posted("r1", "r1:13") and not log.posted("r2", "r1:12")


def test_the_inbox_from_an_activitys_floor_skips_the_outcomes_before_it(log):
    _run(log)
    for seq in (2, 9, 10, 100):
        log.post_once("r1", f"r1:{seq}", ev.ACTIVITY_COMPLETED, {"cmd": seq}, float(seq))
    signal = log.post("r1", ev.SIGNAL_RECEIVED, {"payload": 1}, 1.0)
    log.post_once("r1", "child:c1", ev.ACTIVITY_COMPLETED, {"cmd": 7}, 3.0)
    ids = [i for i, _, _ in log.inbox("r1", "#a#0000000010")]
    assert ids == [signal, "k#child:c1", "#a#0000000010", "#a#0000000100"]  # arrival order
    assert len(log.inbox("r1")) == 6
    assert log.has_inbox("r1", "#a#0000000010")
    assert not log.has_inbox("r1", "#a#0000000010", frozenset(ids))
    assert log.has_inbox("r1", "#a#0000000009", frozenset(ids))  # 9 is not known
