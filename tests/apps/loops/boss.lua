-- Exercises process.exec, links with trap_links, monitors and events; reports to `to`.
local function main(mode, to)
  local events = process.events()
  if mode == "exec" then
    local value, err = process.exec("app:worker", "app:procs", 21)
    local _, err2 = process.exec("app:worker", "app:procs", -1)
    process.send(to, "exec", { value = value, err = err, failed = tostring(err2) })
    return "done"
  elseif mode == "trap" then
    process.set_options({ trap_links = true })
    local child = process.spawn_linked("app:worker", "app:procs", -5)
    local ev = events:receive()
    process.send(to, "event", { kind = ev.kind, from_child = ev.from == child,
      error = tostring(ev.result.error), opts = process.get_options().trap_links })
    return "survived"
  elseif mode == "link" then
    process.spawn_linked("app:worker", "app:procs", -5)
    events:receive()
    return "unreachable"
  elseif mode == "watch" then
    process.monitor(to)
    local ev = events:receive()
    return ev.kind
  elseif mode == "monitor" then
    local child = process.spawn_monitored("app:worker", "app:procs", 4)
    local ev = events:receive()
    process.send(to, "event", { kind = ev.kind, from_child = ev.from == child,
      value = ev.result.value })
    return ev.result.value
  end
end
return main
