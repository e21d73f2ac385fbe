"""``events`` (Wippy's ``en/lua/core/events.md``): the invocation's bus. Publish and subscribe
by system pattern and kind, the event's fields, copies per subscriber, close, each bad input
with its error text, the bus's scope (one invocation; one actor), and workflow refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime.modules import events_module
from runtime.modules.events_module import Wildcard
from runtime.testing import LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: run
    kind: function.lua
    source: file://run.lua
    method: handler
    modules: [events, time, funcs]
  - name: other
    kind: function.lua
    source: file://other.lua
    method: handler
    modules: [events]
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [events]
"""

RUN = r"""
local events = require("events")
local funcs = require("funcs")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message() }
end
local function drain(sub)
  local got = {}
  while true do
    local r = channel.select({ sub:channel():case_receive(), default = true })
    if r.default then break end
    got[#got + 1] = r.value.system .. "/" .. r.value.kind .. "@" .. r.value.path
  end
  return got
end
local T = {}
function T.match(pattern, kind, sends)
  local sub = assert(events.subscribe(pattern, kind))
  for _, s in ipairs(sends) do assert(events.send(s[1], s[2], "/p")) end
  local got = drain(sub)
  sub:close()
  return got
end
function T.fields()
  local sub = events.subscribe("orders")
  local data = { order_id = "123", total = 99.99, items = { "a", "b" } }
  local ok, err = events.send("orders", "order.created", "/orders/123", data)
  data.total = 0
  local evt = sub:channel():receive()
  events.send("orders", "heartbeat", "/health")
  local bare = sub:channel():receive()
  return { ok = ok, err = err, evt = evt, bare_has_data = bare.data ~= nil,
    same_channel = sub:channel() == sub:channel(), str = tostring(sub) }
end
function T.two_subscribers()
  local a, b = events.subscribe("x"), events.subscribe("x")
  events.send("x", "k", "/p", { n = 1 })
  local ea, eb = a:channel():receive(), b:channel():receive()
  ea.data.n = 2
  return { a = ea.data.n, b = eb.data.n }
end
function T.close()
  local sub = events.subscribe("x")
  events.send("x", "k", "/1")
  local closed = sub:close()
  local again = sub:close()
  events.send("x", "k", "/2")
  local v1, ok1 = sub:channel():receive()
  local v2, ok2 = sub:channel():receive()
  return { closed = closed, again = again, first = v1 and v1.path, ok1 = ok1, v2 = v2, ok2 = ok2 }
end
function T.across_coroutines()
  local sub = events.subscribe("test.*")
  coroutine.spawn(function()
    events.send("test.orders", "order.created", "/orders/1", { amount = 5 })
  end)
  local evt = sub:channel():receive()
  -- an in-process call of another function publishes on the same bus
  funcs.call("app:other")
  local evt2 = sub:channel():receive()
  return { evt.path, evt.data.amount, evt2.path }
end
function T.bad(op, ...)
  local v, err = events[op](...)
  return { value = v, err = E(err) }
end
function T.bad_data()
  local ok, err = events.send("s", "k", "/p", { f = function() end })
  return { value = ok, err = E(err) }
end
function T.flood(n)
  local sub = events.subscribe("f")
  for i = 1, n do events.send("f", "k", "/" .. i) end
  return #drain(sub)
end
function T.later()
  local sub = events.subscribe("x")
  LATER = sub
  return true
end
function T.send_only() return events.send("x", "k", "/from-another-call") end
return { handler = function(op, ...) return T[op](...) end }
"""

OTHER = r"""
local events = require("events")
return { handler = function() return events.send("test.users", "user.created", "/users/9") end }
"""

WF = r"""
local events = require("events")
return function()
  local ok, err = events.send("s", "k", "/p")
  local sub, err2 = events.subscribe("s")
  return { ok = ok == nil, kind = err:kind(), message = err:message(),
    sub = sub == nil, message2 = err2:message() }
end
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    root = write_app(
        tmp_path_factory.mktemp("ev") / "app",
        INDEX,
        {"run.lua": RUN, "other.lua": OTHER, "wf.lua": WF},
    )
    with LocalCloud(root) as c:
        yield c


def run(cloud: LocalCloud, *args: Any) -> Any:
    return cloud.call("app:run", *args)


@pytest.mark.parametrize(
    ("pattern", "kind", "expected"),
    [
        ("orders.*", None, ["orders.eu/created@/p", "orders.us/shipped@/p"]),
        ("orders", None, ["orders/created@/p"]),
        ("orders.**", None, ["orders/created@/p", "orders.eu/created@/p", "orders.us/shipped@/p", "orders.eu.fr/x@/p"]),
        ("orders.*", "created", ["orders.eu/created@/p"]),
        ("orders.(eu|us)", "(created|shipped)", ["orders.eu/created@/p", "orders.us/shipped@/p"]),
        ("*", None, ["orders/created@/p", "users/created@/p"]),
        ("**", "created", ["orders/created@/p", "orders.eu/created@/p", "users/created@/p"]),
    ],
)  # fmt: skip
def test_subscribe_by_system_pattern_and_kind(
    cloud: LocalCloud, pattern: str, kind: Any, expected: list[str]
) -> None:
    sends = [
        ["orders", "created"],
        ["orders.eu", "created"],
        ["orders.us", "shipped"],
        ["orders.eu.fr", "x"],
        ["users", "created"],
    ]
    assert run(cloud, "match", pattern, kind, sends) == expected


def test_wildcard_matches_as_wippy() -> None:
    assert Wildcard("a.**.z").match("a.z") and Wildcard("a.**.z").match("a.b.c.z")
    assert not Wildcard("a.*").match("a") and not Wildcard("*").match("")
    assert Wildcard("a.*.c").match("a.b.c") and not Wildcard("a.*.c").match("a.b.b.c")


def test_event_fields_and_copies(cloud: LocalCloud) -> None:
    out = run(cloud, "fields")
    assert out["ok"] is True and out.get("err") is None
    assert out["evt"] == {
        "system": "orders",
        "kind": "order.created",
        "path": "/orders/123",
        "data": {"order_id": "123", "total": 99.99, "items": ["a", "b"]},
    }
    assert out["bare_has_data"] is False
    assert out["same_channel"] is True and out["str"] == "events.Subscription{}"
    assert run(cloud, "two_subscribers") == {"a": 2, "b": 1}


def test_close_unsubscribes_and_closes_the_channel(cloud: LocalCloud) -> None:
    out = run(cloud, "close")
    assert out["closed"] is True and out["again"] is True
    assert out["first"] == "/1" and out["ok1"] is True  # what arrived before close
    assert out.get("v2") is None and out["ok2"] is False


def test_bus_spans_the_invocation(cloud: LocalCloud) -> None:
    assert run(cloud, "across_coroutines") == ["/orders/1", 5, "/users/9"]


def test_bus_is_per_invocation(cloud: LocalCloud) -> None:
    assert run(cloud, "later") is True
    assert run(cloud, "send_only") is True  # nobody hears it: the subscriber's call has ended


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["subscribe", ""], "system pattern is required"),
        (["subscribe"], "system pattern is required"),
        (["send", "", "k", "/p"], "system is required"),
        (["send", "s", "", "/p"], "kind is required"),
        (["send", "s", "k", ""], "path is required"),
        (["send", "s", "k"], "path is required"),
    ],
)
def test_bad_inputs(cloud: LocalCloud, args: list, message: str) -> None:
    assert run(cloud, "bad", *args) == {"err": {"kind": "Invalid", "message": message}}


def test_data_that_cannot_cross_is_refused(cloud: LocalCloud) -> None:
    out = run(cloud, "bad_data")
    assert out["err"]["kind"] == "Invalid"
    assert out["err"]["message"].startswith("events.send: ") and "data.f" in out["err"]["message"]


def test_a_full_subscription_drops_newer_events_with_one_warning(cloud: LocalCloud) -> None:
    before = len(cloud.logs)
    assert run(cloud, "flood", events_module.PENDING + 5) == events_module.PENDING
    warnings = [line for line in cloud.logs[before:] if "unread events" in line.message]
    assert len(warnings) == 1


def test_workflow_code_is_refused(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:wf")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result == {
        "ok": True,
        "kind": "Invalid",
        "message": events_module.IN_WORKFLOW,
        "sub": True,
        "message2": events_module.IN_WORKFLOW,
    }
