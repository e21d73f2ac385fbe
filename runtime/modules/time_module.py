"""``time``: ``now()``, ``sleep(d)``, ``after(d)``, ``parse_duration(s)``, ``unix(s, ns)``,
and duration constants. Durations are Duration values, strings ("250ms") or milliseconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.durations import parse_duration

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local kit, now_ns, after_id, parse = ...
local await = kit.await
local M = {}
local function ns_of(d, what)
  local ns, err = kit.duration_ns(d, parse)
  if ns == nil then error(what .. ": " .. tostring(err), 3) end
  return ns
end
function M.now() return kit.new_time(now_ns()) end
function M.unix(sec, nsec) return kit.new_time(sec * 1000000000 + (nsec or 0)) end
function M.sleep(d)
  await("sleep", ns_of(d, "time.sleep") / 1e9)
end
function M.after(d)
  return kit.channel_object(after_id(ns_of(d, "time.after") / 1e9))
end
function M.parse_duration(s)
  if type(s) ~= "string" then return nil, "time.parse_duration: expected a string" end
  local ns, err = parse(s)
  if ns == nil then return nil, err end
  return kit.new_duration(ns)
end
M.NANOSECOND = kit.new_duration(1)
M.MICROSECOND = kit.new_duration(1000)
M.MILLISECOND = kit.new_duration(1000000)
M.SECOND = kit.new_duration(1000000000)
M.MINUTE = kit.new_duration(60 * 1000000000)
M.HOUR = kit.new_duration(3600 * 1000000000)
return M
"""


def parse_duration_ns(text: bytes) -> tuple[int | None, bytes | None]:
    """Lua-facing duration parser: nanoseconds, or ``nil, message``."""
    try:
        return round(parse_duration(text.decode("utf-8", "replace")) * 1e9), None
    except ValueError as exc:
        return None, str(exc).encode()


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def now_ns() -> int:
        # Clocks hold float seconds since the epoch, exact to about a microsecond; rounding there
        # keeps "250ms later" exactly 250ms later instead of 249.999999.
        return round(engine.now() * 1e6) * 1000

    def after_id(seconds: float) -> int:
        scheduler = engine.scheduler
        if scheduler is None:
            raise RuntimeError("time.after outside a running unit")
        ch = scheduler.new_channel(1)

        def fire() -> None:
            scheduler.offer(ch, state.k["new_time"](now_ns()))

        scheduler.add_timer(seconds, fire)
        return ch.id

    return state.lua.execute(
        _LUA,
        state.kit,
        state.wrap(now_ns),
        state.wrap(after_id),
        state.wrap(parse_duration_ns),
        name="=[kit]time",
    )
