"""``errors``: error values with a kind (``errors.new(kind, msg)``, ``err:kind()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import KINDS

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local kit, kinds = ...
local M = {}
for _, k in ipairs(kinds) do M[k] = k end
local valid = {}
for _, k in ipairs(kinds) do valid[k] = true end
function M.new(kind, message, details)
  if not valid[kind] then
    error("errors.new: unknown kind '" .. tostring(kind) .. "'", 2)
  end
  return kit.new_error(kind, message == nil and kind or tostring(message), details)
end
function M.is(err, kind)
  return kit.is_error(err) and err:kind() == kind
end
function M.wrap(err, message)
  if kit.is_error(err) then return kit.new_error(err:kind(), message .. ": " .. err:message()) end
  return kit.new_error("INTERNAL", message .. ": " .. tostring(err))
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state
    kinds = state.table(*(k.encode() for k in KINDS))
    return state.lua.execute(_LUA, state.kit, kinds, name="=[kit]errors")
