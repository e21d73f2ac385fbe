-- Spawns a child counter in the way `how` says and records the events it gets.
local parent = {}

function parent.init(how, trap)
  if trap then process.set_options({ trap_links = true }) end
  local child
  if how == "monitored" then
    child = process.spawn_monitored("app:counter", "app:workers", 0)
  elseif how == "linked" then
    child = process.spawn_linked("app:counter", "app:workers", 0)
  else
    child = process.spawn("app:counter", "app:workers", 0)
  end
  return { child = child, events = {}, trap = process.get_options().trap_links }
end

function parent.handle(state, msg)
  if msg:topic() == "kill_child" then process.send(state.child, "boom") end
  if msg:topic() == "stop_child" then process.send(state.child, "stop") end
  if msg:topic() == "monitor" then process.monitor(msg:payload():data()) end
  return state
end

function parent.on_event(state, ev)
  local err = ev.result and ev.result.error
  state.events[#state.events + 1] = {
    kind = ev.kind,
    from = ev.from,
    value = ev.result and ev.result.value,
    error = err and err:message() or nil,
  }
  return state
end

return parent
