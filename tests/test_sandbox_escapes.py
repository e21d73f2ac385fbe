"""Known ways out of a Lua sandbox, each tried as a function, as an actor's handler and as a
workflow: every one fails cleanly for that unit (the call returns an error, the process crashes
with ``result.error``, the run fails or parks) and the same worker serves a normal call next.

One app holds all three unit kinds; the techniques live in one library (``escapes.lua``), so
each is the same Lua in every kind of unit. Actors and workflows are tried all at once per
module (one drain, one ``run_workflows``): a technique that hung or killed the worker would stop
every other one, and each crashing actor shares its batches with the others and a counter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from runtime.engine import Limits
from runtime.errors import INTERNAL, TIMEOUT, UnitError
from runtime.testing import LocalCloud
from tests.conftest import write_app

BUDGET = 2_000_000
BUDGET_HIT = "instruction budget exceeded"
CPU_SECONDS = 1.0
CPU_HIT = f"CPU time limit exceeded ({CPU_SECONDS:g} s)"
NO_MEMORY = "not enough memory"


@dataclass(frozen=True)
class Technique:
    name: str
    #: The body of a Lua function (``function(arg) ... end``), run in a unit of each kind.
    lua: str
    #: Any of these in the unit's error message proves the clean failure.
    expect: tuple[str, ...]
    #: The error kind a function call reports (None: any).
    kind: str | None = INTERNAL
    #: Unit kinds it makes sense in.
    units: tuple[str, ...] = ("function", "actor", "workflow")


ALL = ("function", "actor", "workflow")
NOT_WORKFLOW = ("function", "actor")

TECHNIQUES = [
    # -- the string metatable ---------------------------------------------------------------
    Technique(
        "string_mt_index",
        'getmetatable("").__index = { len = function() return "pwned" end }',
        ("attempt to index a boolean value",),
    ),
    Technique(
        "string_mt_rawset",
        'rawset(getmetatable(""), "__index", {})',
        ("table expected, got boolean",),
    ),
    Technique("string_setmetatable", 'setmetatable("", {})', ("table expected, got string",)),
    Technique(
        "string_method_dump",
        'local dump = ("").dump; return #dump(function() return 1 end)',
        ("attempt to call a nil value (local 'dump')",),
    ),
    Technique(
        "string_method_shared",
        # Methods on strings are the sandbox's copies: changing them changes nothing shared.
        "local saved = string.rep; string.rep = nil\n"
        '  local ok = pcall(function() return ("x"):rep(2) end)\n'
        "  string.rep = saved\n"
        '  error(ok and "string methods kept" or "string methods lost")',
        ("string methods kept",),
    ),
    # -- load ------------------------------------------------------------------------------
    Technique(
        "load_env_reaches_G",
        'return load("return debug.getregistry()", "x", "t", setmetatable({}, { __index = _G }))()',
        ("attempt to index a nil value (global 'debug')",),
    ),
    Technique(
        "load_env_upvalue",
        "return load(\"local e = _ENV; return e.python.eval('1')\")()",
        ("attempt to index a nil value (field 'python')",),
    ),
    Technique(
        "load_bytecode_mode_b",
        'return assert(load("\\27LuaT\\0\\25\\147\\r\\n\\26\\n", "x", "b"))()',
        ("only text chunks are allowed",),
    ),
    Technique(
        "load_bytecode_text_mode",
        'return assert(load("\\27LuaT\\0\\25\\147\\r\\n\\26\\n"))()',
        ("binary chunks are not allowed",),
    ),
    Technique(
        "load_reader_chunks",
        'local parts, i = { "\\27Lua", "T\\0" }, 0\n'
        "  return assert(load(function() i = i + 1; return parts[i] end))()",
        ("only text chunks are allowed",),
    ),
    Technique(
        "load_env_not_a_table",
        'return assert(load("return 1", "x", "t", "not a table"))()',
        ("env must be a table",),
    ),
    # -- _G and _ENV -----------------------------------------------------------------------
    Technique(
        "setmetatable_G",
        'setmetatable(_G, { __index = function(_, k) return rawget(_G, "_" .. k) end })\n'
        "  return debug.getregistry()",
        ("attempt to index a nil value (global 'debug')",),
    ),
    Technique(
        "env_swap",
        "local _ENV = setmetatable({}, { __index = _G }); return io.popen('id'):read('a')",
        ("attempt to index a nil value (global 'io')",),
    ),
    # -- coroutines against the budget -----------------------------------------------------
    Technique(
        "coroutines_each_loop",
        "while true do\n"
        "    local co = coroutine.wrap(function() for _ = 1, 1e5 do end end); co()\n"
        "  end",
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "coroutine_close_loop",
        "while true do\n"
        "    local co = coroutine.create(function() while true do coroutine.yield() end end)\n"
        "    coroutine.resume(co); coroutine.close(co)\n"
        "  end",
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "yield_across_pcall",
        "local co = coroutine.wrap(function() while true do pcall(coroutine.yield) end end)\n"
        "  while true do co() end",
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "pcall_swallows_budget",
        "while true do pcall(function() while true do end end) end",
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "top_level_yield",
        'coroutine.yield("sched", "call")',
        ("coroutine.yield called outside", "attempt to yield"),
        None,
    ),
    # -- collectgarbage --------------------------------------------------------------------
    Technique("gc_stop", 'collectgarbage("stop")', ("option 'stop' is not available",)),
    Technique(
        "gc_setpause", 'collectgarbage("setpause", 1000)', ("option 'setpause' is not available",)
    ),
    Technique(
        "gc_step_flood", 'while true do collectgarbage("step", 1e9) end', (BUDGET_HIT,), TIMEOUT
    ),
    Technique("gc_collect_flood", "while true do collectgarbage() end", (BUDGET_HIT,), TIMEOUT),
    Technique(
        "gc_count_flood", 'while true do collectgarbage("count") end', (BUDGET_HIT,), TIMEOUT
    ),
    Technique(
        "gc_finalizer",
        "setmetatable({}, { __gc = function() while true do end end }); collectgarbage()",
        ("__gc metamethods are not available",),
    ),
    # -- memory bombs ----------------------------------------------------------------------
    Technique("rep_bomb", 'return #string.rep("x", 1 << 30)', (NO_MEMORY, "memory limit")),
    Technique(
        "rep_sep_bomb", 'return #("x"):rep(1e9, "yy")', ("too large", NO_MEMORY, "memory limit")
    ),
    Technique(
        "concat_bomb",
        'local t = {}\n  for i = 1, 64 do t[i] = string.rep("x", 1 << 16) end\n'
        "  local s = table.concat(t)\n"
        "  for _ = 1, 30 do s = table.concat({ s, s }) end\n  return #s",
        (NO_MEMORY, "memory limit"),
    ),
    Technique("format_width", 'return string.format("%099999999d", 1)', ("invalid conversion",)),
    # -- recursion: the Lua stack and the C stack ------------------------------------------
    Technique(
        "lua_recursion",
        "local function f(n) return 1 + f(n + 1) end; return f(1)",
        ("stack overflow", NO_MEMORY),
    ),
    Technique(
        "gsub_callback_recursion",
        'local function f(s) return (string.gsub(s, ".", f)) end; return f("ab")',
        ("stack overflow",),
    ),
    Technique(
        "index_metamethod_recursion",
        "local t = setmetatable({}, {}); getmetatable(t).__index = function(t, k) return t[k] end\n"
        "  return t.x",
        ("stack overflow",),
    ),
    Technique(
        "tostring_loop",
        "local t; t = setmetatable({}, { __tostring = function(s) return tostring(s) end })\n"
        "  return tostring(t)",
        ("stack overflow",),
    ),
    # -- C functions that run long in one instruction ------------------------------------
    Technique(
        "pattern_find_backtracking",
        'local s = string.rep("a", 5000) .. "b"\n'
        '  return string.find(s, string.rep("a*", 20) .. "c")',
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "pattern_match_method",
        'local s = string.rep("a", 3000); return s:match(".-.-.-.-.-b")',
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique(
        "pattern_gsub_backtracking",
        'local s = string.rep("ab", 2000); return (s:gsub("(a*b*)*c", "x"))',
        (BUDGET_HIT, "pattern too complex"),
        None,
    ),
    Technique(
        "pattern_gmatch_backtracking",
        'local n = 0; for _ in string.rep("a", 4000):gmatch("a*a*a*b") do n = n + 1 end\n'
        "  return n",
        (BUDGET_HIT,),
        TIMEOUT,
    ),
    Technique("table_move_flood", "table.move({}, 1, 1e12, 1); return 1", (BUDGET_HIT,), TIMEOUT),
    Technique(
        # One OP_CONCAT copies 4 MiB: a thousand-instruction hook interval is seconds of work,
        # and the whole loop fits any instruction budget. The CPU-time ceiling stops it.
        "concat_copy_loop",
        'local s = string.rep("x", 4 * 1024 * 1024); local n = 0\n'
        '  for _ = 1, 1e9 do local t = s .. "y"; n = n + #t end\n  return n',
        (CPU_HIT,),
        TIMEOUT,
    ),
    # -- Python through lupa ---------------------------------------------------------------
    Technique("python_global", 'return python.eval("1")', ("(global 'python')",)),
    Technique(
        "python_builtins",
        'return python.builtins.open("/etc/passwd")',
        ("(global 'python')",),
    ),
    Technique(
        "python_via_G",
        'return rawget(_G, "python").as_attrgetter',
        ("attempt to index a nil value",),
    ),
    Technique(
        "no_userdata_in_modules",
        # Walk everything the modules hand over, and the values their functions return: only
        # Lua values, never a Python object (userdata) to poke at. `type` says "userdata" of
        # the kit's own objects too, as Wippy's would (errors, channels...): those are tables
        # whose protected metatable is a name; a real userdata has no such name.
        """
  local seen, found = {}, {}
  local function real(tv, v)
    return (tv == "userdata" and type(getmetatable(v)) ~= "string") or tv == "thread"
  end
  local function walk(v, path, depth)
    local tv = type(v)
    if real(tv, v) then found[#found + 1] = path .. ":" .. tv end
    if tv == "userdata" then tv = "table" end
    if tv ~= "table" or seen[v] or depth > 6 then return end
    seen[v] = true
    for k, x in pairs(v) do walk(x, path .. "." .. tostring(k), depth + 1) end
    local mt = getmetatable(v)
    if mt ~= nil then walk(mt, path .. "<mt>", depth + 1) end
  end
  walk(funcs, "funcs", 0); walk(errors, "errors", 0); walk(json, "json", 0)
  walk(channel, "channel", 0); walk(process, "process", 0)
  local _, err = funcs.call("app:no_such_function")
  walk(err, "err", 0)
  walk(errors.new({ kind = errors.INVALID, message = "x" }), "new_error", 0)
  walk(json.decode('{"a": [1, null]}'), "decoded", 0)
  walk(json.null, "null", 0)
  walk(channel.new(1), "channel_object", 0)
  local ok, f = pcall(funcs.async, "app:ok", 1, 2)
  if ok then walk(f, "future", 0); walk(f:response(), "future_channel", 0) end
  if #found > 0 then error("userdata reachable: " .. table.concat(found, ", ")) end
  error("no userdata reachable")""",
        ("no userdata reachable",),
    ),
    Technique(
        "error_object_attributes",
        'local _, err = funcs.call("app:no_such_function"); return err.__class__.__subclasses__()',
        ("attempt to index a nil value (field '__class__')",),
    ),
    Technique(
        "kit_metatable_write",
        'local e = errors.new({ kind = errors.INVALID, message = "x" }); getmetatable(e).__index = function() end',
        ("attempt to index a string value",),
    ),
    Technique(
        "kit_object_close",
        # A kit object as a to-be-closed variable: it has no __close, so Lua refuses it.
        "local ch <close> = channel.new(1); return 1",
        ("non-closable value",),
    ),
    Technique(
        "future_attributes",
        'local f = funcs.async("app:ok", 1, 2); return f.id_.__class__',
        ("attempt to index a number value (field 'id_')",),
    ),
    Technique(
        "channel_attributes",
        "local ch = channel.new(1); return ch.id_.__class__",
        ("attempt to index a number value (field 'id_')",),
    ),
    Technique(
        "module_function_attributes",
        "return process.send.__self__",
        ("attempt to index a function value (field 'send')",),
    ),
    # -- the OS, the filesystem, the debug library -----------------------------------------
    Technique(
        "os_execute", 'return os.execute("id")', ("attempt to call a nil value (field 'execute')",)
    ),
    Technique("io_popen", 'return io.popen("id")', ("(global 'io')",)),
    Technique("require_ffi", 'return require("ffi")', ("no module or import named 'ffi'",)),
    Technique(
        "package_loadlib",
        'return package.loadlib("libc.so.6", "system")',
        ("(global 'package')",),
    ),
    Technique("debug_getregistry", "return debug.getregistry()", ("(global 'debug')",)),
    Technique("debug_sethook", "return debug.sethook()", ("(global 'debug')",)),
    Technique("string_dump", "return string.dump(function() end)", ("(field 'dump')",)),
    # -- error values and pcall ------------------------------------------------------------
    Technique(
        "error_tostring_raises",
        'error(setmetatable({}, { __tostring = function() error("nested") end }))',
        ("__tostring failed",),
    ),
    Technique(
        "error_tostring_loops",
        "error(setmetatable({}, { __tostring = function() while true do end end }))",
        ("ran too long",),
    ),
    Technique(
        "error_fields_forged",
        'local e = errors.new({ kind = errors.INVALID, message = "x" })\n'
        '  rawset(e, "message_", setmetatable({}, { __tostring = function() while true do end end }))\n'
        '  rawset(e, "kind_", setmetatable({}, { __concat = function() while true do end end }))\n'
        "  error(e)",
        ("ran too long",),
        None,
    ),
    Technique(
        "pcall_returns_no_internals",
        """
  local leaked = {}
  local function check(what, ...)
    for i = 1, select("#", ...) do
      local v = (select(i, ...))
      local tv = type(v)
      -- The kit's objects say "userdata" as Wippy's do; their metatable is a name.
      if (tv == "userdata" and type(getmetatable(v)) ~= "string") or tv == "thread" then
        leaked[#leaked + 1] = what .. ":" .. tv
      end
    end
  end
  check("error", pcall(error))
  check("call", pcall(funcs.call, {}))
  check("send", pcall(process.send))
  check("select", pcall(channel.select, {}))
  check("decode", pcall(json.decode, "{"))
  check("encode", pcall(json.encode, function() end))
  check("new", pcall(errors.new))
  check("budget", pcall(string.rep))
  if #leaked > 0 then error("internals: " .. table.concat(leaked, ", ")) end
  error("no kit internals")""",
        ("no kit internals",),
    ),
]

BY_NAME = {t.name: t for t in TECHNIQUES}


def _library() -> str:
    parts = [
        'local funcs = require("funcs")',
        'local errors = require("errors")',
        'local json = require("json")',
        "local T = {}",
    ]
    for t in TECHNIQUES:
        parts.append(f"T[{t.name!r}] = function(arg)\n  {t.lua}\nend")
    parts.append("return T")
    return "\n".join(parts) + "\n"


INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: escapes
    kind: library.lua
    source: file://escapes.lua
    modules: [funcs, errors, json]
  - name: escape
    kind: function.lua
    source: file://escape_fn.lua
    imports: { escapes: app:escapes }
  - name: ok
    kind: function.lua
    source: file://ok.lua
  - name: workers
    kind: process.host
    batch_size: 10
    max_receive_count: 1
  - name: escaper
    kind: process.lua
    source: file://escaper.lua
    imports: { escapes: app:escapes }
  - name: counter
    kind: process.lua
    source: file://counter.lua
  - name: flows
    kind: workflow.host
  - name: escape_wf
    kind: workflow.lua
    source: file://escape_wf.lua
    imports: { escapes: app:escapes }
  - name: plain_wf
    kind: workflow.lua
    source: file://plain_wf.lua
    modules: [funcs]
"""

FILES = {
    "escape_fn.lua": """
        local escapes = require("escapes")
        return { handler = function(name) return escapes[name]() end }
    """,
    "ok.lua": "return { handler = function(a, b) return a + b end }\n",
    "escaper.lua": """
        local escapes = require("escapes")
        local actor = {}
        function actor.init() return { tried = 0 } end
        function actor.handle(state, msg)
          state.tried = state.tried + 1
          escapes[msg:topic()]()
          return state
        end
        return actor
    """,
    "counter.lua": """
        local counter = {}
        function counter.init() return { n = 0 } end
        function counter.handle(state, msg) state.n = state.n + msg:payload():data(); return state end
        return counter
    """,
    "escape_wf.lua": """
        local escapes = require("escapes")
        return { main = function(input) return escapes[input.name]() end }
    """,
    "plain_wf.lua": """
        local funcs = require("funcs")
        return { main = function(input) return funcs.call("app:ok", input.a, input.b) end }
    """,
}


def names(unit: str) -> list[str]:
    return [t.name for t in TECHNIQUES if unit in t.units]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    files = {**FILES, "escapes.lua": _library()}
    app = write_app(tmp_path_factory.mktemp("escapes"), INDEX, files)
    limits = Limits(instructions=BUDGET, memory_bytes=16 * 1024 * 1024, cpu_seconds=CPU_SECONDS)
    with LocalCloud(app, limits=limits) as c:
        yield c


def _assert_clean(message: str, technique: Technique) -> None:
    assert any(fragment in message for fragment in technique.expect), (
        f"{technique.name}: {message!r} shows none of {technique.expect}"
    )


# -- (a) functions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", names("function"))
def test_function_fails_cleanly_and_the_engine_serves_on(cloud, name):
    technique = BY_NAME[name]
    started = time.perf_counter()
    with pytest.raises(UnitError) as exc:
        cloud.call("app:escape", name)
    if technique.kind is not None:
        assert exc.value.kind == technique.kind, exc.value.message
    _assert_clean(exc.value.message, technique)
    assert time.perf_counter() - started < 10
    assert cloud.call("app:ok", 40, 2) == 42


# -- (b) actors --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actor_runs(cloud):
    """Every technique in its own escaper actor on one host, with counters in between, all
    drained at once; returns each technique's process status and the counters' states."""
    pids, counters = {}, []
    for name in names("actor"):
        pids[name] = cloud.spawn("app:escaper", "app:workers")
        counter = cloud.spawn("app:counter", "app:workers")
        counters.append(counter)
        cloud.send(pids[name], name)
        cloud.send(counter, "inc", 1)
    cloud.drain()
    # Afterwards the same host still runs a normal actor.
    late = cloud.spawn("app:counter", "app:workers")
    cloud.send(late, "inc", 5)
    cloud.send(late, "inc", 6)
    cloud.drain()
    return (
        {name: cloud.status(pid) for name, pid in pids.items()},
        [cloud.state(pid) for pid in counters],
        cloud.state(late),
    )


@pytest.mark.parametrize("name", names("actor"))
def test_actor_crashes_cleanly(actor_runs, name):
    statuses, _, _ = actor_runs
    status = statuses[name]
    assert status.status == "crashed", status
    assert status.error and status.error.get("message"), status
    _assert_clean(status.error["message"], BY_NAME[name])


def test_actors_beside_the_escapers_and_after_them_run_normally(actor_runs):
    _, counters, late = actor_runs
    assert counters == [{"n": 1}] * len(counters)
    assert late == {"n": 11}


# -- (c) workflows -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_runs(cloud):
    # One run at a time: a start racing moto's running executions can break moto's DynamoDB
    # ("dictionary changed size during iteration"), a harness limit, not the sandbox's.
    results = {}
    for name in names("workflow"):
        run_id = cloud.start_workflow("app:escape_wf", {"name": name})
        cloud.run_workflows()
        results[name] = cloud.result(run_id)
    plain = cloud.start_workflow("app:plain_wf", {"a": 20, "b": 22})
    cloud.run_workflows()
    return results, cloud.result(plain)


@pytest.mark.parametrize("name", names("workflow"))
def test_workflow_fails_or_parks_cleanly(workflow_runs, name):
    results, _ = workflow_runs
    result = results[name]
    assert result.status in ("failed", "parked"), result
    assert result.error and result.error.get("message"), result
    _assert_clean(result.error["message"], BY_NAME[name])


def test_a_normal_workflow_runs_after_the_escapes(workflow_runs):
    _, plain = workflow_runs
    assert (plain.status, plain.result) == ("completed", 42)
