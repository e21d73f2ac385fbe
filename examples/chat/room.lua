-- A chat room. It owns the member list and the recent history; every member is its own
-- actor with its own inbox, so fanning a message out is one process.send per member, and a
-- slow or broken member never holds the room up.
local logger = require("logger")
local recent = require("recent")

local HOST = "app:chat"

local room = {}
local topics = {}

function room.init(name, keep)
  -- Without this a member's crash would crash the room too (links are two-way). Trapping
  -- turns it into a LINK_DOWN event for on_event, where the room just drops that member.
  process.set_options({ trap_links = true })
  logger.info("room open", { room = name })
  return { name = name, keep = keep or 20, seq = 0, members = {}, history = {} }
end

function topics.join(state, data)
  local name = data.name
  if state.members[name] then
    return state -- joining twice is joining once: a retried HTTP request must not fork a member
  end
  local pid, err = process.spawn_linked("app:member", HOST, name, state.keep, state.history)
  if not pid then
    error(err)
  end
  state.members[name] = pid
  logger.info("joined", { room = state.name, name = name, member = pid })
  return state
end

function topics.leave(state, data)
  local pid = state.members[data.name]
  if not pid then
    return state
  end
  state.members[data.name] = nil
  -- Unlink before asking it to go: from now on nothing that happens to it concerns the room.
  process.unlink(pid)
  process.send(pid, "leave")
  logger.info("left", { room = state.name, name = data.name })
  return state
end

function topics.post(state, data)
  -- The HTTP function cannot see this state, so membership is checked here, where it lives.
  if not state.members[data.from] then
    logger.warn("post from a non-member dropped", { room = state.name, from = data.from })
    return state
  end
  state.seq = state.seq + 1
  local message = { seq = state.seq, from = data.from, text = data.text }
  recent.push(state.history, message, state.keep)
  -- Messages from one sender arrive in send order, so every inbox sees the room's order.
  for _, pid in pairs(state.members) do
    process.send(pid, "message", message)
  end
  return state
end

function room.handle(state, msg)
  local apply = topics[msg:topic()]
  if not apply then
    -- Only the API writes to a room. Anything else means a bug somewhere: let it crash, and
    -- the lobby's process.service starts a fresh room after its backoff.
    error(string.format("room %s: unexpected topic %q", state.name, msg:topic()))
  end
  return apply(state, msg:payload():data())
end

function room.on_event(state, ev)
  if ev.kind == process.event.CANCEL then
    -- Handling events means handling this one too: a cancel asks the room to stop, so it does.
    process.exit({ room = state.name })
  end
  if ev.kind ~= process.event.LINK_DOWN then
    return state
  end
  for name, pid in pairs(state.members) do
    if pid == ev.from then
      state.members[name] = nil
      local err = ev.result and ev.result.error
      logger.warn("member crashed, removed", {
        room = state.name,
        name = name,
        error = err and err:message() or "unknown",
      })
      break
    end
  end
  -- The link to a dead process stays on the room's snapshot unless dropped here; a busy room
  -- would otherwise carry every member that ever crashed.
  process.unlink(ev.from)
  return state
end

return room
