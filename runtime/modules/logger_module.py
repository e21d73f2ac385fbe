"""``logger``: Wippy's structured logger (``en/lua/system/logger.md``).

``logger:info(msg, fields?)`` (and ``debug``, ``warn``, ``error``) writes one line;
``logger:with(fields)`` and ``logger:named(name)`` return child loggers that add fields, or a
dotted name (``logger`` field), to every line. The kit also accepts the dot form
(``logger.info(msg, fields)``), which Wippy refuses.

A message is a string (a number is taken as its text); fields are a table whose string keys
are kept (others are ignored, as in Wippy). Field values are logged as Wippy's logger logs them:
strings, numbers and booleans as they are (NaN and infinities as ``"NaN"``, ``"+Inf"``,
``"-Inf"``), an error value as its message, a table as plain data (an array when it has
elements 1..n, else an object with every key as text), anything else (a function, a coroutine)
as its ``tostring`` text. A child's fields are taken when it is made, as Wippy's are.

Also here: :func:`print_text`, how Wippy's global ``print`` shows a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import CodecError

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_INT64_LIMIT = 2**63

_LUA = """
local emit, enabled, kit, null = ...
local type, rawequal, rawlen, next, tostring, error = type, rawequal, rawlen, next, tostring, error
local huge = math.huge
local is_error, safe_text = kit.is_error, kit.safe_text
local MAX_DEPTH = 32

-- A field value as plain data (see the module's docstring); tables are copied, so a value
-- changed after the call does not change what was logged.
local function plain(v, depth, seen)
  local tv = type(v)
  if tv == "string" or tv == "boolean" then return v end
  if tv == "number" then
    if v ~= v then return "NaN" end
    if v == huge then return "+Inf" end
    if v == -huge then return "-Inf" end
    return v
  end
  if tv ~= "table" or is_error(v) then return safe_text(v) end
  if rawequal(v, null) then return null end
  if seen[v] then return "(cycle)" end
  if depth > MAX_DEPTH then return "(nested too deep)" end
  seen[v] = true
  local out = {}
  local n = rawlen(v)
  if n > 0 then
    for i = 1, n do
      local item = v[i]
      if item == nil then out[i] = null else out[i] = plain(item, depth + 1, seen) end
    end
  else
    for k, item in next, v do
      out[type(k) == "string" and k or safe_text(k)] = plain(item, depth + 1, seen)
    end
  end
  seen[v] = nil
  return out
end

-- base's fields, then the string-keyed fields of t as plain data (a new table).
local function with_fields(base, t)
  local out = {}
  for k, v in next, base do out[k] = v end
  for k, v in next, t do
    if type(k) == "string" then out[k] = plain(v, 1, {}) end
  end
  return out
end

-- A logger: base holds its with() fields (plain data, taken when it was made), name its
-- dotted name or nil. Fields are converted only for a line that is written.
local function make(base, name)
  local L = {}
  local function level(lvl)
    return function(a, b, c)
      -- logger:info(msg, fields) and logger.info(msg, fields) alike.
      if rawequal(a, L) then a, b = b, c end
      if type(a) == "number" then
        a = tostring(a)
      elseif type(a) ~= "string" then
        error("logger:" .. lvl .. ": the message must be a string, got " .. type(a), 2)
      end
      if b ~= nil and type(b) ~= "table" then
        error("logger:" .. lvl .. ": fields must be a table, got " .. type(b), 2)
      end
      if not enabled(lvl) then return end
      emit(lvl, a, b == nil and base or with_fields(base, b), name)
    end
  end
  L.debug, L.info, L.warn, L.error = level("debug"), level("info"), level("warn"), level("error")
  function L.with(a, b)
    if rawequal(a, L) then a = b end
    if type(a) ~= "table" then error("logger:with: fields must be a table, got " .. type(a), 2) end
    return make(with_fields(base, a), name)
  end
  function L.named(a, b)
    if rawequal(a, L) then a = b end
    if type(a) == "number" then a = tostring(a) end
    if type(a) ~= "string" then
      error("logger:named: the name must be a string, got " .. type(a), 2)
    end
    if a == "" then error(kit.new_error("Invalid", "logger:named: name cannot be empty"), 2) end
    return make(base, name and (name .. "." .. a) or a)
  end
  return L
end
return make({}, nil)
"""

# Wippy's levels by the names the kit's log sinks take.
_LEVELS = {b"debug": "debug", b"info": "info", b"warn": "warning", b"error": "error"}


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < _INT64_LIMIT:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def print_text(value: Any) -> str:
    """How Wippy's ``print`` shows one argument: a string as it is, a number as its text
    (an integral float without ``.0``), any other value (nil, a boolean, a table) as ``""``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    return ""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec
    entry_id = unit.entry.id

    def enabled(level: bytes) -> bool:
        return engine.log_enabled(_LEVELS[level])

    def emit(level: bytes, message: bytes, table: Any, name: bytes | None) -> None:
        # The fields were made plain data in Lua before the call: fetching a table from a Lua
        # function called from here (an earlier version did) crashed the process under lupa
        # 2.8 within a thousand calls (tests/test_sandbox.py's HTTP loop).
        try:
            value = codec.to_python(table, "fields")
        except CodecError as exc:  # plain() leaves nothing the codec refuses; be safe anyway
            value = {"unloggable": exc.message}
        fields = value if isinstance(value, dict) else {}
        if name is not None:
            fields["logger"] = name.decode("utf-8", "replace")
        fields["entry"] = entry_id
        engine.emit_log(_LEVELS[level], message.decode("utf-8", "replace"), fields)

    return state.lua.execute(
        _LUA, state.wrap(emit), state.wrap(enabled), state.kit, codec.null, name="=[kit]logger"
    )
