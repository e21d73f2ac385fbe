"""Retention: what has ended carries the table's TTL attribute (epoch seconds: the end on the
harness clock plus the host's ``retention``), in moto's DynamoDB; what runs never does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from runtime import manifest
from runtime.aws.dynamodb import TTL_ATTRIBUTE, expires_at
from runtime.errors import ManifestError
from runtime.processes.local import TABLE_NAME
from runtime.testing import LocalCloud
from tests.conftest import MakeApp

INDEX = """
version: "1.0"
namespace: app
entries:
  - {name: double, kind: function.lua, source: file://lib.lua, method: double}
  - name: queued
    kind: function.lua
    source: file://lib.lua
    method: double
    deploy: {timeout: 2m}   # could outlast a step: queued, its outcome posted under its key
  - {name: counter, kind: process.lua, source: file://counter.lua}
  - {name: keep, kind: process.host, retention: 48h}
  - {name: forever, kind: process.host, retention: 0}
  - {name: flow, kind: workflow.lua, source: file://flow.lua, modules: [funcs]}
  - {name: wait, kind: workflow.lua, source: file://wait.lua, modules: [time]}
  - {name: flows, kind: workflow.host}
"""
FILES = {
    "lib.lua": "return { double = function(n) return n * 2 end }\n",
    "counter.lua": """
        local counter = {}
        function counter.init() return { n = 0 } end
        function counter.handle(state, msg)
          if msg:topic() == "stop" then process.exit(state.n) end
          if msg:topic() == "boom" then error("boom") end
          state.n = state.n + 1
          return state
        end
        return counter
    """,
    "flow.lua": """
        local funcs = require("funcs")
        local function main(n)
          local a = funcs.call("app:double", n)
          return funcs.call("app:queued", a)
        end
        return { main = main }
    """,
    "wait.lua": """
        local time = require("time")
        return { main = function() time.sleep("1h") return "woke" end }
    """,
}
DAY = 24 * 3600


@pytest.fixture
def cloud(make_app: MakeApp):
    with LocalCloud(make_app(INDEX, FILES)) as c:
        yield c


def items(pk: str) -> list[dict[str, Any]]:
    """Every item of the kit's table under ``pk`` (the harness's moto DynamoDB)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    reply = client.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return reply["Items"]


def ttl_of(item: dict[str, Any]) -> int | None:
    value = item.get(TTL_ATTRIBUTE)
    return None if value is None else int(value["N"])


def test_the_harness_table_has_ttl_on(cloud):
    client = boto3.client("dynamodb", region_name="us-east-1")
    ttl = client.describe_time_to_live(TableName=TABLE_NAME)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


def test_an_ended_actor_expires_after_its_hosts_retention(cloud):
    exits = cloud.spawn("app:counter", "app:keep")
    crashes = cloud.spawn("app:counter", "app:keep")
    kept = cloud.spawn("app:counter", "app:forever")
    runs = cloud.spawn("app:counter", "app:keep")
    cloud.drain()
    for pid in (exits, crashes, kept, runs):
        cloud.send(pid, "inc")
    cloud.drain()
    (running,) = items(f"p#{runs}")
    assert ttl_of(running) is None  # alive: never swept
    cloud.advance_time(90)
    ended_at = cloud.clock.now()
    cloud.send(exits, "stop")
    cloud.send(crashes, "boom")
    cloud.send(kept, "stop")
    cloud.drain()
    assert cloud.status(exits).status == "exited" and cloud.status(crashes).status == "crashed"
    for pid in (exits, crashes):
        (item,) = items(f"p#{pid}")
        assert ttl_of(item) == int(ended_at) + 48 * 3600
    (item,) = items(f"p#{kept}")
    assert ttl_of(item) is None  # retention: 0 keeps it for good
    (running,) = items(f"p#{runs}")
    assert ttl_of(running) is None


def test_an_ended_runs_items_and_spent_keys_expire_after_its_hosts_retention(cloud):
    run_id = cloud.start_workflow("app:flow", 5, name="order-5")
    waiting = cloud.start_workflow("app:wait", None, name="order-6")
    cloud.run_workflows()
    assert cloud.result(run_id).result == 20
    (index,) = [i for i in items(f"r#{run_id}") if i["sk"]["S"] == "run"]
    closed = float(index["closed"]["N"])
    expected = int(closed) + 30 * DAY  # the default retention
    run_items = items(f"r#{run_id}")
    kinds = {i["sk"]["S"][:2] for i in run_items}
    assert kinds == {"ru", "e#"}  # index, history chunks
    assert {ttl_of(i) for i in run_items} == {expected}
    inbox = items(f"r#{run_id}#in")
    assert {i["sk"]["S"][:3] for i in inbox} == {"#a#"}  # the activities' spent keys
    assert all(ttl_of(i) == expected for i in inbox)
    (name,) = items("w#order-5")
    assert ttl_of(name) == expected
    # The run still waiting on its timer: nothing of it expires.
    assert {ttl_of(i) for i in items(f"r#{waiting}")} == {None}
    (name,) = items("w#order-6")
    assert ttl_of(name) is None


def test_a_terminated_run_expires_with_its_inbox_marker(cloud):
    run_id = cloud.start_workflow("app:wait", None)
    cloud.run_workflows()
    cloud.advance_time(60)
    now = cloud.clock.now()
    assert cloud.terminate_workflow(run_id, "operator") is True
    cloud.run_workflows()
    assert {ttl_of(i) for i in items(f"r#{run_id}")} == {int(now) + 30 * DAY}
    inbox = items(f"r#{run_id}#in")
    assert inbox and {ttl_of(i) for i in inbox} == {int(now) + 30 * DAY}


def test_a_name_taken_over_keeps_no_ttl_and_an_expired_name_is_free(cloud):
    first = cloud.start_workflow("app:wait", None, name="job")
    cloud.run_workflows()
    second = cloud.start_workflow("app:wait", None, name="job", conflict="terminate_existing")
    cloud.run_workflows()
    assert cloud.result(first).status == "terminated"
    (name,) = items("w#job")
    assert name["run"]["S"] == second and ttl_of(name) is None  # the live run's name
    cloud.advance_time(3600)
    cloud.run_workflows()
    assert cloud.result(second).status == "completed"
    (name,) = items("w#job")
    assert ttl_of(name) is not None
    # Past its TTL the name is free, whether DynamoDB has swept the item yet or not.
    cloud.advance_time(31 * DAY)
    third = cloud.start_workflow("app:wait", None, name="job")
    assert third not in (first, second)
    (name,) = items("w#job")
    assert name["run"]["S"] == third


def test_retention_is_a_host_setting(make_app: MakeApp):
    registry = manifest.load_app(make_app(INDEX, FILES))
    assert expires_at(registry, "app:keep", 1000.5) == 1000 + 48 * 3600
    assert expires_at(registry, "app:forever", 1000.0) is None
    assert expires_at(registry, "app:flows", 1000.0) == 1000 + 30 * DAY  # the default
    assert expires_at(registry, "app:gone", 1000.0) == 1000 + 30 * DAY  # an unknown host
    bad = INDEX.replace("retention: 48h", "retention: 5m")
    with pytest.raises(ManifestError, match=r"retention.*at least 3600s"):
        manifest.load_app(make_app(bad, FILES))
