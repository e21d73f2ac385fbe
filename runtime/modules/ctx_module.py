"""``ctx``: Wippy's request context (``en/lua/core/context.md``): the values a caller set with
``funcs.new():with_context({...})`` (or a process or workflow start's context).

``ctx.get(key)`` is ``value, nil``, or ``nil, err``: INVALID for an empty key, NOT_FOUND for a
key the context does not have, INTERNAL outside any call. ``ctx.all()`` is a table of them all
(empty when there are none). A table value is handed out as a copy, as Wippy hands out a
value converted afresh: changing it changes neither the context nor what the caller holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local kit, null, array_mt = ...
local type, next, rawequal, getmetatable, setmetatable, tostring, error =
  type, next, rawequal, getmetatable, setmetatable, tostring, error

local function new_error(kind, message)
  return kit.new_error(kind, message, nil, false)
end

-- Plain tables (and json.array ones) are copied; other values, and tables with a metatable of
-- their own (an error value, say), are handed out as they are.
local function copy(v, seen)
  if type(v) ~= "table" or rawequal(v, null) then return v end
  local mt = getmetatable(v)
  if mt ~= nil and mt ~= "json.array" then return v end
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, item in next, v do out[k] = copy(item, seen) end
  if mt ~= nil then setmetatable(out, array_mt) end
  return out
end

local M = {}
function M.get(key)
  local task = kit.current_task()
  if task == nil then return nil, new_error("Internal", "no context") end
  if type(key) == "number" then key = tostring(key) end
  if type(key) ~= "string" then error("ctx.get: the key must be a string, got " .. type(key), 2) end
  if key == "" then return nil, new_error("Invalid", "empty key") end
  local value = task.ctx[key]
  if value == nil then return nil, new_error("NotFound", "key not found: " .. key) end
  return copy(value, {}), nil
end
function M.all()
  local task = kit.current_task()
  if task == nil then return nil, new_error("Internal", "no context") end
  local out, seen = {}, {}
  for k, v in next, task.ctx do out[k] = copy(v, seen) end
  return out, nil
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    codec = engine.codec
    return engine.state.lua.execute(
        _LUA, engine.state.kit, codec.null, codec.array_mt, name="=[kit]ctx"
    )
