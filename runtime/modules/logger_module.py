"""``logger``: structured logs. ``logger.info(msg, {k = v})`` or ``logger:info(...)``;
``logger.with({k = v})`` returns a logger that adds those fields to every line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import CodecError

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local emit = ...
local function make(fields)
  local L = {}
  local function level(name)
    return function(a, b, c)
      -- Accept both logger.info(msg, fields) and logger:info(msg, fields).
      if a == L then a, b = b, c end
      emit(name, fields, a, b)
    end
  end
  L.debug, L.info, L.warn, L.error = level("debug"), level("info"), level("warning"), level("error")
  function L.with(a, b)
    local extra = (a == L) and b or a
    local merged = {}
    if fields then for k, v in pairs(fields) do merged[k] = v end end
    for k, v in pairs(extra or {}) do merged[k] = v end
    return make(merged)
  end
  return L
end
return make(nil)
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec
    entry_id = unit.entry.id

    def emit(level: bytes, base: Any, message: Any, extra: Any) -> None:
        if not engine.log_enabled(level.decode()):
            return
        fields: dict[str, Any] = {}
        for source, name in ((base, "logger fields"), (extra, "log fields")):
            if source is None:
                continue
            try:
                value = codec.to_python(source, name)
            except CodecError as exc:
                value = {"unloggable": exc.message}
            if isinstance(value, dict):
                fields.update(value)
        fields["entry"] = entry_id
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
        engine.emit_log(level.decode(), text, fields)

    return state.lua.execute(_LUA, state.wrap(emit), name="=[kit]logger")
