-- Finds "pong" through the registry (waiting until it is there), plays `rounds` rounds, then
-- registers "ping.done" and exits with the rounds it saw.
local time = require("time")
local function main(rounds)
  local pong
  while true do
    pong = process.registry.lookup("pong")
    if pong then break end
    time.sleep("1s")
  end
  local seen = {}
  local inbox = process.inbox()
  for i = 1, rounds do
    process.send(pong, "ping", i)
    local msg = inbox:receive()
    table.insert(seen, msg:payload():data())
  end
  return seen
end
return main
