"""Remote functions: their own Lambda, reached by a Lambda invoke (moto, routed in-process)."""

from __future__ import annotations

import pytest

from runtime.errors import NOT_FOUND, TIMEOUT, UnitError
from runtime.testing import LocalCloud

APP = """
version: "1.0"
namespace: app
entries:
  - name: heavy
    kind: function.lua
    source: file://heavy.lua
    modules: [errors, ctx]
    deploy:
      remote: true
      memory: 2048
  - name: caller
    kind: function.lua
    source: file://caller.lua
    modules: [funcs]
"""

HEAVY = """
local errors = require("errors")
local ctx = require("ctx")
return { handler = function(n, opts)
  if n < 0 then return nil, errors.new({ kind = errors.NOT_FOUND, message = "negative" }) end
  return { square = n * n, user = ctx.get("user"), bin = opts and opts.bin }
end }
"""

CALLER = """
local funcs = require("funcs")
return { handler = function(n)
  local v, err = funcs.new():with_context({ user = "ada" }):call("app:heavy", n)
  if err then return { kind = err:kind(), message = err:message() } end
  local f1 = funcs.async("app:heavy", 2)
  local f2 = funcs.async("app:heavy", 3)
  local a, b = f1:response():receive():data(), f2:response():receive():data()
  return { v = v, a = a.square, b = b.square }
end }
"""


@pytest.fixture
def cloud(make_app):
    with LocalCloud(make_app(APP, {"heavy.lua": HEAVY, "caller.lua": CALLER})) as c:
        yield c


def test_remote_function_runs_in_its_own_lambda(cloud):
    functions = cloud.lambda_client.list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == ["units-app-heavy"]
    out = cloud.call("app:caller", 7)
    assert out == {"v": {"square": 49, "user": "ada"}, "a": 4, "b": 9}


def test_remote_error_comes_back_with_its_kind(cloud):
    assert cloud.call("app:caller", -1) == {"kind": NOT_FOUND, "message": "negative"}
    with pytest.raises(UnitError) as exc:
        cloud.call("app:heavy", -1)
    assert exc.value.kind == NOT_FOUND


def test_binary_values_cross_the_lambda_boundary(cloud):
    out = cloud.call("app:heavy", 2, {"bin": b"\x00\xff"})
    assert out == {"square": 4, "bin": b"\x00\xff"}


def test_remote_timeout(make_app):
    slow = 'local time = require("time")\nreturn { handler = function() time.sleep("5s") return 1 end }'
    app = make_app(
        APP.replace("modules: [errors, ctx]", "modules: [time]"),
        {
            "heavy.lua": slow,
            "caller.lua": """
            local funcs = require("funcs")
            return { handler = function(timeout)
              local v, err = funcs.new():with_options({ timeout = timeout }):call("app:heavy")
              return { v = v, kind = err and err:kind() }
            end }
        """,
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:caller", "10s") == {"v": 1}
        assert cloud.call("app:caller", "2s") == {"kind": TIMEOUT}


def test_oversized_arguments_are_refused_before_the_invoke(cloud):
    # 7 MB of arguments cannot ride a Lambda invoke: the caller gets nil, err and goes on.
    big = "x" * (7 * 1024 * 1024)
    out = cloud.call("app:caller", big)
    assert out["kind"] == "Invalid"
    assert "the call of app:heavy is 7340" in out["message"]
    assert "at most 6291456 bytes" in out["message"]
    assert cloud.call("app:caller", 7)["v"]["square"] == 49
