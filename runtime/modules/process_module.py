"""``process`` (a global, as in Wippy): spawn actors, send them messages, link, monitor, name.

Inside an actor's turn every effect is buffered in the turn's outbox and happens only once the
turn is committed; from a function it happens at once. Which of the two applies is decided by
the running task (:class:`runtime.processes.context.ProcessContext`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local host, kit = ...
local pack = table.pack
local M = {}
local event = { EXIT = "EXIT", LINK_DOWN = "LINK_DOWN", CANCEL = "CANCEL" }
M.event = event

local function spawner(context, name)
  local S = {}
  local function spawn(link, monitor)
    return function(self, id, where, ...)
      if self ~= S then error("use spawner:spawn(...) with a colon", 2) end
      return host.spawn(id, where, pack(...), link, monitor, name, context)
    end
  end
  S.spawn = spawn(false, false)
  S.spawn_monitored = spawn(false, true)
  S.spawn_linked = spawn(true, false)
  S.spawn_linked_monitored = spawn(true, true)
  function S.with_name(self, n) return spawner(context, n) end
  function S.with_context(self, t) return spawner(t, name) end
  return S
end

function M.pid() return host.pid() end
function M.spawn(id, where, ...) return host.spawn(id, where, pack(...), false, false) end
function M.spawn_monitored(id, where, ...) return host.spawn(id, where, pack(...), false, true) end
function M.spawn_linked(id, where, ...) return host.spawn(id, where, pack(...), true, false) end
function M.spawn_linked_monitored(id, where, ...)
  return host.spawn(id, where, pack(...), true, true)
end
function M.with_context(t) return spawner(t, nil) end
function M.with_name(n) return spawner(nil, n) end
function M.send(dest, topic, payload) return host.send(dest, topic, payload) end
function M.monitor(pid) return host.control("monitor", pid) end
function M.unmonitor(pid) return host.control("unmonitor", pid) end
function M.link(pid) return host.control("link", pid) end
function M.unlink(pid) return host.control("unlink", pid) end
function M.terminate(pid) return host.terminate(pid) end
function M.cancel(pid, reason) return host.cancel(pid, reason) end
function M.set_options(t) return host.set_options(t) end
function M.get_options() return host.get_options() end
function M.exit(value) kit.process_exit(value) end
function M.events()
  local id = host.events()
  if id == nil then
    error("process.events(): handler actors receive events in on_event(state, ev); "
      .. "compare ev.kind with process.event.EXIT / LINK_DOWN / CANCEL (a loop-style "
      .. "process, with method: main, reads them here)", 2)
  end
  return kit.channel_object(id)
end
-- Inside a workflow the inbox is its signals; an actor gets its messages in handle().
local function inbox_channel(topic, as_message)
  local id = host.inbox(topic, as_message)
  if id == nil then
    error("process.inbox(): handler actors receive messages in handle(state, msg); "
      .. "a loop-style process (method: main in its entry) reads its inbox", 3)
  end
  return kit.channel_object(id)
end
function M.inbox() return inbox_channel(nil, true) end
-- As in Wippy: the raw payload by default, Message objects with {message = true}.
function M.listen(topic, options)
  if type(topic) ~= "string" then error("process.listen: the topic must be a string", 2) end
  if topic:sub(1, 1) == "@" then
    error("process.listen: topics starting with '@' are reserved", 2)
  end
  if options ~= nil and type(options) ~= "table" then
    error("process.listen: options must be a table like {message = true}", 2)
  end
  return inbox_channel(topic, options ~= nil and options.message == true)
end
function M.unlisten(ch)
  if not kit.is_channel(ch) then error("process.unlisten: expected a channel from listen", 2) end
  return host.unlisten(ch.id_)
end
function M.exec(id, where, ...)
  local ch, err = host.exec(id, where, pack(...))
  if err ~= nil then return nil, err end
  if ch == nil then
    error("process.exec: waiting for another process's result would hold this Lambda (or "
      .. "this actor's turn) open while another works; spawn_monitored it and take the "
      .. "result from the EXIT event in on_event, or wait for it durably in a loop-style "
      .. "process or a workflow", 2)
  end
  local ev = kit.channel_object(ch):receive()
  local result = ev.result or {}
  if result.error ~= nil then return nil, result.error end
  return result.value
end
function M.upgrade(id, ...)
  if not host.loop() then
    error("process.upgrade: only a loop-style process (method: main) can upgrade itself", 2)
  end
  local _, err = kit.await("upgrade", id, pack(...))
  return nil, err
end
M.registry = {
  register = function(name, pid) return host.register(name, pid) end,
  lookup = function(name) return host.lookup(name) end,
  unregister = function(name) return host.unregister(name) end,
}
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def context() -> Any:
        return engine.process_context()

    def text(value: Any, what: str) -> str:
        if not isinstance(value, bytes):
            raise UnitError(INVALID, f"{what} must be a string")
        return lua_text(value)

    def spawn(
        entry_id: Any,
        where: Any,
        args: Any,
        link: bool,
        monitor: bool,
        name: Any = None,
        ctx: Any = None,
    ) -> Any:
        unpacked = state.k["unpack_args"](args)
        count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
        py_args = [codec.to_python(v, f"args[{i}]") for i, v in enumerate(values[:count], 1)]
        return (
            context()
            .spawn(
                text(entry_id, "process.spawn: the entry id"),
                text(where, "process.spawn: the host"),
                py_args,
                link=bool(link),
                monitor=bool(monitor),
                name=lua_text(name) if name is not None else None,
                context=codec.to_python(ctx, "context") if ctx is not None else None,
            )
            .encode()
        )

    def send(dest: Any, topic: Any, payload: Any = None) -> Any:
        context().send(
            text(dest, "process.send: the destination"),
            text(topic, "process.send: the topic"),
            codec.to_python(payload, "payload"),
        )
        return True

    def control(kind: bytes, pid: Any) -> Any:
        context().control(lua_text(kind), text(pid, f"process.{lua_text(kind)}: the pid"))
        return True

    def terminate(pid: Any) -> Any:
        context().terminate(text(pid, "process.terminate: the pid"))
        return True

    def cancel(pid: Any, reason: Any = None) -> Any:
        why = lua_text(reason) if reason is not None else None
        context().cancel(text(pid, "process.cancel: the pid"), why)
        return True

    def set_options(options: Any) -> Any:
        values = codec.to_python(options, "options") if options is not None else {}
        if not isinstance(values, dict):
            raise UnitError(INVALID, "process.set_options: options parameter must be a table")
        unknown = sorted(set(values) - {"trap_links", "upgradable"})
        if unknown:
            raise UnitError(INVALID, f"process.set_options: option {unknown[0]} is not supported")
        context().set_options(values)
        return True

    def exec_(entry_id: Any, where: Any, args: Any) -> Any:
        found = context()
        if not hasattr(found, "exec"):
            return None
        unpacked = state.k["unpack_args"](args)
        count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
        py_args = [codec.to_python(v, f"args[{i}]") for i, v in enumerate(values[:count], 1)]
        return found.exec(
            text(entry_id, "process.exec: the entry id"),
            text(where, "process.exec: the host"),
            py_args,
        )

    def loop() -> Any:
        replay = engine.current_replay()
        return replay is not None and replay.process_context is not None

    def get_options() -> Any:
        return codec.to_lua(context().get_options())

    def register(name: Any, pid: Any = None) -> Any:
        who = lua_text(pid) if pid is not None else None
        context().register(text(name, "process.registry.register: the name"), who)
        return True

    def lookup(name: Any) -> Any:
        found = context().lookup(text(name, "process.registry.lookup: the name"))
        if found is None:
            return None, state.new_error(NOT_FOUND, f"no process is named '{lua_text(name)}'")
        return found.encode()

    def unregister(name: Any) -> Any:
        return context().unregister(text(name, "process.registry.unregister: the name"))

    def inbox(topic: Any = None, as_message: Any = True) -> Any:
        replay = engine.current_replay()
        if replay is None:
            return None
        return replay.inbox_channel(
            lua_text(topic) if topic is not None else None, bool(as_message)
        )

    def unlisten(channel_id: Any) -> Any:
        replay = engine.current_replay()
        return replay.unlisten(int(channel_id)) if replay is not None else False

    def events() -> Any:
        replay = engine.current_replay()
        return replay.events_channel() if replay is not None else None

    def pid() -> Any:
        found = context().pid
        return found.encode() if found is not None else None

    host = state.table(
        pid=state.wrap_fallible(pid),
        spawn=state.wrap_fallible(spawn),
        send=state.wrap_fallible(send),
        control=state.wrap_fallible(control),
        terminate=state.wrap_fallible(terminate),
        cancel=state.wrap_fallible(cancel),
        set_options=state.wrap_fallible(set_options),
        get_options=state.wrap_fallible(get_options),
        register=state.wrap_fallible(register),
        lookup=state.wrap_fallible(lookup),
        unregister=state.wrap_fallible(unregister),
        exec=state.wrap_fallible(exec_),
        loop=state.wrap(loop),
        inbox=state.wrap(inbox),
        unlisten=state.wrap(unlisten),
        events=state.wrap(events),
    )
    return state.lua.execute(_LUA, host, state.kit, name="=[kit]process")
