-- Registers itself as "pong" and answers every ping with a pong to its sender.
local function main()
  local ok, err = process.registry.register("pong")
  if not ok then error(err) end
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "ping" then
      process.send(msg:from(), "pong", msg:payload():data())
    end
  end
end
return main
