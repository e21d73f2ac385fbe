local time = require("time")
local logger = require("logger")

-- Waits for "pong" to be registered, plays `rounds` rounds with it, then keeps running (a
-- service that returned would be started again).
local function main(rounds)
  local pong = process.registry.lookup("pong")
  while not pong do
    time.sleep("100ms")
    pong = process.registry.lookup("pong")
  end
  local inbox = process.inbox()
  local got = {}
  for i = 1, rounds do
    process.send(pong, "ping", i)
    local msg = inbox:receive()
    got[#got + 1] = msg:payload():data()
  end
  logger:info("ping played", { rounds = rounds, got = got })
  while true do inbox:receive() end
end

return { main = main }
