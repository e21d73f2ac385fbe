"""``workflow``: ``info()``, ``version(change_id, min, max)``, ``exec(id, input)`` (a child run,
waited for), ``start(id, input, options)``, ``execute(id, input, options)`` and
``continue_as_new(input)`` (end this generation of the run's history, start the next with
``input``: same run id, same address, an empty history).

Inside a workflow ``start`` and ``exec``/``execute`` are child runs (recorded; a replay starts
nothing twice). Elsewhere ``start`` starts a run at once and returns its address; ``execute``
is refused there: waiting for a durable run would hold a Lambda (or an actor's turn) open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime import codec as wire_codec
from runtime.errors import INTERNAL, INVALID, UnitError
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_OPTIONS = {"host", "name", "conflict"}

_LUA = """
local host, kit = ...
local await = kit.await
local M = {}
local function check_id(id, what)
  if type(id) ~= "string" then error(what .. ": the workflow id must be a string", 3) end
end
function M.info() return host.info() end
function M.version(change_id, min, max)
  if type(change_id) ~= "string" then error("workflow.version: change_id must be a string", 2) end
  if math.type(min) ~= "integer" or math.type(max) ~= "integer" then
    error("workflow.version: min and max must be integers", 2)
  end
  local v, err = host.version(change_id, min, max)
  if v == nil then error(err, 2) end
  return v
end
function M.exec(id, input, options)
  check_id(id, "workflow.exec")
  if not host.in_workflow() then
    return nil, kit.new_error("INVALID", "workflow.exec waits for the child's result, which only "
      .. "a workflow can do durably; elsewhere use workflow.start and read the result later")
  end
  local where = type(options) == "table" and options.host or nil
  return await("child", id, where, input)
end
M.execute = M.exec
function M.continue_as_new(input)
  if not host.in_workflow() then
    error("workflow.continue_as_new: only a workflow can continue as new", 2)
  end
  local _, err = await("continue", input)
  error(err, 2) -- only a refused input comes back: the run's generation ends otherwise
end
function M.start(id, input, options)
  check_id(id, "workflow.start")
  return host.start(id, input, options)
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def workflow_replay() -> Any:
        """The running workflow's replay; None elsewhere (a loop-style process is replayed
        too, but it is no workflow: no child runs, no continue-as-new, no info)."""
        replay = engine.current_replay()
        return replay if replay is not None and replay.process_context is None else None

    def in_workflow() -> bool:
        return workflow_replay() is not None

    def info() -> Any:
        replay = workflow_replay()
        if replay is None:
            return None, state.new_error(INVALID, "workflow.info: not running in a workflow")
        return codec.to_lua(
            {
                "run_id": replay.run_id,
                "workflow_id": replay.entry_id,
                "pid": f"{replay.context.host}/{replay.run_id}",
                "host": replay.context.host,
                "history_length": len(replay.history),
                "generation": int(replay.history[0].fields.get("generation", 1)),
            }
        )

    def version(change_id: Any, low: int, high: int) -> Any:
        replay = workflow_replay()
        if replay is None:
            return high  # outside a workflow there is no history to stay compatible with
        return replay.version(lua_text(change_id), int(low), int(high))

    def start(workflow_id: Any, input_: Any = None, options: Any = None) -> Any:
        opts = codec.to_python(options, "options") if options is not None else {}
        if not isinstance(opts, dict) or set(opts) - _OPTIONS:
            raise UnitError(INVALID, f"workflow.start options: only {sorted(_OPTIONS)}")
        wid = lua_text(workflow_id)
        value = codec.to_python(input_, "input")
        replay = engine.current_replay()
        if replay is not None and replay.process_context is not None:
            # A loop-style process: the run starts once, its id recorded (a replay reads it
            # back), under an id this point of the process's code always makes.
            context = replay.process_context
            run_id = context.new_id()
            started = context.once("workflow.start", lambda: start_run(wid, value, opts, run_id))
            return str(started).encode()
        if replay is not None:
            if opts.get("name") or opts.get("conflict"):
                raise UnitError(INVALID, "a child workflow takes no name or conflict policy")
            child = replay.child(wid, opts.get("host"), wire_codec.to_json_value(value), None)
            host = opts.get("host") or replay.context.host
            return f"{host}/{child}".encode()
        return start_run(wid, value, opts, None).encode()

    def start_run(wid: str, value: Any, opts: dict[str, Any], run_id: str | None) -> str:
        if engine.workflows is None:
            raise UnitError(
                INTERNAL,
                "workflows are not available here: no workflow host is configured (run under "
                "LocalCloud, units dev, or a deployed stack)",
            )
        run_id = engine.workflows.start(
            wid,
            value,
            host=opts.get("host"),
            name=opts.get("name"),
            conflict=opts.get("conflict", "fail"),
            run_id=run_id,
        )
        host = engine.workflows.describe(run_id)["host"]
        return f"{host}/{run_id}"

    host = state.table(
        info=state.wrap(info),
        version=state.wrap_fallible(version),
        start=state.wrap_fallible(start),
        in_workflow=state.wrap(in_workflow),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]workflow")
