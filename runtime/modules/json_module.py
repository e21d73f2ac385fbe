"""``json``: ``encode(v) -> text, err``, ``decode(text) -> v, err``, ``array(t)``, ``null``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import CodecError

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local encode, decode, array_mt, null = ...
local M = { null = null }
function M.encode(value)
  return encode(value)
end
function M.decode(text)
  if type(text) ~= "string" then return nil, "json.decode: expected a string" end
  return decode(text)
end
function M.array(t)
  return setmetatable(t or {}, array_mt)
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def encode(value: Any) -> Any:
        try:
            return codec.json_encode(value), None
        except CodecError as exc:
            return None, state.new_error(exc.kind, f"json.encode: {exc.message}")

    def decode(text: Any) -> Any:
        try:
            return codec.json_decode(text), None
        except CodecError as exc:
            return None, state.new_error(exc.kind, f"json.decode: {exc.message}")

    return state.lua.execute(
        _LUA, state.wrap(encode), state.wrap(decode), codec.array_mt, codec.null, name="=[kit]json"
    )
