-- Registers itself as "pong" and answers every ping to whoever sent it.
local function main()
  process.registry.register("pong")
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "ping" then
      process.send(msg:from(), "pong", msg:payload():data())
    end
  end
end

return { main = main }
