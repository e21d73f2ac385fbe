"""Wippy's core shapes: the ``errors`` global, futures and payloads, ``channel.select`` with a
default, ``coroutine.spawn``, ``process.listen``, executor options, and activity retries as
Wippy's Temporal pages describe them. Each test states what Wippy's pages (``en/lua/core/*``,
``en/lua/data/payload.md``, ``en/temporal/activities.md``) say a Wippy user sees."""

from __future__ import annotations

import pytest

from runtime.errors import INTERNAL, INVALID, NOT_FOUND, TIMEOUT, UnitError
from runtime.testing import LocalCloud
from tests.conftest import functions_app

HELPERS = {
    "echo": (
        'local time = require("time")\n'
        "return function(x, wait) if wait then time.sleep(wait) end return {echo = x} end",
        ["time"],
    ),
    "fail": (
        "return function(kind, how)\n"
        "  if how == 'raise' then error('boom') end\n"
        "  if how == 'raise_object' then error(errors.new({message = 'raised', kind = kind})) end\n"
        "  if how == 'string' then return nil, 'plain text' end\n"
        "  return nil, errors.new({message = 'bad ' .. kind, kind = kind, retryable = kind == errors.UNAVAILABLE, details = {n = 1}})\n"
        "end",
        [],
    ),
}


def call(make_app, source: str, modules: list[str], *args, context=None):
    app = functions_app(make_app, {"f": (source, modules), **HELPERS})
    with LocalCloud(app) as cloud:
        return cloud.call("app:f", *args, context=context)


# -- errors -------------------------------------------------------------------------------------


def test_errors_is_a_global_with_wippys_kinds_and_forms(make_app):
    out = call(
        make_app,
        """
        return function()
          local plain = errors.new("went wrong")
          local full = errors.new({message = "user not found", kind = errors.NOT_FOUND,
                                   retryable = false, details = {user_id = 123, tags = {"a"}}})
          local empty = errors.new({message = "empty details", details = {}})
          return {
            kinds = {errors.UNKNOWN, errors.INVALID, errors.NOT_FOUND, errors.ALREADY_EXISTS,
                     errors.PERMISSION_DENIED, errors.UNAVAILABLE, errors.INTERNAL,
                     errors.CANCELED, errors.CONFLICT, errors.TIMEOUT, errors.RATE_LIMITED},
            plain = {plain:kind(), plain:message(), plain:retryable() == nil, plain:details() == nil},
            full = {full:kind(), full:message(), full:retryable(), full:details().user_id,
                    full:details().tags[1]},
            empty = empty:details() == nil,
            text = {tostring(full), "x: " .. full, full .. "!", plain .. full},
            is = {errors.is(full, errors.NOT_FOUND), errors.is(full, errors.INVALID),
                  errors.is("not an error", errors.NOT_FOUND), errors.is(nil, errors.TIMEOUT)},
            same = require("errors") == errors,
          }
        end
        """,
        [],
    )
    assert out["kinds"][1:] == [
        "Invalid",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "Unavailable",
        "Internal",
        "Canceled",
        "Conflict",
        "Timeout",
        "RateLimited",
    ]
    assert out["plain"] == ["", "went wrong", True, True]
    assert out["full"] == ["NotFound", "user not found", False, 123, "a"]
    assert out["empty"] is True
    assert out["text"] == [
        "user not found",
        "x: user not found",
        "user not found!",
        "went wronguser not found",
    ]
    assert out["is"] == [True, False, False, False]
    assert out["same"] is True


def test_wrap_keeps_the_inner_error_and_the_stack_names_the_frames(make_app):
    out = call(
        make_app,
        """
        local function inner()
          local e = errors.new({message = "inner", kind = errors.INVALID, retryable = true,
                                details = {code = 42}})
          return e
        end
        return function()
          local e = inner()
          local w = errors.wrap(e, "outer context")
          local ww = errors.wrap(w, "again")
          local s = errors.wrap("plain", "ctx")
          local cs = errors.call_stack(e)
          return {
            wrapped = {w:kind(), w:message(), w:retryable(), w:details().code, tostring(w)},
            twice = ww:message(),
            string = {s:message(), s:kind()},
            stack_first = w:stack():match("^[^\\n]+"),
            frames = {cs.frames[1].source, cs.frames[1].line, cs.frames[1].name,
                      cs.frames[2].line, type(cs.thread)},
            not_error = errors.call_stack("x") == nil,
          }
        end
        """,
        [],
    )
    assert out["wrapped"] == ["Invalid", "inner", True, 42, "inner"]
    assert out["twice"] == "outer context: inner"
    assert out["string"] == ["plain", ""]
    assert out["stack_first"] == "outer context"
    assert out["frames"] == ["f.lua", 2, "inner", 7, "string"]
    assert out["not_error"] is True


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("errors.new(5)", "bad argument #1 to new (expected string or table)"),
        ("errors.new()", "bad argument #1 to new (value expected)"),
        (
            "errors.new({kind = errors.INVALID})",
            "bad argument #1 to new (message field is required)",
        ),
        ("errors.new({message = 3})", "bad argument #1 to new (message must be a string)"),
        ("errors.wrap(nil, 'x')", "bad argument #1 to wrap (expected string or error object)"),
        ("errors.wrap('x')", "bad argument #2 to wrap (value expected)"),
    ],
)
def test_errors_refuses_what_wippy_refuses(make_app, expr, message):
    with pytest.raises(UnitError) as err:
        call(make_app, f"return function()\n  local e = {expr}\n  return e\nend", [])
    assert err.value.message == f"f.lua:2: {message}"


def test_what_a_caller_sees_when_the_callee_fails(make_app):
    out = call(
        make_app,
        """
        local funcs = require("funcs")
        local function seen(how, kind)
          local _, err = funcs.call("app:fail", kind or errors.INVALID, how)
          return {err:kind(), err:message(), err:retryable()}
        end
        return function()
          local _, unknown = funcs.call("app:fail", "")
          return {
            returned = seen(nil, errors.INVALID),
            retryable = seen(nil, errors.UNAVAILABLE),
            raised = seen("raise"),
            raised_object = seen("raise_object", errors.CONFLICT),
            string = seen("string"),
            unknown = unknown:kind(),
          }
        end
        """,
        ["funcs"],
    )
    assert out["returned"] == ["Invalid", "bad Invalid", False]
    assert out["retryable"] == ["Unavailable", "bad Unavailable", True]
    # A raise is an Internal error with the callee's line; a returned string is final.
    assert out["raised"] == ["Internal", "fail.lua:2: boom"]
    assert out["raised_object"] == ["Conflict", "raised"]
    assert out["string"] == ["Internal", "plain text", False]
    assert out["unknown"] == ""


def test_an_error_from_a_function_reaches_python_with_kind_retryable_and_details(make_app):
    app = functions_app(make_app, dict(HELPERS))
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as err:
        cloud.call("app:fail", "Unavailable")
    assert (err.value.kind, err.value.message, err.value.retryable) == (
        "Unavailable",
        "bad Unavailable",
        True,
    )
    assert err.value.details == {"n": 1}
    assert err.value.to_dict() == {
        "kind": "Unavailable",
        "message": "bad Unavailable",
        "retryable": True,
        "details": {"n": 1},
    }


# -- futures and payloads -----------------------------------------------------------------------


def test_a_future_delivers_a_payload_once_and_its_methods_never_block(make_app):
    out = call(
        make_app,
        """
        local funcs = require("funcs")
        return function()
          local f, err = funcs.async("app:echo", "hi", "1s")
          local r1, r2 = f:result()
          local e1, e2 = f:error()
          local before = {f:is_complete(), f:is_canceled(), r1 == nil, r2 == nil, e1 == nil, e2}
          local p, ok = f:response():receive()
          local again, ok2 = f:channel():receive()
          local v, verr = f:result()
          local e, has = f:error()
          return {
            err = err == nil, before = before, first = {p:data().echo, ok, p:get_format(), tostring(p)},
            again = {again == nil, ok2}, after = {f:is_complete(), v:data().echo, verr == nil, e == nil, has},
            same_channel = f:channel() == f:response(),
          }
        end
        """,
        ["funcs"],
    )
    assert out["err"] is True
    assert out["before"] == [False, False, True, True, True, False]
    assert out["first"] == ["hi", True, "lua/any", "payload{format=lua/any}"]
    assert out["again"] == [True, False]
    assert out["after"] == [True, "hi", True, True, False]
    assert out["same_channel"] is True


def test_a_failed_future_delivers_the_error_and_a_canceled_one_nothing(make_app):
    out = call(
        make_app,
        """
        local funcs = require("funcs")
        return function()
          local f = funcs.async("app:fail", errors.UNAVAILABLE)
          local e, ok = f:response():receive()
          local _, rerr = f:result()
          local ferr, has = f:error()
          local slow = funcs.async("app:echo", "x", "10s")
          local cancelled, cerr = slow:cancel()
          local _, why = slow:result()
          local after, aok = slow:response():receive()
          local missing, merr = funcs.async("app:nope")
          return {
            delivered = {e:kind(), ok, e:retryable()},
            result = rerr:message(), error = {ferr:message(), has},
            cancel = {cancelled, cerr == nil, slow:is_canceled(), why:kind(), why:retryable()},
            after = {after == nil, aok},
            missing = {missing == nil, merr:kind()},
          }
        end
        """,
        ["funcs"],
    )
    assert out["delivered"] == ["Unavailable", True, True]
    assert out["result"] == "bad Unavailable"
    assert out["error"] == ["bad Unavailable", True]
    assert out["cancel"] == [True, True, True, "Canceled", False]
    assert out["after"] == [True, False]
    assert out["missing"] == [True, NOT_FOUND]


def test_payload_is_a_global_and_transcodes_between_formats(make_app):
    out = call(
        make_app,
        """
        return function()
          local p = payload.new({name = "test", n = 3, list = {1, 2}})
          local j = p:transcode(payload.format.JSON)
          local y = p:transcode(payload.format.YAML)
          local m = p:transcode(payload.format.MSGPACK)
          local s = payload.new("hello"):transcode(payload.format.STRING)
          local _, bad = payload.new({f = function() end}):transcode(payload.format.JSON)
          local _, nostr = payload.new({1}):transcode(payload.format.STRING)
          return {
            formats = {p:get_format(), j:get_format(), y:get_format(), m:get_format(),
                       payload.new(errors.new("x")):get_format()},
            back = {j:data().name, y:data().n, m:data().list[2], s:data(), p:unmarshal().n},
            constants = {payload.format.JSON, payload.format.LUA, payload.format.BYTES},
            bad = {bad:kind(), nostr:kind()},
          }
        end
        """,
        [],
    )
    assert out["formats"] == [
        "lua/any",
        "json/plain",
        "yaml/plain",
        "application/msgpack",
        "golang/error",
    ]
    assert out["back"] == ["test", 3, 2, "hello", 3]
    assert out["constants"] == ["json/plain", "lua/any", "application/octet-stream"]
    assert out["bad"] == [INTERNAL, INTERNAL]


# -- channels and coroutines --------------------------------------------------------------------


def test_select_takes_both_forms_of_default_and_reports_what_it_sent(make_app):
    out = call(
        make_app,
        """
        return function()
          local a, b = channel.new(), channel.new(1)
          local d1 = channel.select{a:case_receive(), default = true}
          local d2 = channel.select({a:case_receive()}, true)
          local sent = channel.select{b:case_send("v"), default = true}
          local got = channel.select{a:case_receive(), b:case_receive(), default = true}
          b:close(); b:close()  -- closing twice is a no-op, as in Wippy
          local closed = channel.select{b:case_receive()}
          return {
            d1 = {d1.default, d1.ok, d1.channel == nil}, d2 = {d2.default, d2.ok},
            sent = {sent.channel == b, sent.value, sent.ok, sent.default == nil},
            got = {got.channel == b, got.value, got.ok},
            closed = {closed.value == nil, closed.ok},
          }
        end
        """,
        [],
    )
    assert out == {
        "d1": [True, True, True],
        "d2": [True, True],
        "sent": [True, "v", True, True],
        "got": [True, "v", True],
        "closed": [True, False],
    }


def test_coroutine_spawn_runs_first_shares_the_call_and_ends_with_it(make_app):
    out = call(
        make_app,
        """
        local time = require("time")
        return function()
          local order = {}
          local ch = channel.new(10)
          local th = coroutine.spawn(function()
            order[#order + 1] = "spawned"
            ch:send(1)
            time.sleep("1s")
            ch:send(3)
          end)
          order[#order + 1] = "spawner"
          ch:send(2)
          local got = {(ch:receive()), (ch:receive()), (ch:receive())}
          coroutine.spawn(function() while true do time.sleep("1s") end end)  -- never ends
          local ok, why = pcall(coroutine.resume, th)
          return {order = order, got = got, thread = type(th), resume = {ok, why:match("runs on its own") ~= nil}}
        end
        """,
        ["time"],
    )
    assert out == {
        "order": ["spawned", "spawner"],
        "got": [1, 2, 3],
        "thread": "thread",
        "resume": [False, True],
    }


def test_an_error_in_a_spawned_coroutine_fails_the_whole_call(make_app):
    with pytest.raises(UnitError) as err:
        call(
            make_app,
            """
            local time = require("time")
            return function()
              coroutine.spawn(function() time.sleep("1s") error("spawned failed") end)
              time.sleep("1h")
              return "never"
            end
            """,
            ["time"],
        )
    assert err.value.kind == INTERNAL and err.value.message == "f.lua:3: spawned failed"


def test_coroutine_spawn_refuses_what_is_not_a_function(make_app):
    with pytest.raises(UnitError) as err:
        call(make_app, "return function()\n  coroutine.spawn(42)\nend", [])
    assert err.value.message == "f.lua:2: bad argument #1 to spawn (function expected, got number)"


# -- executor options ---------------------------------------------------------------------------


def test_with_options_replaces_and_refuses_unknown_options(make_app):
    out = call(
        make_app,
        """
        local funcs = require("funcs")
        return function()
          local quick = funcs.new():with_options({timeout = 500})
          local _, late = quick:call("app:echo", 1, "2s")
          -- A second with_options replaces the first (as in Wippy): no timeout any more.
          local v = quick:with_options({["activity.retry_policy"] = {maximum_attempts = 1}}):call("app:echo", 2, "2s")
          local ok, why = pcall(funcs.new().with_options, funcs.new(), {["activity.retries"] = 3})
          -- Other names are the scheduler's business, as in Wippy: accepted.
          local custom = funcs.new():with_options({priority = "high"}):call("app:echo", 3)
          return {late = late:kind(), v = v.echo, refused = {ok, why}, custom = custom.echo}
        end
        """,
        ["funcs"],
    )
    assert out["late"] == TIMEOUT and out["v"] == 2
    assert out["refused"][0] is False
    assert "unknown activity option 'activity.retries'" in out["refused"][1]
    assert out["custom"] == 3


# -- activity retries ---------------------------------------------------------------------------

RETRY_APP = """
version: "1.0"
namespace: app
entries:
  - name: wf
    kind: workflow.host
  - name: flow
    kind: workflow.lua
    source: file://flow.lua
    modules: [funcs]
  - name: flaky
    kind: function.lua
    source: file://flaky.lua
"""

FLAKY = """
local calls = 0
return { handler = function(kind, retryable, ok_from)
  calls = calls + 1
  if ok_from and calls >= ok_from then return {calls = calls} end
  if kind == "raise" then error("crashed at " .. calls) end
  return nil, errors.new({message = "attempt " .. calls, kind = kind, retryable = retryable})
end }
"""

FLOW = """
local funcs = require("funcs")
return { main = function(input)
  local exec = funcs.new():with_options({["%s"] = input.policy})
  local v, err = exec:call("app:flaky", input.kind, input.retryable, input.ok_from)
  if err then
    local d = err:details()
    return {kind = err:kind(), message = err:message(), retryable = err:retryable(),
            attempts = d and d._attempts, state = d and d._retry_state}
  end
  return {calls = v.calls}
end }
"""


def run_flow(make_app, input_, key="activity.retry_policy"):
    app = make_app(RETRY_APP, {"flow.lua": FLOW % key, "flaky.lua": FLAKY})
    with LocalCloud(app) as cloud:
        run_id = cloud.start_workflow("app:flow", input_)
        for _ in range(20):
            cloud.run_workflows()
            if cloud.result(run_id).status != "running":
                break
            cloud.advance_time(3600)
        return cloud.result(run_id).result


def test_a_retry_policy_in_wippys_options_retries_until_the_call_succeeds(make_app):
    policy = {"initial_interval": 1000, "backoff_coefficient": 2, "maximum_attempts": 5}
    assert run_flow(make_app, {"policy": policy, "kind": "Unavailable", "ok_from": 3}) == {
        "calls": 3
    }
    # The legacy temporal.activity.* spelling means the same.
    assert run_flow(
        make_app,
        {"policy": policy, "kind": "Unavailable", "ok_from": 2},
        "temporal.activity.retry_policy",
    ) == {"calls": 2}


def test_an_error_that_says_it_is_not_retryable_is_not_retried(make_app):
    out = run_flow(
        make_app, {"policy": {"maximum_attempts": 5}, "kind": "Invalid", "retryable": False}
    )
    assert out == {
        "kind": "Invalid",
        "message": "attempt 1",
        "retryable": False,
        "attempts": 1,
        "state": "NonRetryableFailure",
    }


def test_non_retryable_error_types_stop_retries_and_maximum_attempts_ends_them(make_app):
    listed = {"maximum_attempts": 5, "non_retryable_error_types": ["Conflict"]}
    out = run_flow(make_app, {"policy": listed, "kind": "Conflict"})
    assert (out["kind"], out["attempts"], out["state"]) == ("Conflict", 1, "NonRetryableFailure")
    out = run_flow(
        make_app,
        {"policy": {"maximum_attempts": 3, "initial_interval": "1s"}, "kind": "Unavailable"},
    )
    assert (out["message"], out["attempts"], out["state"]) == (
        "attempt 3",
        3,
        "MaximumAttemptsReached",
    )


def test_a_raised_error_is_an_internal_failure_and_retried(make_app):
    out = run_flow(make_app, {"policy": {"maximum_attempts": 2}, "kind": "raise"})
    assert out["kind"] == INTERNAL and out["message"] == "flaky.lua:5: crashed at 2"
    assert out["attempts"] == 2


def test_a_bad_retry_policy_is_a_clear_error_for_the_call(make_app):
    out = run_flow(make_app, {"policy": {"maximum_attempts": -1}, "kind": "Unavailable"})
    assert out["kind"] == INVALID
    assert (
        out["message"]
        == "activity.retry_policy.maximum_attempts: must be 0 (unlimited) or more, got -1"
    )
    out = run_flow(make_app, {"policy": {"max_tries": 2}, "kind": "Unavailable"})
    assert out["kind"] == INVALID and "unknown field 'max_tries'" in out["message"]


# -- the same shapes in a workflow and an actor -------------------------------------------------

SHAPES_APP = """
version: "1.0"
namespace: app
entries:
  - name: wf
    kind: workflow.host
  - name: shapes
    kind: workflow.lua
    source: file://shapes.lua
    modules: [funcs, time]
  - name: double
    kind: function.lua
    source: file://double.lua
  - name: workers
    kind: process.host
  - name: spawner
    kind: process.lua
    source: file://spawner.lua
    modules: [time]
"""

SHAPES = """
local funcs = require("funcs")
local time = require("time")
return { main = function()
  local raw = process.listen("raw")
  local boxed = process.listen("boxed", {message = true})
  local inbox = process.inbox()
  local out = {}
  -- A spawned coroutine is part of the run: its sleep is a durable timer, its order fixed.
  local done = channel.new(1)
  coroutine.spawn(function()
    out[#out + 1] = "spawned"
    time.sleep("1m")
    local f = funcs.async("app:double", 21)
    done:send(f:response():receive():data())
  end)
  out[#out + 1] = "main"
  local r1 = raw:receive()
  local r2 = boxed:receive()
  local r3 = inbox:receive()
  process.unlisten(raw)
  local after = inbox:receive()  -- a "raw" signal once unlistened comes to the inbox
  return {
    order = out, raw = r1, boxed = {r2:topic(), r2:payload():data()},
    other = {r3:topic(), r3:payload():data()}, after = after:topic(), async = done:receive(),
  }
end }
"""

SPAWNER = """
local time = require("time")
local actor = {}
function actor.init() return {seen = {}} end
function actor.handle(state, msg)
  local seen = state.seen
  coroutine.spawn(function() seen[#seen + 1] = "spawned " .. msg:topic() end)
  seen[#seen + 1] = "handled " .. msg:topic()
  if msg:topic() == "crash" then
    coroutine.spawn(function() error("a spawned coroutine failed") end)
    time.sleep("1s")
  end
  return state
end
return actor
"""


def test_listen_spawn_and_futures_keep_their_shapes_in_a_workflow(make_app):
    app = make_app(
        SHAPES_APP,
        {
            "shapes.lua": SHAPES,
            "double.lua": "return { handler = function(n) return n * 2 end }",
            "spawner.lua": SPAWNER,
        },
    )
    with LocalCloud(app) as cloud:
        run_id = cloud.start_workflow("app:shapes", None)
        cloud.run_workflows()
        cloud.signal(run_id, "raw", {"k": 1})
        cloud.signal(run_id, "boxed", "b")
        cloud.signal(run_id, "other", 3)
        cloud.run_workflows()
        # Sent once the code has unlistened (one sent with the others would already be in the
        # listening channel's buffer when the code unlistens: the step delivers what it holds
        # before the code runs on, and unlisten keeps what a channel holds, as in Wippy).
        cloud.signal(run_id, "raw", "late")
        cloud.run_workflows()
        cloud.advance_time(120)
        cloud.run_workflows()
        result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result == {
        "order": ["spawned", "main"],
        "raw": {"k": 1},
        "boxed": ["boxed", "b"],
        "other": ["other", 3],
        "after": "raw",
        "async": 42,
    }


def test_a_spawned_coroutine_in_an_actor_runs_in_its_turn_and_its_failure_crashes_the_actor(
    make_app,
):
    app = make_app(
        SHAPES_APP,
        {
            "shapes.lua": SHAPES,
            "double.lua": "return { handler = function(n) return n * 2 end }",
            "spawner.lua": SPAWNER,
        },
    )
    with LocalCloud(app) as cloud:
        pid = cloud.spawn("app:spawner", "app:workers")
        cloud.send(pid, "a")
        cloud.drain()
        assert cloud.state(pid)["seen"] == ["spawned a", "handled a"]
        cloud.send(pid, "crash")
        cloud.drain()
        status = cloud.status(pid)
    assert status.status == "crashed"
    assert (
        status.error["kind"] == INTERNAL and "a spawned coroutine failed" in status.error["message"]
    )
