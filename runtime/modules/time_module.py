"""``time``: Wippy's time module (``en/lua/core/time.md``), with Go's semantics.

Numbers given to ``time`` functions are nanoseconds (``time.sleep(500 * time.MILLISECOND)``),
strings are Go durations (``"1h30m"``), Duration values pass as they are; the unit constants
are plain integers. Times keep their location; layouts are Go's reference-time layouts.

What the Lua values are and how their methods work is ``lua/prelude.lua`` ("Durations and
times"); the calendar, zones, layouts and duration syntax are :mod:`runtime.gotime`. This file
holds the host side both reach (:func:`install_host`, once per engine), the timers (``after``,
``timer``, ``ticker``: every one a scheduler timer, so a workflow's scheduler makes each a
durable timer), and the module table (:func:`build`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.durations import parse_duration
from runtime.errors import INTERNAL, INVALID, NOT_FOUND, UnitError
from runtime.gotime import calendar, durations, layout, strftime, zones
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime
    from runtime.scheduler import Channel, Scheduler

NANOS = calendar.NANOS
_INT64 = (-(1 << 63), (1 << 63) - 1)
#: Wippy's buffers: a one-shot timer delivers once; a ticker keeps at most 16 ticks unread and
#: drops the ones after (a slow reader must not grow memory).
_TIMER_BUFFER, _TICKER_BUFFER = 1, 16
#: Under the harness's ManualClock waiting is free, so a call blocked forever beside a ticker
#: nobody reads would spin through ticks instead of ending as a deadlock; past this many ticks
#: in a row dropped unread, the call fails with an error that says so.
_UNREAD_TICKS_LIMIT = 1_000_000

_LUA = """
local kit, H, kinds = ...
local await, int_arg = kit.await, kit.int_arg
local INVALID, NOT_FOUND = kinds.INVALID, kinds.NOT_FOUND
local NANOS = 1000000000
local M = {}

-- As Wippy's: none of the time module's errors is worth retrying.
local function fail(kind, message) return nil, kit.new_error(kind, message, nil, false) end
local function nanoseconds(d) return kit.duration_ns(d, H.parse_duration, 1, true) end

M.NANOSECOND, M.MICROSECOND, M.MILLISECOND = 1, 1000, 1000000
M.SECOND, M.MINUTE, M.HOUR = NANOS, 60 * NANOS, 3600 * NANOS
M.RFC3339 = "2006-01-02T15:04:05Z07:00"
M.RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
M.RFC822 = "02 Jan 06 15:04 MST"
M.RFC822Z = "02 Jan 06 15:04 -0700"
M.RFC850 = "Monday, 02-Jan-06 15:04:05 MST"
M.RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST"
M.RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700"
M.KITCHEN = "3:04PM"
M.STAMP = "Jan _2 15:04:05"
M.STAMP_MILLI = "Jan _2 15:04:05.000"
M.STAMP_MICRO = "Jan _2 15:04:05.000000"
M.STAMP_NANO = "Jan _2 15:04:05.000000000"
M.DATE_TIME = "2006-01-02 15:04:05"
M.DATE_ONLY = "2006-01-02"
M.TIME_ONLY = "15:04:05"
for i, name in ipairs({ "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY",
    "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER" }) do
  M[name] = i
end
for i, name in ipairs({ "SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY",
    "SATURDAY" }) do
  M[name] = i - 1
end
M.utc = kit.utc_location()
M.localtz = kit.local_location()

local function location_arg(loc, what)
  if loc == nil then return kit.local_location() end
  if not kit.is_location(loc) then error(what .. ": expected a Location", 3) end
  return loc
end

function M.now() return kit.local_time(H.now()) end

function M.unix(sec, nsec)
  return kit.local_time(int_arg(sec, "time.unix", 2), int_arg(nsec or 0, "time.unix", 2))
end

function M.date(year, month, day, hour, minute, second, nsec, loc)
  local what = "time.date"
  loc = location_arg(loc, what)
  local s, n = H.date(int_arg(year, what, 2), int_arg(month, what, 2), int_arg(day, what, 2),
    int_arg(hour, what, 2), int_arg(minute, what, 2), int_arg(second, what, 2),
    int_arg(nsec, what, 2), kit.location_key(loc))
  return kit.new_time(s, n, loc)
end

function M.parse(layout, value, loc)
  if type(layout) == "number" then layout = tostring(layout) end
  if type(value) == "number" then value = tostring(value) end
  if type(layout) ~= "string" then error("time.parse: expected a layout string", 2) end
  if type(value) ~= "string" then error("time.parse: expected the value as a string", 2) end
  loc = location_arg(loc, "time.parse")
  kit.charge(16 * (#layout + #value)) -- read in Python, out of the count hook's sight
  local s, n, key, name = H.parse(layout, value, kit.location_key(loc))
  if s == nil then return fail(INVALID, "time.parse: " .. n) end
  if key ~= kit.location_key(loc) then
    loc = key == "UTC" and kit.utc_location() or kit.new_location(key, name)
  end
  return kit.new_time(s, n, loc)
end

function M.parse_duration(value)
  local t = type(value)
  if t ~= "string" and t ~= "number" and not kit.is_duration(value) then
    return fail(INVALID, "time.parse_duration: invalid value type: " .. t)
  end
  local ns, err = nanoseconds(value)
  if ns == nil then return fail(INVALID, "time.parse_duration: " .. err) end
  return kit.new_duration(ns)
end

function M.load_location(name)
  if type(name) ~= "string" then error("time.load_location: expected a zone name", 2) end
  local key, zone_name, not_found = H.load_location(name)
  if key == nil then return fail(not_found and NOT_FOUND or INVALID, zone_name) end
  if key == "UTC" then return kit.utc_location() end
  return kit.new_location(key, zone_name)
end

function M.fixed_zone(name, offset)
  if type(name) ~= "string" then error("time.fixed_zone: expected a zone name", 2) end
  return kit.new_location(H.fixed_zone(name, int_arg(offset, "time.fixed_zone", 2)), name)
end

function M.sleep(d)
  local ns, err = nanoseconds(d)
  if ns == nil then return fail(INVALID, "time.sleep: " .. err) end
  await("sleep", ns / 1e9)
end

-- A positive duration for a timer, or nil and the error to return.
local function period(d, what)
  local ns, err = nanoseconds(d)
  if ns == nil then return fail(INVALID, what .. ": " .. err) end
  if ns <= 0 then return fail(INVALID, what .. ": duration must be > 0") end
  return ns
end

function M.after(d)
  local ns, err = period(d, "time.after")
  if ns == nil then return nil, err end
  return H.after(ns)
end

local timer_mt = { __metatable = "timer" }
local timer_methods = {}
timer_mt.__index = timer_methods
local ticker_mt = { __metatable = "ticker" }
local ticker_methods = {}
ticker_mt.__index = ticker_methods
-- What a Timer or Ticker is: its id in the host and its channel (the same object every time,
-- so `r.channel == timer:response()` holds after a select).
local clock_of = setmetatable({}, { __mode = "k" })
local function new_clockwork(mt, id, channel_id)
  local obj = setmetatable({}, mt)
  clock_of[obj] = { id = id, channel = kit.channel_object(channel_id) }
  return obj
end
local function clockwork(obj, what)
  local c = clock_of[obj]
  if c == nil then error(what .. ": expected a " .. (what:match("^(%a+)") or "timer"), 3) end
  return c
end

function M.timer(d)
  local ns, err = period(d, "time.timer")
  if ns == nil then return nil, err end
  return new_clockwork(timer_mt, H.timer(ns))
end
function timer_methods:response() return clockwork(self, "timer:response").channel end
timer_methods.channel = timer_methods.response
function timer_methods:stop() return H.stop(clockwork(self, "timer:stop").id) end
function timer_methods:reset(d)
  local c = clockwork(self, "timer:reset")
  local ns, err = nanoseconds(d)
  if ns == nil then error("timer:reset: " .. tostring(err), 2) end
  if ns <= 0 then error("timer:reset: duration must be > 0", 2) end
  return H.reset(c.id, ns)
end

function M.ticker(d)
  local ns, err = period(d, "time.ticker")
  if ns == nil then return nil, err end
  return new_clockwork(ticker_mt, H.ticker(ns))
end
function ticker_methods:response() return clockwork(self, "ticker:response").channel end
ticker_methods.channel = ticker_methods.response
function ticker_methods:stop()
  H.stop(clockwork(self, "ticker:stop").id)
  return true
end

return M
"""


def parse_duration_ns(text: bytes) -> tuple[int | None, bytes | None]:
    """The kit's duration syntax for option tables (``with_options({timeout = "2s"})``):
    nanoseconds, or ``nil, message``. Numbers there are milliseconds (``kit.duration_ns``)."""
    try:
        return round(parse_duration(text.decode("utf-8", "replace")) * 1e9), None
    except ValueError as exc:
        return None, str(exc).encode()


def _text(raw: bytes) -> str:
    """Lua bytes as text for Go-layout work; bytes that are not UTF-8 pass through unchanged
    (Go's layouts are byte strings)."""
    return raw.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _checked(*values: int) -> tuple[int, ...]:
    """Instants and durations as Lua integers, which are 64-bit."""
    for value in values:
        if not _INT64[0] <= value <= _INT64[1]:
            raise UnitError(INVALID, "time: value out of range")
    return values


def _guard(fn: Callable[..., Any], raise_in_lua: Callable[[str], Any]) -> Callable[..., Any]:
    """A host function whose bad input (a wrong type from Lua, a value out of range) raises a
    clean Lua error at the caller instead of a Python traceback."""

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except UnitError as exc:
            return raise_in_lua(exc.message)
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            return raise_in_lua(f"time: bad argument ({exc})")

    return call


@dataclass(eq=False)
class _Clockwork:
    """A ``time.timer`` (``period`` None) or ``time.ticker`` and the scheduler timer it has
    armed. A stopped or fired one is dropped from its scheduler's table."""

    id: int
    scheduler: Scheduler
    channel: Channel
    period: float | None
    handle: Any = None
    unread: int = 0


#: Ids are unique across schedulers, so a Timer kept past its invocation never reaches another
#: invocation's timer.
_ids = itertools.count(1)
_REGISTRY = "_time_clockwork"


def _live_clockwork(scheduler: Scheduler) -> dict[int, _Clockwork]:
    """The scheduler's live timers and tickers by id. The table hangs on the scheduler itself
    so that it lives and dies with it (timers reach their scheduler, so a table keyed by
    schedulers would keep every one alive)."""
    live = getattr(scheduler, _REGISTRY, None)
    if live is None:
        live = {}
        setattr(scheduler, _REGISTRY, live)
    return live


class TimeHost:
    """The Python side of Lua times, durations, zones, timers and ``os`` dates for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.local = zones.local_location(engine.environ)
        self.started = engine.clock.now()
        self._locations: dict[bytes, zones.Location] = {}

    # -- values -----------------------------------------------------------------------------
    def location(self, key: bytes) -> zones.Location:
        """The location a Lua Location's key names."""
        loc = self._locations.get(key)
        if loc is None:
            loc = zones.location_for_key(key.decode("utf-8", "surrogateescape"), self.local)
            # Fixed zones are named by application code: the cache stays small either way.
            if len(key) <= 256:
                if len(self._locations) >= 1024:
                    self._locations.clear()
                self._locations[key] = loc
        return loc

    def now(self) -> tuple[int, int]:
        """The time Lua sees now (the recorded time in a workflow), to the microsecond: clocks
        hold float seconds, exact to about that, and rounding keeps "250ms later" exact."""
        return divmod(round(self.engine.now() * 1e6) * 1000, NANOS)

    def fields(self, sec: int, nsec: int, key: bytes) -> tuple[Any, ...]:
        f = calendar.fields_at(sec, nsec, self.location(key))
        return (
            *_checked(f.year),
            f.month,
            f.day,
            f.hour,
            f.minute,
            f.second,
            f.weekday,
            f.yday,
            _bytes(f.zone),
            f.offset,
            f.isdst,
        )

    def format(self, sec: int, nsec: int, key: bytes, text: bytes) -> bytes:
        return _bytes(layout.format_time(sec, nsec, self.location(key), _text(text)))

    def parse(self, text: bytes, value: bytes, key: bytes) -> tuple[Any, ...]:
        try:
            sec, nsec, loc = layout.parse_time(_text(text), _text(value), self.location(key))
        except layout.ParseError as exc:
            return None, _bytes(str(exc))
        return (*_checked(sec), nsec, _bytes(loc.key), _bytes(loc.name))

    def date(self, *args: Any) -> tuple[int, int]:
        *parts, key = args
        sec, nsec = calendar.date_to_unix(*parts, self.location(key))
        return _checked(sec)[0], nsec

    def add_date(
        self, sec: int, nsec: int, key: bytes, years: int, months: int, days: int
    ) -> tuple[int, int]:
        loc = self.location(key)
        f = calendar.fields_at(sec, nsec, loc)
        moved, nsec = calendar.date_to_unix(
            f.year + years, f.month + months, f.day + days, f.hour, f.minute, f.second, nsec, loc
        )
        return _checked(moved)[0], nsec

    @staticmethod
    def sub(sec: int, nsec: int, other_sec: int, other_nsec: int) -> int:
        """``t:sub(u)`` in nanoseconds, saturated at the Duration range as Go's Sub is."""
        ns = (sec - other_sec) * NANOS + (nsec - other_nsec)
        return min(max(ns, _INT64[0]), _INT64[1])

    @staticmethod
    def round(sec: int, nsec: int, d: int, truncate: bool) -> tuple[int, int]:
        """Round (half up) or truncate to a multiple of ``d`` since Go's zero time; ``d <= 0``
        leaves the time as it is."""
        if d <= 0:
            return sec, nsec
        since_zero = (sec - calendar.ZERO_UNIX) * NANOS + nsec
        rest = since_zero % d
        if truncate or rest + rest < d:
            since_zero -= rest
        else:
            since_zero += d - rest
        moved, nsec = divmod(since_zero, NANOS)
        return _checked(moved + calendar.ZERO_UNIX)[0], nsec

    def load_location(self, name: bytes) -> tuple[Any, ...]:
        try:
            loc = zones.load_location(lua_text(name))
        except zones.LocationError as exc:
            return None, f"time.load_location: {exc}".encode(), exc.not_found
        return _bytes(loc.key), _bytes(loc.name)

    @staticmethod
    def fixed_zone(name: bytes, offset: int) -> bytes:
        return _bytes(zones.fixed_zone(_text(name), offset).key)

    def local_name(self) -> bytes:
        return _bytes(self.local.name)

    @staticmethod
    def parse_duration(text: bytes) -> tuple[int | None, bytes | None]:
        """Go's duration syntax (the ``time`` module's strings): nanoseconds or nil, message."""
        try:
            return _checked(durations.parse_duration(lua_text(text)))[0], None
        except (ValueError, UnitError) as exc:
            message = exc.message if isinstance(exc, UnitError) else str(exc)
            return None, message.encode()

    @staticmethod
    def duration_string(ns: int) -> bytes:
        return durations.duration_string(ns).encode()

    # -- os ---------------------------------------------------------------------------------
    def os_time(
        self, year: int | None, month: int | None, day: int | None, hour: int, mi: int, sec: int
    ) -> int:
        """``os.time{...}`` in the local zone; a missing date field is today's."""
        today = calendar.fields_at(int(self.engine.now() // 1), 0, self.local)
        unix, _ = calendar.date_to_unix(
            today.year if year is None else year,
            today.month if month is None else month,
            today.day if day is None else day,
            hour,
            mi,
            sec,
            0,
            self.local,
        )
        return _checked(unix)[0]

    def os_fields(self, unix: int, utc: bool) -> tuple[Any, ...]:
        f = calendar.fields_at(unix, 0, zones.UTC if utc else self.local)
        return f.year, f.month, f.day, f.hour, f.minute, f.second, f.weekday + 1, f.yday, f.isdst

    def os_format(self, fmt: bytes, unix: int, utc: bool) -> bytes:
        f = calendar.fields_at(unix, 0, zones.UTC if utc else self.local)
        return _bytes(strftime.strftime(_text(fmt), f))

    def os_clock(self) -> float:
        """Seconds since the runtime started, on the context's clock: since the run started
        in a workflow (the same on every replay), since the engine started elsewhere."""
        replay = self.engine.current_replay()
        start = replay.history[0].time if replay is not None else self.started
        return max(0.0, self.engine.now() - start)

    # -- timers -----------------------------------------------------------------------------
    def _scheduler(self, what: str) -> Scheduler:
        scheduler = self.engine.scheduler
        if scheduler is None:
            raise UnitError(INTERNAL, f"{what} outside a running unit")
        return scheduler

    def _fired_at(self, scheduler: Scheduler) -> Any:
        """The Time a timer delivers: its scheduler's clock (a workflow's recorded time)."""
        sec, nsec = divmod(round(scheduler.clock.now() * 1e6) * 1000, NANOS)
        return self.state.k["local_time"](sec, nsec)

    def after(self, ns: int) -> Any:
        """``time.after``: a channel (its Lua object) that receives one Time and is then
        closed."""
        scheduler = self._scheduler("time.after")
        ch = scheduler.new_channel(_TIMER_BUFFER)

        def fire() -> None:
            scheduler.offer(ch, self._fired_at(scheduler))
            scheduler.close_channel(ch)

        handle = scheduler.add_timer(ns / 1e9, fire)
        channel = self.state.k["channel_object"](ch.id)
        # A workflow's timer handle watches the channel: a run does not wait for a timer
        # whose channel its code can no longer reach (runtime/durable/replay.py).
        watch = getattr(handle, "watch", None)
        if watch is not None:
            watch(ch, channel)
        return channel

    def timer(self, ns: int) -> tuple[int, int]:
        """``time.timer``: (timer id, channel id)."""
        return self._start(self._scheduler("time.timer"), ns, periodic=False)

    def ticker(self, ns: int) -> tuple[int, int]:
        """``time.ticker``: (ticker id, channel id)."""
        return self._start(self._scheduler("time.ticker"), ns, periodic=True)

    def _start(self, scheduler: Scheduler, ns: int, *, periodic: bool) -> tuple[int, int]:
        ch = scheduler.new_channel(_TICKER_BUFFER if periodic else _TIMER_BUFFER)
        cw = _Clockwork(next(_ids), scheduler, ch, ns / 1e9 if periodic else None)
        _live_clockwork(scheduler)[cw.id] = cw
        self._arm(cw, ns / 1e9)
        return cw.id, ch.id

    def _arm(self, cw: _Clockwork, seconds: float) -> None:
        live = _live_clockwork(cw.scheduler)

        def fire() -> None:
            if live.get(cw.id) is not cw:
                return  # stopped (its handle was cancelled too; this is a second guard)
            delivered = cw.scheduler.offer(cw.channel, self._fired_at(cw.scheduler))
            if cw.period is None:
                del live[cw.id]
                cw.scheduler.close_channel(cw.channel)
                return
            cw.unread = 0 if delivered else cw.unread + 1
            if cw.unread >= _UNREAD_TICKS_LIMIT and getattr(cw.scheduler.clock, "virtual", False):
                raise UnitError(
                    INTERNAL,
                    f"time.ticker: {cw.unread} ticks in a row went unread on the harness clock "
                    "(a ticker nobody reads or stops keeps a blocked call waiting forever)",
                )
            self._arm(cw, cw.period)

        cw.handle = cw.scheduler.add_timer(seconds, fire)

    def stop(self, clock_id: int) -> bool:
        """``timer:stop()`` / ``ticker:stop()``: True if it was still running. Its channel is
        closed (a receive gets ``nil, false``), as Wippy closes the subscription."""
        cw = self._live(clock_id)
        if cw is None:
            return False
        del _live_clockwork(cw.scheduler)[cw.id]
        cw.handle.cancelled = True
        cw.scheduler.close_channel(cw.channel)
        return True

    def reset(self, clock_id: int, ns: int) -> bool:
        """``timer:reset(d)``: re-arm a running timer for ``d`` from now (True); a timer that
        has fired or was stopped stays so (False)."""
        cw = self._live(clock_id)
        if cw is None:
            return False
        cw.handle.cancelled = True
        self._arm(cw, ns / 1e9)
        return True

    def _live(self, clock_id: int) -> _Clockwork | None:
        scheduler = self.engine.scheduler
        if scheduler is None:
            return None
        return _live_clockwork(scheduler).get(clock_id)

    # -- wiring -----------------------------------------------------------------------------
    def lua_table(self) -> Any:
        """The host functions as a Lua table (``kit.time_host``)."""
        state = self.state
        names = (
            *("now", "fields", "format", "parse", "date", "add_date", "sub", "round"),
            *("load_location", "fixed_zone", "local_name", "parse_duration", "duration_string"),
            *("os_time", "os_fields", "os_format", "os_clock"),
            *("after", "timer", "ticker", "stop", "reset"),
        )
        return state.table(
            **{name: state.wrap(_guard(getattr(self, name), state.raise_in_lua)) for name in names}
        )


def install_host(engine: Engine) -> TimeHost:
    """Give the engine's Lua state its time host (``kit.time_host``): Times, Durations and
    ``os`` dates need it in every entry, whether or not it lists the ``time`` module."""
    host = TimeHost(engine)
    state = engine.state
    state.set(state.kit, b"time_host", host.lua_table())
    return host


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state
    kinds = state.table(INVALID=INVALID.encode(), NOT_FOUND=NOT_FOUND.encode())
    host = state.get(state.kit, b"time_host")
    return state.lua.execute(_LUA, state.kit, host, kinds, name="=[kit]time")
