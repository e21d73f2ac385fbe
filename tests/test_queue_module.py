"""``queue`` (Wippy's ``en/lua/storage/queue.md``) and ``queue.consumer`` entries
(``en/guides/queue-consumers.md``, ``en/system/queue.md``) on SQS in moto, end to end through
the harness: publish with headers, the consumer's function receiving the decoded body,
``queue.message()`` and its methods, ack/nack by return value, error and early settlement,
redelivery with the same message id, the DLQ after ``max_attempts``, FIFO queues, ``info``,
the bad inputs with their error text, and the refusal in workflow code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import codec
from runtime.errors import ManifestError
from runtime.manifest import load_app
from runtime.resources import LOCAL_STORE_TABLE
from runtime.testing import LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: mem
    kind: queue.driver.memory
    lifecycle: {auto_start: true}
  - name: aws
    kind: config.aws
    region: us-east-1
  - name: sqs
    kind: queue.driver.sqs
    config: app:aws
  - name: tasks
    kind: queue.queue
    driver: app:mem
    dead_letter: {max_attempts: 3}
  - name: orders
    kind: queue.queue
    driver: app:sqs
    queue_name: orders.fifo
  - name: idle
    kind: queue.queue
    driver: app:sqs
    codec: json/plain
  - name: pub
    kind: function.lua
    source: file://pub.lua
    method: handler
    modules: [queue]
  - name: work
    kind: function.lua
    source: file://work.lua
    method: main
    modules: [queue, store]
  - name: ordered
    kind: function.lua
    source: file://ordered.lua
    method: main
    modules: [queue, store]
  - name: seen
    kind: store.memory
  - name: task_consumer
    kind: queue.consumer
    queue: app:tasks
    func: app:work
    concurrency: 2
    prefetch: 5
  - name: order_consumer
    kind: queue.consumer
    queue: app:orders
    func: app:ordered
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [queue, funcs]
"""

PUB = r"""
local queue = require("queue")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message() }
end
local T = {}
function T.publish(id, data, headers)
  local ok, err = queue.publish(id, data, headers)
  return { ok = ok, err = E(err) }
end
function T.info(id)
  local info, err = queue.info(id)
  return { info = info, err = E(err) }
end
function T.bad_data()
  local ok, err = queue.publish("app:tasks", { f = print })
  return { ok = ok, err = E(err) }
end
function T.message()
  local msg, err = queue.message()
  return { none = msg == nil, err = E(err) }
end
function T.raises(what)
  local ok, err = pcall(function()
    if what == "id" then return queue.publish({}, 1) end
    return queue.info(true)
  end)
  return { ok = ok, err = tostring(err) }
end
return { handler = function(op, ...) return T[op](...) end }
"""

# The consumer's function: what it does is said by the body (a table with an "op").
WORK = r"""
local queue = require("queue")
local store = require("store")
local function main(body)
  local msg = queue.message()
  local s = store.get("app:seen")
  local key = "m:" .. msg:id()
  local n = (s:get(key) or 0) + 1
  s:set(key, n)
  s:set("last", { body = body, id = msg:id(), str = tostring(msg),
                  prio = msg:header("priority"), missing = msg:header("nope"),
                  headers = msg:headers(), deliveries = n })
  if type(body) ~= "table" then return true end
  local op = body.op
  if op == "fail" then return nil, "cannot do it" end
  if op == "raise" then error("boom") end
  if op == "false" then return false end
  if op == "flaky" and n < 3 then return nil, "not yet" end
  if op == "ack_then_fail" then
    local ok1 = msg:ack()
    local ok2, e2 = msg:nack()
    s:set("settle", { ok1 = ok1, ok2 = ok2, e2 = e2 and e2:message(), kind = e2 and e2:kind() })
    error("after ack")
  end
  if op == "nack_then_succeed" then
    msg:nack()
    return true
  end
  if op == "keep" then
    s:set("kept_ok", true)
    KEPT = msg
  end
  if op == "use_kept" then
    local id, err = KEPT:id()
    s:set("kept", { id = id, err = err and err:message(), kind = err and err:kind(),
                    str = tostring(KEPT) })
  end
  return true
end
return { main = main }
"""

ORDERED = r"""
local queue = require("queue")
local store = require("store")
local function main(body)
  local s = store.get("app:seen")
  local got = s:get("ordered") or {}
  got[#got + 1] = body
  s:set("ordered", got)
  s:set("group", queue.message():header("sqs.message_group_id"))
end
return { main = main }
"""

WF = r"""
local queue = require("queue")
local funcs = require("funcs")
local function main()
  local ok, err = queue.publish("app:idle", { from = "workflow" })
  local via = funcs.call("app:pub", "publish", "app:idle", { from = "activity" })
  return { ok = ok, kind = err and err:kind(), message = err and err:message(), via = via }
end
return main
"""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    root = write_app(
        tmp_path / "app",
        INDEX,
        {"pub.lua": PUB, "work.lua": WORK, "ordered.lua": ORDERED, "wf.lua": WF},
    )
    with LocalCloud(root) as c:
        yield c


def pub(cloud: LocalCloud, op: str, *args: Any) -> Any:
    return cloud.call("app:pub", op, *args)


def seen(cloud: LocalCloud, key: str) -> Any:
    """What the consumer's function wrote to the app:seen store under ``key``."""
    item = cloud.resources.dynamodb.get_item(
        TableName=LOCAL_STORE_TABLE, Key={"pk": {"S": "m#app:seen"}, "sk": {"S": key}}
    ).get("Item")
    return None if item is None else codec.from_json_value(json.loads(item["val"]["S"]))


def test_publish_reaches_the_consumer_with_body_headers_and_id(cloud: LocalCloud) -> None:
    body = {"action": "send_email", "user_id": 456, "tags": ["a", "b"]}
    headers = {"priority": "high", "correlation_id": "req-1", "attempt": 2, "urgent": True}
    assert pub(cloud, "publish", "app:tasks", body, headers) == {"ok": True}
    assert cloud.drain() >= 1
    last = seen(cloud, "last")
    assert last["body"] == body
    assert last["prio"] == "high" and "missing" not in last
    # Headers keep their types; Wippy's timestamp header (Unix seconds) is there too.
    assert {k: v for k, v in last["headers"].items() if k != "timestamp"} == headers
    assert isinstance(last["headers"]["timestamp"], int)
    assert last["str"] == f"queue.Message{{id={last['id']}}}"
    assert cloud.consumer_stats("app:task_consumer") == {"handled": 1, "acked": 1, "nacked": 0}
    assert pub(cloud, "info", "app:tasks")["info"] == {
        "message_count": 0,
        "ready": 0,
        "in_flight": 0,
    }


def test_a_string_body_is_delivered_as_published(cloud: LocalCloud) -> None:
    assert pub(cloud, "publish", "app:tasks", "simple message", {"priority": 5}) == {"ok": True}
    cloud.drain()
    last = seen(cloud, "last")
    assert (last["body"], last["prio"]) == ("simple message", 5)


def test_info_counts_what_waits(cloud: LocalCloud) -> None:
    for i in range(3):
        pub(cloud, "publish", "app:idle", {"n": i})
    assert pub(cloud, "info", "app:idle")["info"] == {
        "message_count": 3,
        "ready": 3,
        "in_flight": 0,
    }


@pytest.mark.parametrize("op", ["fail", "raise", "false"])
def test_a_failing_function_leaves_the_message_to_the_dlq_after_max_attempts(
    cloud: LocalCloud, op: str
) -> None:
    pub(cloud, "publish", "app:tasks", {"op": op, "n": 1})
    cloud.drain()
    last = seen(cloud, "last")
    # Received max_attempts (3) times, the same message id each time, then dead-lettered.
    assert last["deliveries"] == 3
    assert cloud.queue_dead_letters("app:tasks") == [{"op": op, "n": 1}]
    assert cloud.consumer_stats("app:task_consumer")["nacked"] == 3
    assert any(line.message == "queue message nacked" for line in cloud.logs)


def test_a_message_that_succeeds_on_redelivery_is_not_dead_lettered(cloud: LocalCloud) -> None:
    pub(cloud, "publish", "app:tasks", {"op": "flaky"})
    pub(cloud, "publish", "app:tasks", {"op": "ok"})
    cloud.drain()
    stats = cloud.consumer_stats("app:task_consumer")
    assert stats == {"handled": 4, "acked": 2, "nacked": 2}
    assert cloud.queue_dead_letters("app:tasks") == []


def test_early_settlement_wins_and_is_single_shot(cloud: LocalCloud) -> None:
    pub(cloud, "publish", "app:tasks", {"op": "ack_then_fail"})
    cloud.drain()
    assert seen(cloud, "settle") == {
        "ok1": True,
        "e2": "queue.Message already settled",
        "kind": "Invalid",
    }
    # Acked before the raise: deleted, never redelivered.
    assert seen(cloud, "last")["deliveries"] == 1
    assert cloud.consumer_stats("app:task_consumer")["acked"] == 1

    pub(cloud, "publish", "app:tasks", {"op": "nack_then_succeed"})
    cloud.drain()
    assert seen(cloud, "last")["deliveries"] == 3  # nacked each time: to the DLQ
    assert cloud.queue_dead_letters("app:tasks") == [{"op": "nack_then_succeed"}]


def test_a_message_kept_past_its_handler_is_released(cloud: LocalCloud) -> None:
    pub(cloud, "publish", "app:tasks", {"op": "keep"})
    cloud.drain()
    pub(cloud, "publish", "app:tasks", {"op": "use_kept"})
    cloud.drain()
    assert seen(cloud, "kept") == {
        "err": "queue.Message released",
        "kind": "Invalid",
        "str": "queue.Message{released}",
    }


def test_a_crash_after_the_function_redelivers_the_same_message_id(cloud: LocalCloud) -> None:
    cloud.crash_consumer_at("after_function")
    pub(cloud, "publish", "app:tasks", {"op": "ok"})
    cloud.drain()
    last = seen(cloud, "last")
    # The function ran twice for one message, seeing the same id: it can deduplicate on it.
    assert last["deliveries"] == 2
    assert seen(cloud, "m:" + last["id"]) == 2
    assert cloud.consumer_stats("app:task_consumer") == {"handled": 2, "acked": 1, "nacked": 0}
    assert cloud.queue_dead_letters("app:tasks") == []


def test_fifo_queue_keeps_order_and_needs_a_group(cloud: LocalCloud) -> None:
    for i in range(5):
        r = pub(cloud, "publish", "app:orders", {"n": i}, {"sqs.message_group_id": "g1"})
        assert r == {"ok": True}
    cloud.drain()
    assert seen(cloud, "ordered") == [{"n": i} for i in range(5)]
    assert seen(cloud, "group") == "g1"
    assert pub(cloud, "publish", "app:orders", {"n": 9})["err"] == {
        "kind": "Invalid",
        "message": "queue.publish: sqs fifo publish missing sqs.message_group_id ('app:orders')",
    }


@pytest.mark.parametrize(
    ("args", "kind", "message"),
    [
        (("", 1), "Invalid", "queue ID required"),
        (("app:tasks",), "Invalid", "message data required"),
        (("app:tasks", {}), "Invalid", "message data cannot be empty"),
        (
            ("app:nope", 1),
            "Internal",
            "publish failed: queue 'app:nope' is not defined",
        ),
        (
            ("app:pub", 1),
            "Internal",
            "publish failed: queue 'app:pub' is a function.lua, not a queue.queue",
        ),
        (
            ("app:tasks", 1, {"sqs.delay_seconds": 901}),
            "Invalid",
            "queue.publish: header sqs.delay_seconds must be a number of seconds from 0 to "
            "900, got 901",
        ),
        (
            ("app:tasks", 1, {"sqs.message_group_id": "g"}),
            "Invalid",
            "queue.publish: header sqs.message_group_id is for FIFO queues; 'app:tasks' is a "
            "standard queue (name it with a .fifo queue_name for ordering)",
        ),
        (
            ("app:tasks", 1, {"bad name": "x"}),
            "Invalid",
            "queue.publish: header name 'bad name' cannot be an SQS message attribute (up to "
            "256 letters, digits, '_', '-' and '.', no leading, trailing or double '.', not "
            "starting with 'AWS.' or 'Amazon.')",
        ),
        (
            ("app:tasks", 1, {"nested": {"a": 1}}),
            "Invalid",
            "queue.publish: header 'nested' must be a string, number or boolean, got dict",
        ),
        (
            ("app:tasks", 1, {f"h{i}": i for i in range(11)}),
            "Invalid",
            "queue.publish: 11 headers; an SQS message carries at most 10 (sqs.* headers not "
            "counted)",
        ),
        (("app:tasks", 1, "x"), "Invalid", "queue.publish: headers must be a table, got string"),
    ],
)
def test_bad_publishes(cloud: LocalCloud, args: tuple[Any, ...], kind: str, message: str) -> None:
    assert pub(cloud, "publish", *args)["err"] == {"kind": kind, "message": message}
    assert pub(cloud, "info", "app:tasks")["info"]["message_count"] == 0


def test_a_value_the_codec_refuses_is_a_clear_error(cloud: LocalCloud) -> None:
    assert pub(cloud, "bad_data")["err"] == {
        "kind": "Invalid",
        "message": "queue.publish: the message data cannot be sent: data.f: a function cannot "
        "be sent",
    }
    assert pub(cloud, "info", "app:tasks")["info"]["message_count"] == 0


def test_an_oversized_message_is_refused_and_nothing_is_sent(cloud: LocalCloud) -> None:
    out = pub(cloud, "publish", "app:tasks", "x" * (1024 * 1024))
    assert out["err"]["kind"] == "Invalid"
    assert out["err"]["message"] == (
        "queue.publish: the message to 'app:tasks' is 1048578 bytes encoded (body and "
        "headers); an SQS message holds at most 1048576 bytes; nothing was sent"
    )
    assert pub(cloud, "info", "app:tasks")["info"]["message_count"] == 0


def test_message_outside_a_consumer_and_argument_errors(cloud: LocalCloud) -> None:
    assert pub(cloud, "message") == {
        "none": True,
        "err": {"kind": "Invalid", "message": "no delivery found in context"},
    }
    raised = pub(cloud, "raises", "id")
    assert not raised["ok"]
    assert "queue.publish: the queue id must be a string, got table" in raised["err"]
    assert (
        "queue.info: the queue id must be a string, got boolean" in pub(cloud, "raises", "x")["err"]
    )


def test_workflow_code_is_refused_and_an_activity_may_publish(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:wf")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed"
    assert result.result == {
        "kind": "Invalid",
        "message": "queue: publishing to a queue is an effect a workflow cannot replay; call a "
        "function (an activity) that publishes, with funcs.call, from the workflow instead",
        "via": {"ok": True},
    }
    assert pub(cloud, "info", "app:idle")["info"]["message_count"] == 1


def test_the_harness_publishes_too(cloud: LocalCloud) -> None:
    cloud.publish("app:tasks", {"op": "ok", "from": "test"}, {"priority": "low"})
    cloud.drain()
    assert seen(cloud, "last")["body"] == {"op": "ok", "from": "test"}


# -- the manifest ------------------------------------------------------------------------------

BASE = """
version: "1.0"
namespace: app
entries:
  - {name: mem, kind: queue.driver.memory}
  - {name: f, kind: function.lua, source: file://f.lua, modules: [queue]}
"""


def load_error(tmp_path: Path, extra: str) -> list[str]:
    root = write_app(tmp_path / "bad", BASE + extra, {"f.lua": "return { handler = print }"})
    with pytest.raises(ManifestError) as info:
        load_app(root)
    return info.value.problems


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "  - {name: c, kind: queue.consumer, queue: app:nope, func: app:f}",
            "_index.yaml: entry 'app:c' field 'queue': 'app:nope' is not defined",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem}\n"
            "  - {name: c, kind: queue.consumer, queue: app:q, func: app:nofunc}",
            "_index.yaml: entry 'app:c' field 'func': 'app:nofunc' is not defined",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem}\n"
            "  - {name: c, kind: queue.consumer, queue: app:q, func: app:mem}",
            "_index.yaml: entry 'app:c' field 'func': 'app:mem' is a queue.driver.memory, "
            "expected function.lua",
        ),
        (
            "  - {name: q, kind: queue.queue}",
            "_index.yaml: entry 'app:q' field 'driver': missing (required for queue.queue)",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:f}",
            "_index.yaml: entry 'app:q' field 'driver': 'app:f' is a function.lua, expected "
            "queue.driver.memory or queue.driver.sqs or queue.driver.amqp",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem, codec: application/msgpack}",
            "_index.yaml: entry 'app:q' field 'codec': application/msgpack is not supported: an "
            "SQS message body is text, so bodies are JSON here (codec: json/plain, the default)",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem, queue_name: 'a b'}",
            "_index.yaml: entry 'app:q' field 'queue_name': invalid SQS queue name 'a b' (1-80 "
            "letters, digits, '-' and '_'; a FIFO queue's name ends in '.fifo')",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem, dead_letter: {max_attempts: 0}}",
            "_index.yaml: entry 'app:q' field 'dead_letter.max_attempts': must be between 1 and "
            "1000, got 0",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem, queue_name: q.fifo,"
            " dead_letter: {queue: app:d}}\n"
            "  - {name: d, kind: queue.queue, driver: app:mem}",
            "_index.yaml: entry 'app:q' field 'dead_letter.queue': 'app:d' is a standard queue "
            "and 'app:q' a FIFO one: SQS moves dead letters between queues of the same type only",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem, dead_letter: {queue: app:f}}",
            "_index.yaml: entry 'app:q' field 'dead_letter.queue': 'app:f' is a function.lua, "
            "expected queue.queue",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem,"
            " driver_options: {sqs: {default_visibility_timeout: 0}}}",
            "_index.yaml: entry 'app:q' field 'driver_options.sqs.default_visibility_timeout': "
            "must be a number of seconds between 1 and 43200, got 0",
        ),
        (
            "  - {name: s, kind: queue.driver.sqs}",
            "_index.yaml: entry 'app:s' field 'config': missing (required for queue.driver.sqs)",
        ),
        (
            "  - {name: a, kind: queue.driver.amqp, url: 'amqp://guest:guest@localhost:5672/'}",
            "_index.yaml: entry 'app:a' field 'kind': queue.driver.amqp is not provided: there "
            "is no AMQP broker on AWS serverless; use queue.driver.sqs (or queue.driver.memory, "
            "an SQS queue here too) for the queues of this driver",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem}\n"
            "  - {name: c, kind: queue.consumer, queue: app:q, func: app:f, concurrency: 0}",
            "_index.yaml: entry 'app:c' field 'concurrency': must be between 1 and 1000, got 0",
        ),
        (
            "  - {name: q, kind: queue.queue, driver: app:mem}\n"
            "  - {name: c, kind: queue.consumer, queue: app:q, func: app:f, prefetch: 10001}",
            "_index.yaml: entry 'app:c' field 'prefetch': must be between 1 and 10000, got 10001",
        ),
    ],
)
def test_manifest_problems(tmp_path: Path, extra: str, problem: str) -> None:
    assert any(problem in line for line in load_error(tmp_path, extra))


def test_settings_not_applied_are_reported(tmp_path: Path) -> None:
    extra = (
        "  - {name: aws, kind: config.aws, region: us-east-1}\n"
        "  - {name: s, kind: queue.driver.sqs, config: app:aws, endpoint: 'http://x:9324'}\n"
        "  - {name: q, kind: queue.queue, driver: app:s,"
        " driver_options: {memory: {max_length: 5}, amqp: {durable: true}}}\n"
        "  - {name: c, kind: queue.consumer, queue: app:q, func: app:f, auto_ack: true}"
    )
    root = write_app(tmp_path / "ok", BASE + extra, {"f.lua": "return { handler = print }"})
    registry = load_app(root)
    text = "\n".join(registry.warnings)
    assert "field 'endpoint': accepted, not applied" in text
    assert "field 'driver_options.memory': accepted, not applied" in text
    assert "field 'auto_ack': accepted, not applied (as by Wippy's SQS driver)" in text
    consumer = registry.get("app:c")
    assert (consumer.queue, consumer.func, consumer.concurrency, consumer.batch_size) == (
        "app:q",
        "app:f",
        1,
        10,
    )


def test_the_dev_stack_pumps_consumer_queues(tmp_path: Path) -> None:
    from runtime.dev.cloud import DevCloud
    from runtime.dev.logs import LogHub

    root = write_app(
        tmp_path / "dev",
        INDEX,
        {"pub.lua": PUB, "work.lua": WORK, "ordered.lua": ORDERED, "wf.lua": WF},
    )
    with DevCloud(root, LogHub()) as dev:
        assert dev.pump_queue_consumer("app:task_consumer") is False  # nothing queued
        assert dev.call("app:pub", "publish", "app:tasks", {"op": "ok", "dev": True}) == {
            "ok": True
        }
        assert dev.pump_queue_consumer("app:task_consumer") is True
        assert seen(dev, "last")["body"] == {"op": "ok", "dev": True}
        assert dev.pump_queue_consumer("app:gone") is False
