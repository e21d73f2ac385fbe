"""The sandbox: no way out to Python, the OS or the filesystem; runaway code stops cleanly and
the engine keeps serving afterwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from runtime.engine import Limits
from runtime.errors import INTERNAL, TIMEOUT, UnitError
from runtime.testing import LocalCloud
from tests.conftest import ROOT, functions_app

PROBE = """
return { handler = function(what)
  local probes = {
    io = function() return io end,
    os_execute = function() return os.execute end,
    os_getenv = function() return os.getenv end,
    debug = function() return debug end,
    dump = function() return string.dump end,
    python = function() return python end,
    package = function() return package end,
    dofile = function() return dofile end,
    loadfile = function() return loadfile end,
    require_os = function() return require("os") end,
    require_file = function() return require("/etc/passwd") end,
    load_binary = function() return load("\\27Lua", "x", "b") end,
    load_binary_text_mode = function() return load("\\27LuaT\\0", "x") end,
    string_mt = function() return getmetatable("") end,
    gc_tuning = function() return collectgarbage("incremental") end,
  }
  return probes[what]()
end }
"""

OK_FN = "return { handler = function(a, b) return a + b end }"


@pytest.fixture
def cloud(make_app):
    app = functions_app(make_app, {"probe": (PROBE, []), "ok": (OK_FN, [])})
    with LocalCloud(app, limits=Limits(instructions=2_000_000, memory_bytes=16 * 1024 * 1024)) as c:
        yield c


@pytest.mark.parametrize(
    "what",
    ["io", "os_execute", "os_getenv", "debug", "dump", "python", "package", "dofile", "loadfile"],
)
def test_dangerous_globals_are_absent(cloud, what):
    assert cloud.call("app:probe", what) is None


def test_string_metatable_is_hidden(cloud):
    assert cloud.call("app:probe", "string_mt") is False


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("require_os", "no module or import named 'os'"),
        ("require_file", "no module or import named '/etc/passwd'"),
        ("gc_tuning", "collectgarbage: option 'incremental' is not available"),
    ],
)
def test_refused_calls_raise_clear_errors(cloud, what, message):
    with pytest.raises(UnitError) as exc:
        cloud.call("app:probe", what)
    assert message in exc.value.message
    assert cloud.call("app:ok", 1, 2) == 3


def test_load_refuses_bytecode(cloud):
    # load returns nil, message; the handler returns that as nil, err
    with pytest.raises(UnitError) as exc:
        cloud.call("app:probe", "load_binary")
    assert "only text chunks" in exc.value.message
    with pytest.raises(UnitError) as exc:
        cloud.call("app:probe", "load_binary_text_mode")
    assert "binary chunks are not allowed" in exc.value.message


RUNAWAY = """
return { handler = function(kind)
  if kind == "loop" then while true do end end
  if kind == "pcall_loop" then
    while true do pcall(function() while true do end end) end
  end
  if kind == "coroutines" then
    -- Each coroutine would get a fresh budget if budgets were per coroutine.
    while true do
      local co = coroutine.create(function() for _ = 1, 1e6 do end end)
      coroutine.resume(co)
    end
  end
  if kind == "rep" then return #string.rep("x", 1 << 30) end
  if kind == "tables" then
    local t = {}
    for i = 1, 1e9 do t[i] = { i, i, i, i } end
  end
  if kind == "pcall_memory" then
    local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = tostring(i) .. "xxxxxxxx" end end)
    return "swallowed"
  end
  if kind == "recursion" then
    local function f(n) return 1 + f(n + 1) end
    return f(1)
  end
end }
"""


@pytest.fixture
def runaway(make_app):
    app = functions_app(make_app, {"run": (RUNAWAY, []), "ok": (OK_FN, [])})
    with LocalCloud(app, limits=Limits(instructions=5_000_000, memory_bytes=8 * 1024 * 1024)) as c:
        yield c


@pytest.mark.parametrize("kind", ["loop", "pcall_loop", "coroutines"])
def test_instruction_budget_stops_runaway_code(runaway, kind):
    with pytest.raises(UnitError) as exc:
        runaway.call("app:run", kind)
    assert exc.value.kind == TIMEOUT
    assert "instruction budget exceeded (5000000 instructions)" in exc.value.message
    assert runaway.call("app:ok", 40, 2) == 42


@pytest.mark.parametrize("kind", ["rep", "tables", "pcall_memory"])
def test_memory_ceiling_stops_memory_bombs(runaway, kind):
    with pytest.raises(UnitError) as exc:
        runaway.call("app:run", kind)
    assert exc.value.kind == INTERNAL
    assert "not enough memory" in exc.value.message or "memory limit" in exc.value.message
    assert runaway.call("app:ok", 40, 2) == 42


def test_memory_ceiling_is_per_call_not_per_state(make_app):
    # A warm Lambda keeps what a module holds between calls; the ceiling is headroom on top.
    keep = """
    local kept = {}
    return { handler = function(mb)
      kept[#kept + 1] = string.rep("k", mb * 1024 * 1024)
      return #kept
    end }
    """
    app = functions_app(make_app, {"keep": (keep, [])})
    with LocalCloud(app, limits=Limits(memory_bytes=8 * 1024 * 1024)) as cloud:
        assert [cloud.call("app:keep", 3) for _ in range(4)] == [1, 2, 3, 4]
        with pytest.raises(UnitError) as exc:
            cloud.call("app:keep", 9)
        assert "memory limit exceeded" in exc.value.message
        assert cloud.call("app:keep", 1) == 5


def test_deep_recursion_is_a_clean_error(make_app):
    # Under the default ceiling Lua's own stack limit is reached before the memory ceiling.
    app = functions_app(make_app, {"run": (RUNAWAY, []), "ok": (OK_FN, [])})
    with LocalCloud(app) as cloud:
        with pytest.raises(UnitError) as exc:
            cloud.call("app:run", "recursion")
        assert exc.value.kind == INTERNAL
        assert "stack overflow" in exc.value.message
        assert cloud.call("app:ok", 1, 1) == 2


def test_python_objects_are_inert(make_app):
    # Even if a Python object reached Lua, attribute access is refused.
    from runtime.sandbox import LuaState

    state = LuaState()
    probe = state.lua.eval("function(o) return pcall(function() return o.__class__ end) end")
    ok, err = probe(object())
    assert ok is False
    assert "not allowed" in str(err)


def test_interpreter_exit_after_many_http_calls_is_clean():
    # lupa 2.8 could segfault in the shutdown GC once Lua held many Python callbacks (see
    # runtime.sandbox._keep_states_open_through_shutdown); the CLI exits this way every time.
    script = textwrap.dedent(
        """
        from runtime import manifest
        from runtime.apigw_events import http_event
        from runtime.engine import Engine
        from runtime.http_api import HttpApi

        api = HttpApi(Engine(manifest.load_app("examples/hello"), log_sink=lambda *a: None))
        event = http_event("GET", "/hello/ada")
        for _ in range(1000):
            assert api.resolve(event, None)["statusCode"] == 200
        print("served")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "served"), done.stderr[-2000:]
