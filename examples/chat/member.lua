-- One person in a room. The room spawns it linked, so the two share a fate unless the room
-- says otherwise: the room traps the link (a member crash is news, not a disaster), the
-- member does not (when the room goes down, its members go with it, and the restarted room
-- starts from a clean slate instead of members it no longer knows about).
local recent = require("recent")

local member = {}

-- `backlog` is the room's recent history, so someone who joins late still sees context.
function member.init(name, keep, backlog)
  local state = { name = name, keep = keep, inbox = {}, received = 0 }
  for _, message in ipairs(backlog or {}) do
    recent.push(state.inbox, message, keep)
  end
  return state
end

function member.handle(state, msg)
  local topic = msg:topic()
  if topic == "message" then
    recent.push(state.inbox, msg:payload():data(), state.keep)
    state.received = state.received + 1
  elseif topic == "leave" then
    -- A normal exit: links only carry crashes, so the room hears nothing (it already let go).
    process.exit({ name = state.name, received = state.received })
  else
    -- Only the room talks to a member, so anything else is a bug: crash loudly, and the room
    -- (trapping the link) drops this member rather than keep a half-broken one.
    error(string.format("member %s: unexpected topic %q", state.name, topic))
  end
  return state
end

return member
