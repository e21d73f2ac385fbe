"""``store`` (Wippy's ``en/lua/storage/store.md``) on DynamoDB in moto, through real entries:
every method, its shapes and error kinds, TTL, versions and conditional writes, paging, the
one-request cost of ``get`` and ``set``, and the bad inputs (unknown id, wrong kind, missing
key, too large a value, bad keys, a failed write keeping the old value, workflow code)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from runtime.resources import LOCAL_STORE_TABLE
from runtime.testing import REGION, LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: cache
    kind: store.memory
    max_size: 100
    cleanup_interval: "1m"
  - name: other
    kind: store.memory
  - name: deploys
    kind: store.kv.raft
    namespace: deploy
  - name: deploys2
    kind: store.kv.raft
    namespace: deploy
  - name: sessions
    kind: store.kv.crdt
    namespace: sess
  - name: lib
    kind: library.lua
    source: file://lib.lua
  - name: run
    kind: function.lua
    source: file://run.lua
    method: handler
    modules: [store, json]
  - name: flows
    kind: workflow.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    modules: [store, funcs]
"""

RUN = r"""
local store = require("store")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
end
local T = {}

function T.roundtrip(id)
  local s, err = store.get(id or "app:cache")
  if err then return { get_err = E(err) } end
  local ok1, e1 = s:set("user:123", { name = "Alice", tags = { "a", "b" } })
  local v, e2 = s:get("user:123")
  local ok2 = s:set("n", 42)
  local n = s:get("n")
  local has1, has2 = s:has("user:123"), s:has("nope")
  local missing, merr = s:get("nope")
  local d1, d2 = s:delete("user:123"), s:delete("user:123")
  local after, aerr = s:get("user:123")
  return { ok1 = ok1, e1 = E(e1), v = v, e2 = E(e2), ok2 = ok2, n = n, has1 = has1,
           has2 = has2, missing = missing == nil, merr = E(merr), d1 = d1, d2 = d2,
           after = after == nil, aerr = E(aerr), str = tostring(s) }
end

function T.set(id, key, value, ttl)
  local s, err = store.get(id)
  if err then return { err = E(err) } end
  local ok, e = s:set(key, value, ttl)
  return { ok = ok, err = E(e) }
end

function T.get(id, key)
  local s, err = store.get(id)
  if err then return { err = E(err) } end
  local v, e = s:get(key)
  return { value = v, err = E(e) }
end

function T.has(id, key)
  local s = store.get(id)
  local v, e = s:has(key)
  return { value = v, err = E(e) }
end

function T.entry(id, key)
  local s = store.get(id)
  local e, err = s:entry(key)
  return { entry = e, err = E(err) }
end

function T.put(id, key, value, opts)
  local s = store.get(id)
  local e, err = s:put(key, value, opts)
  return { entry = e, err = E(err) }
end

function T.list(id, opts)
  local s = store.get(id)
  local page, err = s:list(opts)
  if err then return { err = E(err) } end
  local keys = {}
  for i, e in ipairs(page.items) do keys[i] = e.key .. "=" .. tostring(e.value) end
  return { keys = keys, cursor = page.cursor, has_more = page.has_more }
end

function T.info(id)
  local s = store.get(id)
  local info, err = s:info()
  return { info = info, err = E(err), memory = store.backend.MEMORY,
           lin = store.consistency.LINEARIZABLE }
end

function T.released()
  local s = store.get("app:cache")
  local r1, r2 = s:release(), s:release()
  local v, err = s:get("x")
  return { r1 = r1, r2 = r2, v = v == nil, err = E(err), str = tostring(s) }
end

function T.big(size)
  local s = store.get("app:cache")
  s:set("big", "old")
  local ok, err = s:set("big", string.rep("x", size))
  local v = s:get("big")
  return { ok = ok, err = E(err), kept = v }
end

function T.bad_value()
  local s = store.get("app:cache")
  s:set("fnv", "old")
  local ok, err = s:set("fnv", { f = print })
  return { ok = ok, err = E(err), kept = s:get("fnv") }
end

function T.raises(what)
  local s = store.get("app:cache")
  local ok, err = pcall(function()
    if what == "key" then return s:get({}) end
    if what == "ttl" then return s:set("k", 1, "soon") end
    if what == "dot" then return s.get("k") end
    return store.get({})
  end)
  return { ok = ok, err = tostring(err) }
end

function T.call_wf_helper()
  local s = store.get("app:cache")
  s:set("from-activity", "yes")
  return s:get("from-activity")
end

function T.parallel()
  -- Two coroutines of one call each wait on DynamoDB; both finish.
  local s = store.get("app:cache")
  local ch = channel.new(2)
  for i = 1, 2 do
    coroutine.spawn(function() ch:send(s:set("p" .. i, i)) end)
  end
  return { ch:receive(), ch:receive(), s:get("p1"), s:get("p2") }
end

return { handler = function(op, ...) return T[op](...) end }
"""

WF = r"""
local store = require("store")
local funcs = require("funcs")
local function main()
  local s, err = store.get("app:cache")
  local via = funcs.call("app:run", "call_wf_helper")
  return { s = s == nil, kind = err and err:kind(), message = err and err:message(),
           via = via }
end
return main
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    root = write_app(
        tmp_path_factory.mktemp("store") / "app",
        INDEX,
        {"run.lua": RUN, "wf.lua": WF, "lib.lua": "return {}"},
    )
    with LocalCloud(root) as c:
        yield c


def run(cloud: LocalCloud, *args: Any) -> Any:
    return cloud.call("app:run", *args)


def test_set_get_has_delete_round_trip(cloud: LocalCloud) -> None:
    r = run(cloud, "roundtrip")
    assert r["ok1"] is True and r.get("e1") is None
    assert r.get("v") == {"name": "Alice", "tags": ["a", "b"]} and r.get("e2") is None
    assert r["ok2"] is True and r["n"] == 42
    assert r["has1"] is True and r["has2"] is False
    assert r["missing"] and r["merr"]["kind"] == "NotFound" and "nope" in r["merr"]["message"]
    assert r["d1"] is True and r["d2"] is False
    assert r["after"] and r["aerr"]["kind"] == "NotFound"
    assert r["str"] == "store.Store{}"


def test_kv_raft_entries_of_one_namespace_share_keys(cloud: LocalCloud) -> None:
    assert run(cloud, "set", "app:deploys", "v1", "blue")["ok"] is True
    assert run(cloud, "get", "app:deploys2", "v1")["value"] == "blue"
    # A memory store's keys are its own.
    assert run(cloud, "get", "app:other", "v1")["err"]["kind"] == "NotFound"


def test_ttl_expires_exactly_and_uses_the_tables_ttl_attribute(cloud: LocalCloud) -> None:
    assert run(cloud, "set", "app:cache", "session:abc", {"user_id": 123}, 300)["ok"] is True
    assert run(cloud, "has", "app:cache", "session:abc")["value"] is True
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=LOCAL_STORE_TABLE, Key={"pk": {"S": "m#app:cache"}, "sk": {"S": "session:abc"}}
    )["Item"]
    assert int(item["ttl"]["N"]) >= int(cloud.clock.now()) + 300
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(
        TableName=LOCAL_STORE_TABLE
    )
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"
    cloud.clock.advance(299)
    assert run(cloud, "get", "app:cache", "session:abc")["value"] == {"user_id": 123}
    cloud.clock.advance(2)
    got = run(cloud, "get", "app:cache", "session:abc")
    assert got.get("value") is None and got["err"]["kind"] == "NotFound"
    assert run(cloud, "has", "app:cache", "session:abc")["value"] is False
    # A set without ttl (or 0) clears an expiry.
    run(cloud, "set", "app:cache", "t2", "a", 10)
    run(cloud, "set", "app:cache", "t2", "b", 0)
    cloud.clock.advance(20)
    assert run(cloud, "get", "app:cache", "t2")["value"] == "b"


def test_entry_versions_and_conditional_put(cloud: LocalCloud) -> None:
    first = run(cloud, "put", "app:cache", "lock:job-1", "owner-a", {"only_if_absent": True})
    assert first.get("err") is None
    assert first["entry"]["key"] == "lock:job-1" and first["entry"]["value"] == "owner-a"
    version = first["entry"]["version"]
    assert isinstance(version, str) and int(version) > 0
    again = run(cloud, "put", "app:cache", "lock:job-1", "owner-b", {"only_if_absent": True})
    assert again.get("entry") is None and again["err"]["kind"] == "AlreadyExists"
    cur = run(cloud, "entry", "app:cache", "lock:job-1")["entry"]
    assert cur == {"key": "lock:job-1", "value": "owner-a", "version": version}
    cas = run(cloud, "put", "app:cache", "lock:job-1", "owner-c", {"if_version": version})
    assert cas.get("err") is None and int(cas["entry"]["version"]) > int(version)
    stale = run(cloud, "put", "app:cache", "lock:job-1", "owner-d", {"if_version": version})
    assert stale["err"]["kind"] == "Conflict" and stale["err"]["retryable"] is True
    gone = run(cloud, "put", "app:cache", "no-such", "x", {"if_version": "1"})
    assert gone["err"]["kind"] == "NotFound"
    both = run(cloud, "put", "app:cache", "k", "x", {"only_if_absent": True, "if_version": "1"})
    assert both["err"] == {
        "kind": "Invalid",
        "message": "only_if_absent and if_version are mutually exclusive",
        "retryable": False,
    }
    assert run(cloud, "put", "app:cache", "k", "x", {"if_version": "abc"})["err"]["kind"] == (
        "Invalid"
    )
    assert run(cloud, "get", "app:cache", "lock:job-1")["value"] == "owner-c"
    # An expired key is absent to only_if_absent.
    run(cloud, "put", "app:cache", "lease", "a", {"ttl": 5})
    cloud.clock.advance(6)
    assert run(cloud, "put", "app:cache", "lease", "b", {"only_if_absent": True}).get("err") is None


def test_crdt_refuses_conditional_writes(cloud: LocalCloud) -> None:
    r = run(cloud, "put", "app:sessions", "s1", "v", {"only_if_absent": True})
    assert r["err"]["kind"] == "Invalid" and "not supported by store.kv.crdt" in r["err"]["message"]
    assert run(cloud, "put", "app:sessions", "s1", "v")["entry"]["value"] == "v"
    assert run(cloud, "get", "app:sessions", "s1")["value"] == "v"


def test_list_pages_in_key_order_with_prefix(cloud: LocalCloud) -> None:
    for key in ("b3", "b1", "a1", "b2", "c1"):
        run(cloud, "set", "app:other", key, key.upper())
    page = run(cloud, "list", "app:other", {"prefix": "b", "limit": 2})
    assert page == {"keys": ["b1=B1", "b2=B2"], "cursor": "b2", "has_more": True}
    page = run(cloud, "list", "app:other", {"prefix": "b", "after": page["cursor"], "limit": 2})
    assert page == {"keys": ["b3=B3"], "cursor": "b3", "has_more": False}
    whole = run(cloud, "list", "app:other")
    assert [k.split("=")[0] for k in whole["keys"]][:5] == ["a1", "b1", "b2", "b3", "c1"]
    run(cloud, "set", "app:other", "b0", "short", 1)
    cloud.clock.advance(2)
    assert run(cloud, "list", "app:other", {"prefix": "b", "limit": 1})["keys"] == ["b1=B1"]
    bad = run(cloud, "list", "app:other", {"limit": -1})
    assert bad["err"]["message"] == "limit must be a non-negative integer"


def test_info_reports_backend_and_capabilities(cloud: LocalCloud) -> None:
    r = run(cloud, "info", "app:cache")
    assert r["info"] == {
        "id": "app:cache",
        "backend": "memory",
        "consistency": "linearizable",
        "durable": True,
        "list": True,
        "versioned": True,
        "conditional_put": True,
        "ttl": True,
    }
    assert r["memory"] == "memory" and r["lin"] == "linearizable"
    crdt = run(cloud, "info", "app:sessions")["info"]
    assert crdt["backend"] == "kv.crdt" and crdt["consistency"] == "eventual"
    assert crdt["conditional_put"] is False


def test_get_and_set_are_one_dynamodb_request_each(cloud: LocalCloud) -> None:
    calls: list[str] = []
    client = cloud.resources.dynamodb

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("before-call.dynamodb", count)
    try:
        run(cloud, "set", "app:cache", "counted", {"a": 1})
        assert calls == ["UpdateItem"]
        calls.clear()
        run(cloud, "get", "app:cache", "counted")
        assert calls == ["GetItem"]
        calls.clear()
        run(cloud, "has", "app:cache", "counted")
        assert calls == ["GetItem"]
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)


def test_coroutines_of_one_call_wait_on_the_store_together(cloud: LocalCloud) -> None:
    assert run(cloud, "parallel") == [True, True, 1, 2]


def test_released_store_refuses(cloud: LocalCloud) -> None:
    r = run(cloud, "released")
    assert r["r1"] is True and r["r2"] is True and r["v"]
    assert r["err"] == {"kind": "Invalid", "message": "store is released", "retryable": False}
    assert r["str"] == "store.Store{released}"


# -- bad input ---------------------------------------------------------------------------------


def test_unknown_store_id(cloud: LocalCloud) -> None:
    r = run(cloud, "roundtrip", "app:nope")
    assert r["get_err"] == {
        "kind": "NotFound",
        "message": "store.get: no store entry 'app:nope'",
        "retryable": False,
    }
    assert run(cloud, "roundtrip", "")["get_err"]["message"] == "resource id is required"


def test_resource_of_the_wrong_kind(cloud: LocalCloud) -> None:
    r = run(cloud, "roundtrip", "app:lib")
    assert r["get_err"]["kind"] == "Invalid"
    assert r["get_err"]["message"] == "store.get: 'app:lib' is a library.lua, not a store"


def test_too_large_a_value_is_refused_and_the_old_value_kept(cloud: LocalCloud) -> None:
    r = run(cloud, "big", 400 * 1024)
    assert r.get("ok") is None and r["err"]["kind"] == "Invalid"
    assert "at most 400 KB" in r["err"]["message"] and "'big'" in r["err"]["message"]
    assert r["kept"] == "old"
    assert run(cloud, "big", 300 * 1024)["ok"] is True


def test_unstorable_value_keeps_the_old_value(cloud: LocalCloud) -> None:
    r = run(cloud, "bad_value")
    assert r.get("ok") is None and r["err"]["kind"] == "Invalid"
    assert "'fnv' cannot be stored" in r["err"]["message"] and "f" in r["err"]["message"]
    assert r["kept"] == "old"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "key is required"),
        ("k" * 1025, "key is 1025 bytes; a store key holds at most 1024"),
        (b"\xff\xfe".decode("latin-1"), None),  # valid text: accepted
    ],
)
def test_invalid_keys(cloud: LocalCloud, key: str, message: str | None) -> None:
    r = run(cloud, "set", "app:cache", key, "v")
    if message is None:
        assert r["ok"] is True
    else:
        assert r["err"] == {"kind": "Invalid", "message": message, "retryable": False}


def test_non_utf8_key_is_refused(cloud: LocalCloud) -> None:
    r = run(cloud, "set", "app:cache", b"\xff\xfe", "v")
    assert r["err"]["kind"] == "Invalid" and "not valid UTF-8" in r["err"]["message"]


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("key", "store:get: key must be a string, got table"),
        ("ttl", "store:set: ttl must be a number of seconds, got string"),
        ("dot", "store:get: call it on a store, with ':'"),
        ("id", "store.get: the store id must be a string, got table"),
    ],
)
def test_misuse_raises_at_the_callers_line(cloud: LocalCloud, what: str, text: str) -> None:
    r = run(cloud, "raises", what)
    assert r["ok"] is False and text in r["err"]


def test_workflow_code_is_refused_and_an_activity_may_use_the_store(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:wf")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result
    out = result.result
    assert out["s"] is True and out["kind"] == "Invalid"
    assert "call a function (an activity)" in out["message"]
    assert out["via"] == "yes"


def test_no_store_table_configured(tmp_path: Path) -> None:
    from runtime import manifest
    from runtime.engine import Engine

    root = write_app(tmp_path / "a", INDEX, {"run.lua": RUN, "wf.lua": WF, "lib.lua": ""})
    engine = Engine(manifest.load_app(root))
    try:
        r = engine.call("app:run", ["roundtrip"])
        assert r["get_err"]["kind"] == "Internal"
        assert "no store table is configured (UNITS_STORE_TABLE)" in r["get_err"]["message"]
    finally:
        engine.close()


def test_store_error_from_dynamodb_is_internal_and_named(cloud: LocalCloud) -> None:
    saved = cloud.resources.store_table
    cloud.resources.store_table = "no-such-table"
    try:
        r = run(cloud, "get", "app:cache", "x")
    finally:
        cloud.resources.store_table = saved
    assert r["err"]["kind"] == "Internal" and "store get: DynamoDB" in r["err"]["message"]
