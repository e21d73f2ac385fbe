"""``ctx``: the call context set by a caller with ``funcs.new():with_context({...})``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local kit = ...
local M = {}
function M.get(key)
  local task = kit.current_task()
  if task == nil then return nil end
  return task.ctx[key]
end
function M.all()
  local task = kit.current_task()
  local out = {}
  if task ~= nil then for k, v in pairs(task.ctx) do out[k] = v end end
  return out
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    return engine.state.lua.execute(_LUA, engine.state.kit, name="=[kit]ctx")
