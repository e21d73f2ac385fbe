-- Collects every message it is sent, in order; answers "dump" with the list.
local function main()
  local seen = {}
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "dump" then
      process.send(msg:from(), "seen", seen)
    elseif msg:topic() == "ask" then
      local ask = msg:payload():data()
      process.send(ask.to, ask.topic)
    else
      table.insert(seen, msg:payload():data())
    end
  end
end
return { main = main }
