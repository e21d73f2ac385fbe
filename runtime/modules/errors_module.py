"""``errors`` (a global, as in Wippy; ``require("errors")`` returns the same table):
``errors.new("msg")`` / ``errors.new({message=, kind=, retryable=, details=})``,
``errors.wrap(err, context)``, ``errors.is(err, kind)``, ``errors.call_stack(err)`` and the
kind constants (``errors.NOT_FOUND == "NotFound"``, ``errors.UNKNOWN == ""``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import KIND_NAMES

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local kit, names, values = ...
local type, tostring, rawget, rawset, error, select = type, tostring, rawget, rawset, error, select
local running = coroutine.running
local is_error, new_error, capture = kit.is_error, kit.new_error, kit.capture_stack
local M = {}
for i = 1, #names do M[names[i]] = values[i] end

local function bad(n, fname, why)
  error("bad argument #" .. n .. " to " .. fname .. " (" .. why .. ")", 3)
end

function M.new(...)
  if select("#", ...) == 0 then bad(1, "new", "value expected") end
  local arg = ...
  local ta = type(arg)
  local stack, frames = capture(3)
  if ta == "string" then
    return new_error("", arg, nil, nil, stack, frames)
  end
  if ta ~= "table" then bad(1, "new", "expected string or table") end
  local message = rawget(arg, "message")
  if message == nil then bad(1, "new", "message field is required") end
  if type(message) ~= "string" then bad(1, "new", "message must be a string") end
  local kind, retryable, details = rawget(arg, "kind"), rawget(arg, "retryable"),
    rawget(arg, "details")
  if type(retryable) ~= "boolean" then retryable = nil end
  return new_error(
    type(kind) == "string" and kind or "",
    message,
    type(details) == "table" and details or nil,
    retryable,
    stack,
    frames
  )
end

function M.wrap(...)
  if select("#", ...) == 0 then bad(1, "wrap", "value expected") end
  local parent, context = ...
  local message, kind, retryable, details, inner_stack
  if is_error(parent) then
    local pctx = rawget(parent, "context_")
    message = pctx and (pctx .. ": " .. tostring(rawget(parent, "message_")))
      or rawget(parent, "message_")
    kind, retryable, details = rawget(parent, "kind_"), rawget(parent, "retryable_"),
      rawget(parent, "details_")
    inner_stack = rawget(parent, "stack_")
  elseif type(parent) == "string" then
    message, kind = parent, ""
  else
    bad(1, "wrap", "expected string or error object")
  end
  if context == nil then bad(2, "wrap", "value expected") end
  if is_error(context) then
    context = rawget(context, "message_")
  elseif type(context) ~= "string" then
    bad(2, "wrap", "expected string or error object")
  end
  local stack, frames = capture(2, context)
  if type(inner_stack) == "string" and inner_stack ~= "" then
    stack = stack .. "\\n" .. inner_stack
  end
  local err = new_error(kind, message, details, retryable, stack, frames)
  rawset(err, "context_", context)
  return err
end

function M.is(err, kind)
  return is_error(err) and rawget(err, "kind_") == kind
end

function M.call_stack(err)
  if not is_error(err) then return nil end
  local frames = rawget(err, "frames_")
  if type(frames) ~= "table" or #frames == 0 then return nil end
  local copy = {}
  for i = 1, #frames do
    local f = frames[i]
    copy[i] = { level = f.level, source = f.source, line = f.line, name = f.name, type = f.type }
  end
  return { thread = tostring(running()), frames = copy }
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    """The ``errors`` table; one per Lua state would do, but entries are few."""
    state = engine.state
    names = state.table(*(name.encode() for name in KIND_NAMES))
    values = state.table(*(value.encode() for value in KIND_NAMES.values()))
    return state.lua.execute(_LUA, state.kit, names, values, name="=[kit]errors")
