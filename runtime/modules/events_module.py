"""``events``: Wippy's event bus (``en/lua/core/events.md``), within one invocation.

``events.send(system, kind, path, data?)`` publishes; ``events.subscribe(system, kind?)`` gives
a subscription whose ``channel()`` receives ``{system, kind, path, data}`` tables of the events
that match (``system`` and ``kind`` are Wippy's dotted patterns: ``*`` one segment, ``**`` any
number, ``(a|b)`` alternatives); ``close()`` unsubscribes and closes the channel.

The bus is the invocation's: a function call and everything it runs in-process (coroutines,
in-process ``funcs.call``), or one actor within a worker batch (actors of one batch do not see
each other's events: which actors share a batch is SQS's choice, so delivery between them
would be chance). Events never leave the Lambda: docs/modules/events.md says why no
EventBridge bus carries them between units. Wippy's bus is best-effort, and so is this one: a
subscription holds at most :data:`PENDING` unread events, later ones are dropped (one warning
per subscription).

In a workflow both calls are refused: they are effects; a function (an activity) may use them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.errors import INTERNAL, INVALID, CodecError, UnitError
from runtime.modules import io_ops
from runtime.processes.context import ProcessContext
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime
    from runtime.scheduler import Channel, Scheduler

#: Unread events one subscription holds before the bus drops newer ones.
PENDING = 1024
IN_WORKFLOW = (
    "events: the event bus is outside the workflow's history, an effect it cannot replay; "
    "call a function (an activity) that uses it, with funcs.call, from the workflow instead"
)

_LUA = """
local host, kit = ...
local new_error, channel_object = kit.new_error, kit.channel_object
local type, error, setmetatable, tostring, sformat = type, error, setmetatable, tostring,
  string.format

local subs = setmetatable({}, { __mode = "k" })
local sub_mt = { __metatable = "events.Subscription" }
local methods = {}
sub_mt.__index = methods
sub_mt.__tostring = function() return "events.Subscription{}" end

local function own(self, method)
  local s = subs[self]
  if s == nil then
    error(sformat("events.Subscription:%s: call it on a subscription, with ':' (sub:%s())",
      method, method), 3)
  end
  return s
end

function methods.channel(self) return own(self, "channel").channel end

function methods.close(self)
  local s = own(self, "close")
  if not s.closed then
    s.closed = true
    host.unsubscribe(s.id)
  end
  return true
end

local function text(v, fn, what, optional)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  if v == nil then return optional and nil or "" end
  error(sformat("events.%s: %s must be a string, got %s", fn, what, t), 3)
end

local M = {}
function M.subscribe(system, kind)
  system = text(system, "subscribe", "system")
  kind = text(kind, "subscribe", "kind", true)
  if system == "" then
    return nil, new_error("Invalid", "system pattern is required", nil, false)
  end
  local id, channel_id = host.subscribe(system, kind)
  if id == nil then return nil, channel_id end
  local s = setmetatable({}, sub_mt)
  subs[s] = { id = id, channel = channel_object(channel_id), closed = false }
  return s, nil
end

function M.send(system, kind, path, data)
  system = text(system, "send", "system")
  kind = text(kind, "send", "kind")
  path = text(path, "send", "path")
  if system == "" then return nil, new_error("Invalid", "system is required", nil, false) end
  if kind == "" then return nil, new_error("Invalid", "kind is required", nil, false) end
  if path == "" then return nil, new_error("Invalid", "path is required", nil, false) end
  return host.send(system, kind, path, data)
end
return M
"""


class Wildcard:
    """Wippy's dotted pattern (its ``internal/wildcard``): segments split on ``.``; ``*`` is
    one segment, ``**`` any number of them (none included), ``(a|b)`` one of the
    alternatives; a pattern without any of those matches only itself."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.segments = pattern.split(".")
        self.exact = not any(
            s in ("*", "**") or (s.startswith("(") and s.endswith(")")) for s in self.segments
        )

    def match(self, text: str) -> bool:
        if self.pattern == "*":
            return text != "" and "." not in text
        if self.exact:
            return text == self.pattern
        return _match(self.segments, text.split("."))


def _match(pattern: list[str], parts: list[str]) -> bool:
    p = s = 0
    while p < len(pattern) and s < len(parts):
        seg = pattern[p]
        if seg == "**":
            if p == len(pattern) - 1:
                return True
            return any(_match(pattern[p + 1 :], parts[i:]) for i in range(s, len(parts) + 1))
        if seg != "*" and not _segment(seg, parts[s]):
            return False
        p, s = p + 1, s + 1
    while p < len(pattern) and pattern[p] == "**":
        p += 1
    return p == len(pattern) and s == len(parts)


def _segment(seg: str, part: str) -> bool:
    if seg.startswith("(") and seg.endswith(")"):
        return part in seg[1:-1].split("|")
    return seg == part


@dataclass(eq=False)
class _Subscription:
    id: int
    system: Wildcard
    kind: Wildcard | None
    channel: Channel
    warned: bool = False


@dataclass
class _Bus:
    subscriptions: dict[int, _Subscription] = field(default_factory=dict)


_ids = itertools.count(1)


def _scope(engine: Engine) -> tuple[Scheduler, Any]:
    """The running invocation's scheduler and the bus key of the running task: the actor's pid
    inside a process turn, else the invocation as a whole."""
    scheduler = engine.scheduler
    task = engine.current_task()
    if scheduler is None or task is None:
        raise UnitError(INTERNAL, "events: no invocation is running", retryable=False)
    data = task.data
    pid = data.pid if isinstance(data, ProcessContext) else None
    return scheduler, ("events", pid)


def _bus(engine: Engine) -> tuple[Scheduler, _Bus]:
    scheduler, key = _scope(engine)
    bus = scheduler.locals.get(key)
    if bus is None:
        bus = scheduler.locals[key] = _Bus()
    return scheduler, bus


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def refuse_in_workflow() -> None:
        if (why := io_ops.refusal(engine, "events", IN_WORKFLOW)) is not None:
            raise UnitError(INVALID, why, retryable=False)

    def subscribe(raw_system: bytes, raw_kind: bytes | None) -> Any:
        try:
            refuse_in_workflow()
            scheduler, bus = _bus(engine)
        except UnitError as exc:
            return None, state.error_value(exc)
        kind = lua_text(raw_kind) if raw_kind else None
        sub = _Subscription(
            next(_ids),
            Wildcard(lua_text(raw_system)),
            Wildcard(kind) if kind else None,
            scheduler.new_channel(PENDING),
        )
        bus.subscriptions[sub.id] = sub
        return sub.id, sub.channel.id

    def unsubscribe(sub_id: int) -> None:
        scheduler = engine.scheduler
        if scheduler is None:
            return
        for key, bus in scheduler.locals.items():
            if isinstance(bus, _Bus) and key[0] == "events":
                sub = bus.subscriptions.pop(int(sub_id), None)
                if sub is not None:
                    scheduler.close_channel(sub.channel)
                    return

    def send(raw_system: bytes, raw_kind: bytes, raw_path: bytes, raw_data: Any) -> Any:
        try:
            refuse_in_workflow()
            scheduler, bus = _bus(engine)
            data = codec.to_python(raw_data, "data") if raw_data is not None else None
        except CodecError as exc:
            return None, state.error_value(UnitError(INVALID, f"events.send: {exc.message}"))
        except UnitError as exc:
            return None, state.error_value(exc)
        system, kind, path = lua_text(raw_system), lua_text(raw_kind), lua_text(raw_path)
        for sub in list(bus.subscriptions.values()):
            if not sub.system.match(system) or (sub.kind is not None and not sub.kind.match(kind)):
                continue
            event = {"system": system, "kind": kind, "path": path}
            if data is not None:
                event["data"] = data
            # Each subscriber gets its own copy: what one changes, another never sees.
            if not scheduler.offer(sub.channel, codec.to_lua(event, "event")) and not sub.warned:
                sub.warned = True
                engine.emit_log(
                    "warn",
                    f"events: a subscription to '{sub.system.pattern}' has {PENDING} unread "
                    "events; newer ones are dropped (the bus is best-effort, as in Wippy)",
                    {"system": system, "kind": kind},
                )
        return True, None

    host = state.table(
        subscribe=state.wrap(subscribe),
        unsubscribe=state.wrap(unsubscribe),
        send=state.wrap(send),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]events")
