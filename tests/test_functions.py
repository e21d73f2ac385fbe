"""Functions: calls, the value/err convention, async futures, channels, time, modules."""

from __future__ import annotations

import pytest

from runtime.errors import INTERNAL, INVALID, NOT_FOUND, TIMEOUT, UnitError
from runtime.testing import LocalCloud
from tests.conftest import EXAMPLES, functions_app


def test_example_greets_through_a_library():
    with LocalCloud(EXAMPLES / "hello") as cloud:
        assert cloud.call("app:greet", "ada") == "Hello, Ada!"


def test_nil_err_return_becomes_an_error_with_kind(make_app):
    app = functions_app(
        make_app,
        {
            "f": (
                """
        local errors = require("errors")
        return { handler = function(x)
          if x == "missing" then return nil, errors.new({ kind = errors.NOT_FOUND, message = "no such thing" }) end
          if x == "plain" then return nil, "plain string error" end
          return x
        end }
    """,
                ["errors"],
            )
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:f", {"a": [1, 2.5, True]}) == {"a": [1, 2.5, True]}
        with pytest.raises(UnitError) as missing:
            cloud.call("app:f", "missing")
        assert (missing.value.kind, missing.value.message) == (NOT_FOUND, "no such thing")
        with pytest.raises(UnitError) as plain:
            cloud.call("app:f", "plain")
        assert (plain.value.kind, plain.value.message) == (INTERNAL, "plain string error")


def test_runtime_error_names_file_and_line_and_trims_the_traceback(make_app):
    app = functions_app(
        make_app,
        {
            "f": (
                """
        local function inner(t)
          return t.x.y
        end
        return { handler = function() local v = inner({}); return v end }
    """,
                [],
            )
        },
    )
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert exc.value.kind == INTERNAL
    assert exc.value.message.startswith("f.lua:2: attempt to index a nil value (field 'x')")
    trace = exc.value.details["traceback"]
    assert "f.lua:2: in" in trace and "f.lua:4: in" in trace
    assert "[kit]" not in trace and "[C]" not in trace


def test_syntax_error_names_file_and_line(make_app):
    app = functions_app(make_app, {"f": ("return { handler = function() return 1 +  end }\n", [])})
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert exc.value.kind == INVALID
    assert "f.lua:1:" in exc.value.message and "syntax error" in exc.value.message


def test_funcs_call_between_functions_and_unknown_id(make_app):
    app = functions_app(
        make_app,
        {
            "double": ("return { handler = function(n) return n * 2 end }", []),
            "caller": (
                """
            local funcs = require("funcs")
            return { handler = function(n)
              local v, err = funcs.call("app:double", n)
              local missing, merr = funcs.call("app:nope", n)
              return { v = v, err = tostring(err), missing = missing, kind = merr:kind(), msg = merr:message() }
            end }
        """,
                ["funcs"],
            ),
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:caller", 21)
    assert out["v"] == 42 and out["err"] == "nil"
    assert "missing" not in out
    assert out["kind"] == NOT_FOUND
    assert "app:nope" in out["msg"]


def test_callee_cannot_mutate_the_callers_tables_or_receive_functions(make_app):
    app = functions_app(
        make_app,
        {
            "mutate": ("return { handler = function(t) t.x = 99; return t end }", []),
            "caller": (
                """
            local funcs = require("funcs")
            return { handler = function()
              local t = { x = 1 }
              local back = funcs.call("app:mutate", t)
              local _, err = funcs.call("app:mutate", { cb = function() end })
              return { mine = t.x, theirs = back.x, err = err:message(), kind = err:kind() }
            end }
        """,
                ["funcs"],
            ),
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:caller")
    assert out["mine"] == 1 and out["theirs"] == 99
    assert out["kind"] == INVALID and "args[1].cb" in out["err"]


def test_callee_raising_gives_the_caller_nil_err(make_app):
    app = functions_app(
        make_app,
        {
            "boom": ('return { handler = function() error("kaboom") end }', []),
            "caller": (
                """
            local funcs = require("funcs")
            return { handler = function()
              local v, err = funcs.call("app:boom")
              return { v = v, kind = err:kind(), msg = err:message() }
            end }
        """,
                ["funcs"],
            ),
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:caller")
    assert out == {"kind": INTERNAL, "msg": "boom.lua:1: kaboom"}


def test_async_fan_out_and_select_with_deadline():
    with LocalCloud(EXAMPLES / "hello") as cloud:
        assert cloud.call("app:greet_many", ["ada", "grace", ""]) == [
            "Hello, Ada!",
            "Hello, Grace!",
            "failed: greet: expected a name",
        ]


def test_timeout_option_abandons_a_slow_callee(make_app):
    app = functions_app(
        make_app,
        {
            "slow": (
                'local time = require("time")\nreturn { handler = function() time.sleep("10s"); return "late" end }',
                ["time"],
            ),
            "caller": (
                """
            local funcs = require("funcs")
            local time = require("time")
            return { handler = function()
              local t0 = time.now()
              local v, err = funcs.new():with_options({ timeout = "2s" }):call("app:slow")
              local waited = time.now():sub(t0):seconds()
              local v2, err2 = funcs.new():with_options({ timeout = 20000 }):call("app:slow")
              return { v = v, kind = err:kind(), waited = waited, v2 = v2, err2 = err2 }
            end }
        """,
                ["funcs", "time"],
            ),
        },
    )
    with LocalCloud(app) as cloud:
        start = cloud.clock.now()
        out = cloud.call("app:caller")
        assert cloud.clock.now() - start == pytest.approx(12.0)
    assert out == {"kind": TIMEOUT, "waited": 2.0, "v2": "late"}


def test_context_flows_to_the_callee(make_app):
    app = functions_app(
        make_app,
        {
            "who": (
                'local ctx = require("ctx")\nreturn { handler = function() return ctx.get("user") end }',
                ["ctx"],
            ),
            "caller": (
                """
            local funcs = require("funcs")
            return { handler = function()
              local direct = funcs.call("app:who")
              local with = funcs.new():with_context({ user = "ada" }):call("app:who")
              local async = funcs.new():with_context({ user = "bob" }):async("app:who"):response():receive():data()
              return { direct = direct or "none", with = with, async = async }
            end }
        """,
                ["funcs"],
            ),
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:caller") == {"direct": "none", "with": "ada", "async": "bob"}
        assert cloud.call("app:who", context={"user": "eve"}) == "eve"


def test_channels_between_tasks_and_select_default(make_app):
    app = functions_app(
        make_app,
        {
            "f": (
                """
        local funcs = require("funcs")
        return { handler = function()
          local ch = channel.new()          -- unbuffered
          local done = channel.new(1)
          local got = {}
          coroutine.wrap(function() end)()
          local empty = channel.select({ ch:case_receive() }, true)
          local producer = funcs.async("app:noop")
          local buf = channel.new(2)
          buf:send("a"); buf:send("b"); buf:close()
          for _ = 1, 3 do
            local v, ok = buf:receive()
            got[#got + 1] = ok and v or "closed"
          end
          local r = channel.select({ done:case_send("x") })
          local v = done:receive()
          local noop = producer:response():receive():data()
          return { empty = empty.default, got = got, sent = r.ok, v = v, noop = noop }
        end }
    """,
                ["funcs"],
            ),
            "noop": ("return { handler = function() return 'ok' end }", []),
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:f")
    assert out == {"empty": True, "got": ["a", "b", "closed"], "sent": True, "v": "x", "noop": "ok"}


def test_deadlock_is_a_clear_error(make_app):
    app = functions_app(
        make_app, {"f": ("return { handler = function() return channel.new():receive() end }", [])}
    )
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert "deadlock" in exc.value.message and "select" in exc.value.message


def test_time_sleep_after_and_durations_use_the_harness_clock(make_app):
    app = functions_app(
        make_app,
        {
            "f": (
                """
        local time = require("time")
        return { handler = function()
          local t0 = time.now()
          time.sleep("1h30m")
          local t1 = time.now()
          local tick = time.after(250 * time.MILLISECOND)
          local fired = tick:receive()
          local d = time.parse_duration("1.5s")
          local bad, err = time.parse_duration("soon")
          return {
            slept = t1:sub(t0):seconds(),
            fired_at = fired:sub(t0):milliseconds(),
            iso = time.unix(0, 5000000):format(time.RFC3339NANO),
            d_ms = d:milliseconds(),
            err = err:message(),
            before = t0:before(t1),
          }
        end }
    """,
                ["time"],
            )
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:f")
    assert out["slept"] == 5400.0
    assert out["fired_at"] == 5400250
    assert out["iso"] == "1970-01-01T00:00:00.005Z"
    assert out["d_ms"] == 1500
    assert 'invalid duration "soon"' in out["err"]
    assert out["before"] is True


def test_json_uuid_env_base64_and_logger(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: f
            kind: function.lua
            source: file://f.lua
            modules: [json, uuid, env, base64, logger]
            env:
              GREETING: hi
    """,
        {
            "f.lua": """
        local json = require("json")
        local uuid = require("uuid")
        local env = require("env")
        local base64 = require("base64")
        local logger = require("logger")
        return { handler = function()
          local text = json.encode({ a = 1, list = json.array() })
          local back = json.decode('{"x": [1, null, 3]}')
          local _, bad = json.decode("{nope")
          logger.info("hello", { who = "ada" })
          logger:with({ req = 7 }):warn("careful")
          return {
            text = text, second_is_nil = back.x[2] == nil, bad = bad:message(),
            v4 = #uuid.v4(), v7 = uuid.v7():sub(15, 15), greeting = env.get("GREETING"),
            secret = env.get("AWS_SECRET_ACCESS_KEY") or "hidden",
            b64 = base64.decode(base64.encode("\\0\\255")) == "\\0\\255",
          }
        end }
    """
        },
    )
    with LocalCloud(app) as cloud:
        out = cloud.call("app:f")
        logs = [(line.level, line.message, line.fields) for line in cloud.logs]
    assert out["text"] in ('{"a":1,"list":[]}', '{"list":[],"a":1}')
    assert out["second_is_nil"] is True
    assert out["bad"].startswith("decode failed: ") and "line 1" in out["bad"]
    assert out["v4"] == 36 and out["v7"] == "7"
    assert out["greeting"] == "hi" and out["secret"] == "hidden"
    assert out["b64"] is True
    assert ("info", "hello", {"who": "ada", "entry": "app:f"}) in logs
    assert ("warning", "careful", {"req": 7, "entry": "app:f"}) in logs


def test_env_override_from_deployment(make_app):
    app = functions_app(
        make_app,
        {
            "f": (
                'local env = require("env")\nreturn { handler = function() return env.get("MODE") end }',
                ["env"],
            )
        },
    )
    with LocalCloud(app, environ={"UNITS_ENV_MODE": "prod"}) as cloud:
        assert cloud.call("app:f") == "prod"


def test_require_of_unlisted_module_names_entry_and_module(make_app):
    app = functions_app(
        make_app,
        {"f": ('local time = require("time")\nreturn { handler = function() end }', ["json"])},
    )
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert "entry app:f: module 'time' is not listed in its manifest" in exc.value.message


def test_missing_method_is_reported(make_app):
    app = functions_app(make_app, {"f": ("return { other = function() end }", [])})
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert "does not export a function 'handler'" in exc.value.message


def test_unknown_function_id_from_python():
    with LocalCloud(EXAMPLES / "hello") as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:nope")
    assert exc.value.kind == NOT_FOUND


def test_returning_a_function_is_refused(make_app):
    app = functions_app(
        make_app, {"f": ("return { handler = function() return { cb = print } end }", [])}
    )
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as exc:
        cloud.call("app:f")
    assert exc.value.kind == INVALID and "result.cb" in exc.value.message


def test_an_entrys_manifest_timeout_is_the_default_for_calls_to_it(make_app):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - name: slow
    kind: function.lua
    source: file://slow.lua
    modules: [time]
    timeout: 2s
  - name: caller
    kind: function.lua
    source: file://caller.lua
    modules: [funcs]
""",
        {
            "slow.lua": 'local time = require("time")\nreturn { handler = function(s) time.sleep(s); return "done" end }',
            "caller.lua": """
local funcs = require("funcs")
return { handler = function()
  local v, err = funcs.call("app:slow", "10s")
  local v2 = funcs.call("app:slow", "1s")
  local v3 = funcs.new():with_options({ timeout = "20s" }):call("app:slow", "10s")
  return { v = v, err = err:message(), kind = err:kind(), v2 = v2, v3 = v3 }
end }
""",
        },
    )
    with LocalCloud(app) as cloud:
        start = cloud.clock.now()
        out = cloud.call("app:caller")
        assert cloud.clock.now() - start == pytest.approx(13.0)
    assert out == {
        "err": "app:slow did not answer within 2s",
        "kind": TIMEOUT,
        "v2": "done",
        "v3": "done",
    }
